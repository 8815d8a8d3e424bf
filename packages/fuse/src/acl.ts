/**
 * POSIX ACLs in the kernel's extended-attribute format (`posix_acl_xattr`, version 2), as
 * `system.posix_acl_access` and `system.posix_acl_default` carry them; entry layout and the
 * rebuilding of the base entries from the mode follow upstream's `pxar/metadata.rs` (apply_acls).
 */
import { ACL_NO_MASK, type Acl, type U64Value } from '@pxar/format'

const ACL_EA_VERSION = 2
const ACL_USER_OBJ = 0x01
const ACL_USER = 0x02
const ACL_GROUP_OBJ = 0x04
const ACL_GROUP = 0x08
const ACL_MASK = 0x10
const ACL_OTHER = 0x20
const ACL_UNDEFINED_ID = 0xffff_ffff

type AclItem = readonly [tag: number, perm: number, id: number]

const num = (v: U64Value): number => Number(v)

function encode(items: AclItem[]): Uint8Array<ArrayBuffer> {
  // the kernel requires entries sorted by tag, then by id
  items.sort((a, b) => a[0] - b[0] || a[2] - b[2])
  const out = new Uint8Array(4 + items.length * 8)
  const v = new DataView(out.buffer)
  v.setUint32(0, ACL_EA_VERSION, true)
  let o = 4
  for (const [tag, perm, id] of items) {
    v.setUint16(o, tag, true)
    v.setUint16(o + 2, perm & 7, true)
    v.setUint32(o + 4, id >>> 0, true)
    o += 8
  }
  return out
}

/**
 * The access ACL of an entry with `mode`, or `undefined` when it has none (the mode alone
 * describes the permissions). With a stored group-object entry the mode's group bits are the mask.
 */
export function accessAclXattr(acl: Acl, mode: number): Uint8Array<ArrayBuffer> | undefined {
  if (acl.users.length === 0 && acl.groups.length === 0 && acl.groupObj === undefined) return undefined
  const items: AclItem[] = [
    [ACL_USER_OBJ, (mode >> 6) & 7, ACL_UNDEFINED_ID],
    [ACL_OTHER, mode & 7, ACL_UNDEFINED_ID],
  ]
  const groupBits = (mode >> 3) & 7
  if (acl.groupObj !== undefined) {
    items.push([ACL_MASK, groupBits, ACL_UNDEFINED_ID])
    items.push([ACL_GROUP_OBJ, num(acl.groupObj.permissions), ACL_UNDEFINED_ID])
  } else {
    items.push([ACL_GROUP_OBJ, groupBits, ACL_UNDEFINED_ID])
    if (acl.users.length > 0 || acl.groups.length > 0) items.push([ACL_MASK, groupBits, ACL_UNDEFINED_ID])
  }
  for (const u of acl.users) items.push([ACL_USER, num(u.permissions), num(u.uid)])
  for (const g of acl.groups) items.push([ACL_GROUP, num(g.permissions), num(g.gid)])
  return encode(items)
}

/** The default ACL of a directory, or `undefined` when it has none. */
export function defaultAclXattr(acl: Acl): Uint8Array<ArrayBuffer> | undefined {
  const d = acl.default
  if (d === undefined) return undefined
  const items: AclItem[] = [
    [ACL_USER_OBJ, num(d.userObjPermissions), ACL_UNDEFINED_ID],
    [ACL_GROUP_OBJ, num(d.groupObjPermissions), ACL_UNDEFINED_ID],
    [ACL_OTHER, num(d.otherPermissions), ACL_UNDEFINED_ID],
  ]
  if (BigInt(d.maskPermissions) !== ACL_NO_MASK)
    items.push([ACL_MASK, num(d.maskPermissions), ACL_UNDEFINED_ID])
  for (const u of acl.defaultUsers) items.push([ACL_USER, num(u.permissions), num(u.uid)])
  for (const g of acl.defaultGroups) items.push([ACL_GROUP, num(g.permissions), num(g.gid)])
  return encode(items)
}
