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
export {
  decodeRdev,
  errnoCode,
  isStoredXattrName,
  kindOfMode,
  LocalClient,
  type LocalClientOptions,
} from './local.ts'
export { checkSourcePath } from './path.ts'
