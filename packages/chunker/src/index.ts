export { getBuzhashTable } from './buzhash-table.ts'
export {
  BUZHASH_WINDOW_SIZE,
  CATALOG_AVG_CHUNK_SIZE,
  type ChunkCutter,
  Chunker,
  type ChunkerOptions,
  type ChunkSizeParams,
  chunkSizeParams,
  DEFAULT_AVG_CHUNK_SIZE,
  MAX_AVG_CHUNK_SIZE,
  MIN_AVG_CHUNK_SIZE,
} from './chunker.ts'
export { DEFAULT_FIXED_CHUNK_SIZE, FixedChunker, type FixedChunkerOptions } from './fixed.ts'
export { chunkEnds, chunkFixed, chunkStream, cutChunks } from './stream.ts'
