// Store pipeline (chunk, hash, encode, insert, index on worker threads): re-exports only.
export { type ChunkStoreSinkOptions, chunkStoreSink } from './pipeline/chunk-store-sink.ts'
export {
  type BlobEncoderOptions,
  createBlobEncoder,
  createInlineEncoder,
  defaultEncodeWorkers,
  EncodePool,
} from './pipeline/encode-pool.ts'
export { MemoryChunkSink } from './pipeline/memory-sink.ts'
export { startSiblingWorker } from './pipeline/sibling-worker.ts'
export {
  type DynamicStoreOptions,
  type DynamicStoreResult,
  type FixedStoreOptions,
  type FixedStoreResult,
  type StoredChunk,
  type StorePipelineOptions,
  storeDynamic,
  storeFixed,
} from './pipeline/store-pipeline.ts'
export {
  type BlobEncoder,
  type ChunkSink,
  type DynamicIndexSink,
  emptyStats,
  type FixedIndexSink,
  type StoreStats,
} from './pipeline/types.ts'
