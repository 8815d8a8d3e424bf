export {
  Authenticator,
  type AuthenticatorOptions,
  type AuthResult,
  authIdUser,
  createTokenFile,
  isOwner,
  isTokenId,
  isUserId,
  readTokenFile,
  TICKET_LIFETIME,
} from './auth.ts'
export type { UploadStats } from './backup-session.ts'
export { HttpError } from './http-util.ts'
export {
  BACKUP_PROTOCOL_ID,
  READER_PROTOCOL_ID,
  type RunningServer,
  type ServerOptions,
  type ServerStats,
  serverPaths,
  startServer,
} from './server.ts'
export {
  type CertificateOptions,
  certificateFingerprint,
  createSelfSignedCertificate,
  loadOrCreateCertificate,
  type ServerCertificate,
} from './tls.ts'
