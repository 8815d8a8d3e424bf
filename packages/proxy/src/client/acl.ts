/**
 * Decoding of the Linux `system.posix_acl_access` / `system.posix_acl_default` xattr values into
 * pxar's ACL model, the way the Proxmox backup client maps them.
 */
import { ACL_NO_MASK, type AclDefault, type AclGroup, type AclGroupObject, type AclUser } from '@pxar/format'

/** Version number in the header of the kernel's POSIX ACL xattr format. */
export const POSIX_ACL_XATTR_VERSION = 2
/** ACL entry tags of the xattr format. */
export const ACL_TAG = {
  USER_OBJ: 0x01,
  USER: 0x02,
  GROUP_OBJ: 0x04,
  GROUP: 0x08,
  MASK: 0x10,
  OTHER: 0x20,
} as const

/** The raw entries of one POSIX ACL xattr. */
export interface PosixAclEntries {
  readonly users: AclUser[]
  readonly groups: AclGroup[]
  userObj: number | undefined
  groupObj: number | undefined
  other: number | undefined
  mask: number | undefined
}

/**
 * Parses a POSIX ACL xattr value (`u32 version = 2`, then `u16 tag, u16 perm, u32 id` entries,
 * little-endian). Named users/groups come back sorted by id then permissions.
 * Returns `undefined` for a malformed value (wrong version or length, unknown tag).
 */
export function parsePosixAcl(value: Uint8Array): PosixAclEntries | undefined {
  if (value.length < 4 || (value.length - 4) % 8 !== 0) return undefined
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength)
  if (view.getUint32(0, true) !== POSIX_ACL_XATTR_VERSION) return undefined
  const out: PosixAclEntries = {
    users: [],
    groups: [],
    userObj: undefined,
    groupObj: undefined,
    other: undefined,
    mask: undefined,
  }
  for (let off = 4; off < value.length; off += 8) {
    const tag = view.getUint16(off, true)
    const perm = view.getUint16(off + 2, true)
    const id = view.getUint32(off + 4, true)
    switch (tag) {
      case ACL_TAG.USER_OBJ:
        out.userObj = perm
        break
      case ACL_TAG.USER:
        out.users.push({ uid: id, permissions: perm })
        break
      case ACL_TAG.GROUP_OBJ:
        out.groupObj = perm
        break
      case ACL_TAG.GROUP:
        out.groups.push({ gid: id, permissions: perm })
        break
      case ACL_TAG.MASK:
        out.mask = perm
        break
      case ACL_TAG.OTHER:
        out.other = perm
        break
      default:
        return undefined
    }
  }
  out.users.sort((a, b) => Number(a.uid) - Number(b.uid) || Number(a.permissions) - Number(b.permissions))
  out.groups.sort((a, b) => Number(a.gid) - Number(b.gid) || Number(a.permissions) - Number(b.permissions))
  return out
}

/** The access-ACL part of pxar's ACL model. */
export interface AccessAcl {
  readonly users: readonly AclUser[]
  readonly groups: readonly AclGroup[]
  /** Only when the ACL has a mask: then the mode's group bits hold the mask, this the group's real permissions. */
  readonly groupObj: AclGroupObject | undefined
}

/** Maps a parsed access ACL: user-obj and other live in the mode and are not stored. */
export function accessAcl(e: PosixAclEntries): AccessAcl {
  return {
    users: e.users,
    groups: e.groups,
    groupObj: e.groupObj !== undefined && e.mask !== undefined ? { permissions: e.groupObj } : undefined,
  }
}

/** The default-ACL part of pxar's ACL model. */
export interface DefaultAcl {
  readonly default: AclDefault | undefined
  readonly defaultUsers: readonly AclUser[]
  readonly defaultGroups: readonly AclGroup[]
}

/** Maps a parsed default ACL; a missing base entry becomes {@link ACL_NO_MASK}. */
export function defaultAcl(e: PosixAclEntries): DefaultAcl {
  const any =
    e.userObj !== undefined || e.groupObj !== undefined || e.other !== undefined || e.mask !== undefined
  return {
    default: any
      ? {
          userObjPermissions: e.userObj ?? ACL_NO_MASK,
          groupObjPermissions: e.groupObj ?? ACL_NO_MASK,
          otherPermissions: e.other ?? ACL_NO_MASK,
          maskPermissions: e.mask ?? ACL_NO_MASK,
        }
      : undefined,
    defaultUsers: e.users,
    defaultGroups: e.groups,
  }
}
