export {
  APPEND_BATCH,
  BACKUP_PROTOCOL_ID,
  type BackupSessionStats,
  type BeginBackupOptions,
  PbsBackupSession,
  PbsIndexUpload,
  PbsRemoteStore,
  type SnapshotRef,
  snapshotParams,
} from './backup.ts'
export {
  encodeQuery,
  PbsClient,
  type PbsClientOptions,
  PbsHttpError,
  parseData,
  type QueryParams,
} from './client.ts'
export { type H2RequestOptions, h2Json, h2Raw } from './h2.ts'
export {
  PbsReader,
  type PbsReaderOptions,
  READER_PROTOCOL_ID,
  type ReaderSnapshotRef,
  type ReaderStats,
} from './reader.ts'
export {
  DEFAULT_PORT,
  formatRepository,
  isTokenAuthId,
  normalizeFingerprint,
  parseRepository,
  type Repository,
  type RepositoryEnv,
  repositoryFromEnv,
} from './repository.ts'
export {
  createNamespace,
  deleteSnapshot,
  type GroupListItem,
  getVersion,
  listGroups,
  listNamespaces,
  listSnapshotFiles,
  listSnapshots,
  type SnapshotFileItem,
  type SnapshotListItem,
  uploadBackupLog,
} from './rest.ts'
export {
  BackupWriter,
  type BackupWriterOptions,
  type UploadArchiveOptions,
  type UploadedArchive,
} from './writer.ts'
