// Hostile-input corpora shared by the reliability tests: re-exports only.
export {
  buildArchive,
  buildSplitArchive,
  type Expectation,
  findHeader,
  type HostileArchive,
  type HostileSplitArchive,
  hostileArchives,
  hostileSplitArchives,
  patchBytes,
  renameEntry,
  withHeaderSize,
} from './corpus.ts'
