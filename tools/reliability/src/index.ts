// Hostile-input corpora shared by the reliability tests: re-exports only.
export {
  buildArchive,
  type Expectation,
  findHeader,
  type HostileArchive,
  hostileArchives,
  patchBytes,
  renameEntry,
  withHeaderSize,
} from './corpus.ts'
