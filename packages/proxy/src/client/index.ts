export {
  ACL_TAG,
  type AccessAcl,
  accessAcl,
  type DefaultAcl,
  defaultAcl,
  POSIX_ACL_XATTR_VERSION,
  type PosixAclEntries,
  parsePosixAcl,
} from './acl.ts'
export { type AgentSource, type ConnectAgentOptions, connectAgent } from './agent-client.ts'
export { type Agent, type AgentOptions, startAgent } from './agent-server.ts'
export {
  type AgentCertificate,
  certificateFingerprint,
  colonHex,
  generateAgentCertificate,
  loadOrCreateAgentCertificate,
  normalizeFingerprint,
} from './cert.ts'
export {
  decodeRdev,
  errnoCode,
  isStoredXattrName,
  kindOfMode,
  LocalClient,
  type LocalClientOptions,
} from './local.ts'
export { checkSourcePath } from './path.ts'
export { type ClientProvider, clientProvider, openSource, type SourceSpec } from './provider.ts'
export {
  entryFromWire,
  entryToWire,
  listingFromWire,
  listingToWire,
  metadataFromWire,
  metadataToWire,
} from './wire.ts'
