export { type BlockCacheOptions, BlockCacheReadAt } from './block-cache.ts'
export { DecodePool, type DecodePoolOptions } from './decode-pool.ts'
export { ERRNO, type ErrnoName } from './errno.ts'
export {
  type FsDirEntry,
  type FsStat,
  type FsStatfs,
  PxarFilesystem,
  type PxarFilesystemOptions,
} from './filesystem.ts'
export {
  isMounted,
  type MountAndWaitOptions,
  type Mounted,
  type MountOptions,
  mount,
  mountAndWait,
} from './mount.ts'
export {
  type ChunkLocation,
  PooledIndexReadAt,
  type PooledIndexReadAtOptions,
} from './pooled-reader.ts'
export { type ReadAheadOptions, ReadAheadReadAt } from './read-ahead.ts'
export {
  type DatastoreSource,
  fileReadAt,
  type MountSource,
  type OpenedSource,
  openSource,
  type PbsArchiveReader,
  type PbsSource,
  type PxarFileSource,
  type ReadAtSource,
  type SplitFileSource,
} from './sources.ts'
