/**
 * Content codecs of the small fixed-layout items (device, ACL entries, quota project id, payload
 * reference, hardlink, format version) and the encoded form of a whole {@link Metadata} block
 * (ENTRY + XATTR* + ACL* + FCAPS? + QUOTA_PROJID?).
 */
import {
  PXAR_ACL_DEFAULT,
  PXAR_ACL_DEFAULT_GROUP,
  PXAR_ACL_DEFAULT_USER,
  PXAR_ACL_GROUP,
  PXAR_ACL_GROUP_OBJ,
  PXAR_ACL_USER,
  PXAR_ENTRY,
  PXAR_FCAPS,
  PXAR_QUOTA_PROJID,
  PXAR_XATTR,
} from './constants.ts'
import { PxarFormatError } from './errors.ts'
import { HEADER_SIZE, writeHeader } from './header.ts'
import type { HType } from './htype.ts'
import { MAX_FILENAME_LEN, MAX_XATTR_LEN } from './limits.ts'
import type { AclDefault, AclGroup, AclGroupObject, AclUser, Metadata, Xattr } from './metadata.ts'
import { STAT_SIZE, writeStat } from './stat.ts'
import { type U64, type U64Value, u64FromValue, u64ToSafeNumber, u64Value } from './u64.ts'

/** Device numbers of a DEVICE item (u64 each). */
export interface Device {
  readonly major: U64Value
  readonly minor: U64Value
}

/** A PAYLOAD_REF: where a v2 file's PAYLOAD header sits in the payload stream, and the file size. */
export interface PayloadRef {
  readonly offset: number
  readonly size: number
}

/**
 * Why a file name is not allowed, in upstream's words, or `undefined` when it is valid:
 * non-empty, no `/`, not `.`/`..`, at most 4096 bytes. Any other bytes are fine.
 */
export function filenameError(name: Uint8Array): string | undefined {
  if (name.length === 0) return 'illegal path found (empty)'
  if (name.includes(0x2f)) return 'illegal path found (contains slashes, this is a security concern)'
  if (name.length === 1 && name[0] === 0x2e) return "illegal path found: '.'"
  if (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e) return "illegal path found: '..'"
  if (name.length > MAX_FILENAME_LEN) return `filename too long (> ${MAX_FILENAME_LEN})`
  return undefined
}

const u64Of = (view: DataView, off: number): U64Value =>
  u64Value(view.getUint32(off, true), view.getUint32(off + 4, true))

function safeOf(view: DataView, off: number, what: string, absOffset: number): number {
  const v = u64ToSafeNumber(view.getUint32(off, true), view.getUint32(off + 4, true))
  if (v === undefined) throw new PxarFormatError('ERR_PXAR_INVALID_DATA', `${what} out of range`, absOffset)
  return v
}

/** Reads DEVICE content (16 bytes) at `offset`. */
export function readDevice(view: DataView, offset: number): Device {
  return { major: u64Of(view, offset), minor: u64Of(view, offset + 8) }
}
/** Reads ACL_USER / ACL_DEFAULT_USER content (16 bytes). */
export function readAclUser(view: DataView, offset: number): AclUser {
  return { uid: u64Of(view, offset), permissions: u64Of(view, offset + 8) }
}
/** Reads ACL_GROUP / ACL_DEFAULT_GROUP content (16 bytes). */
export function readAclGroup(view: DataView, offset: number): AclGroup {
  return { gid: u64Of(view, offset), permissions: u64Of(view, offset + 8) }
}
/** Reads ACL_GROUP_OBJ content (8 bytes). */
export function readAclGroupObj(view: DataView, offset: number): AclGroupObject {
  return { permissions: u64Of(view, offset) }
}
/** Reads ACL_DEFAULT content (32 bytes). */
export function readAclDefault(view: DataView, offset: number): AclDefault {
  return {
    userObjPermissions: u64Of(view, offset),
    groupObjPermissions: u64Of(view, offset + 8),
    otherPermissions: u64Of(view, offset + 16),
    maskPermissions: u64Of(view, offset + 24),
  }
}
/** Reads a u64 item content (QUOTA_PROJID, FORMAT_VERSION). */
export function readU64Value(view: DataView, offset: number): U64Value {
  return u64Of(view, offset)
}
/**
 * Reads PAYLOAD_REF content (16 bytes).
 * @throws {PxarFormatError} `ERR_PXAR_INVALID_DATA` when offset or size is 2^53 or more.
 */
export function readPayloadRef(view: DataView, offset: number, absOffset: number = offset): PayloadRef {
  return {
    offset: safeOf(view, offset, 'payload reference offset', absOffset),
    size: safeOf(view, offset + 8, 'payload reference size', absOffset),
  }
}
/**
 * Reads the u64 offset at the start of HARDLINK content.
 * @throws {PxarFormatError} `ERR_PXAR_INVALID_DATA` when it is 2^53 or more.
 */
export function readHardlinkOffset(view: DataView, offset: number, absOffset: number = offset): number {
  return safeOf(view, offset, 'hardlink offset', absOffset)
}

/**
 * Splits XATTR content at its first NUL into name and value (both copied).
 * @throws {PxarFormatError} `ERR_PXAR_INVALID_DATA` when there is no NUL.
 */
export function parseXattr(content: Uint8Array, absOffset?: number): Xattr {
  const nul = content.indexOf(0)
  if (nul < 0) throw new PxarFormatError('ERR_PXAR_INVALID_DATA', 'xattr without NUL separator', absOffset)
  return { name: content.slice(0, nul), value: content.slice(nul + 1) }
}

/** Writes a u64 given as a {@link U64Value} at `offset`. */
export function writeU64Value(view: DataView, offset: number, value: U64Value, label?: string): void {
  const v: U64 = u64FromValue(value, label)
  view.setUint32(offset, v.lo, true)
  view.setUint32(offset + 4, v.hi, true)
}

/**
 * Why `meta`'s variable-size items cannot be encoded, or `undefined`: XATTR or FCAPS content above
 * {@link MAX_XATTR_LEN} (pxar's limit, in its words), or an xattr name that is empty or contains a
 * NUL (it would not decode back to the same name and value).
 */
export function metadataLimitError(meta: Metadata): string | undefined {
  for (const x of meta.xattrs) {
    if (x.name.length === 0 || x.name.includes(0))
      return 'xattr name must be non-empty and contain no NUL byte'
    const size = x.name.length + 1 + x.value.length
    if (size > MAX_XATTR_LEN) return sizeError(size, PXAR_XATTR)
  }
  if (meta.fcaps !== undefined && meta.fcaps.length > MAX_XATTR_LEN)
    return sizeError(meta.fcaps.length, PXAR_FCAPS)
  return undefined
}

function sizeError(size: number, h: HType): string {
  return `invalid content size (${size} > ${MAX_XATTR_LEN}) of entry with ${h.name} header`
}

/** Encoded size of ENTRY + all metadata items of `meta`. */
export function encodedMetadataSize(meta: Metadata): number {
  let n = HEADER_SIZE + STAT_SIZE
  for (const x of meta.xattrs) n += HEADER_SIZE + x.name.length + 1 + x.value.length
  const acl = meta.acl
  n +=
    (acl.users.length + acl.groups.length + acl.defaultUsers.length + acl.defaultGroups.length) *
    (HEADER_SIZE + 16)
  if (acl.groupObj !== undefined) n += HEADER_SIZE + 8
  if (acl.default !== undefined) n += HEADER_SIZE + 32
  if (meta.fcaps !== undefined) n += HEADER_SIZE + meta.fcaps.length
  if (meta.quotaProjectId !== undefined) n += HEADER_SIZE + 8
  return n
}

/**
 * Writes ENTRY, XATTR*, ACL_USER*, ACL_GROUP*, ACL_GROUP_OBJ?, ACL_DEFAULT?, ACL_DEFAULT_USER*,
 * ACL_DEFAULT_GROUP*, FCAPS?, QUOTA_PROJID? at `offset` (pxar's order; lists in caller order).
 * `bytes` and `view` must cover the same buffer with {@link encodedMetadataSize} bytes free.
 * @returns the offset after the last item
 * @throws {RangeError} when a numeric field is out of range.
 */
export function writeMetadataItems(
  bytes: Uint8Array,
  view: DataView,
  offset: number,
  meta: Metadata,
): number {
  writeHeader(view, offset, PXAR_ENTRY, STAT_SIZE)
  writeStat(view, offset + HEADER_SIZE, meta.stat)
  offset += HEADER_SIZE + STAT_SIZE
  for (const x of meta.xattrs) {
    const size = x.name.length + 1 + x.value.length
    writeHeader(view, offset, PXAR_XATTR, size)
    offset += HEADER_SIZE
    bytes.set(x.name, offset)
    offset += x.name.length
    bytes[offset++] = 0
    bytes.set(x.value, offset)
    offset += x.value.length
  }
  const acl = meta.acl
  for (const u of acl.users) offset = writePair(view, offset, PXAR_ACL_USER, u.uid, u.permissions)
  for (const g of acl.groups) offset = writePair(view, offset, PXAR_ACL_GROUP, g.gid, g.permissions)
  if (acl.groupObj !== undefined) {
    writeHeader(view, offset, PXAR_ACL_GROUP_OBJ, 8)
    writeU64Value(view, offset + HEADER_SIZE, acl.groupObj.permissions, 'acl.groupObj.permissions')
    offset += HEADER_SIZE + 8
  }
  if (acl.default !== undefined) {
    const d = acl.default
    writeHeader(view, offset, PXAR_ACL_DEFAULT, 32)
    writeU64Value(view, offset + HEADER_SIZE, d.userObjPermissions, 'acl.default.userObjPermissions')
    writeU64Value(view, offset + HEADER_SIZE + 8, d.groupObjPermissions, 'acl.default.groupObjPermissions')
    writeU64Value(view, offset + HEADER_SIZE + 16, d.otherPermissions, 'acl.default.otherPermissions')
    writeU64Value(view, offset + HEADER_SIZE + 24, d.maskPermissions, 'acl.default.maskPermissions')
    offset += HEADER_SIZE + 32
  }
  for (const u of acl.defaultUsers)
    offset = writePair(view, offset, PXAR_ACL_DEFAULT_USER, u.uid, u.permissions)
  for (const g of acl.defaultGroups)
    offset = writePair(view, offset, PXAR_ACL_DEFAULT_GROUP, g.gid, g.permissions)
  if (meta.fcaps !== undefined) {
    writeHeader(view, offset, PXAR_FCAPS, meta.fcaps.length)
    bytes.set(meta.fcaps, offset + HEADER_SIZE)
    offset += HEADER_SIZE + meta.fcaps.length
  }
  if (meta.quotaProjectId !== undefined) {
    writeHeader(view, offset, PXAR_QUOTA_PROJID, 8)
    writeU64Value(view, offset + HEADER_SIZE, meta.quotaProjectId, 'quotaProjectId')
    offset += HEADER_SIZE + 8
  }
  return offset
}

function writePair(view: DataView, offset: number, h: HType, id: U64Value, perms: U64Value): number {
  writeHeader(view, offset, h, 16)
  writeU64Value(view, offset + HEADER_SIZE, id, `${h.name} id`)
  writeU64Value(view, offset + HEADER_SIZE + 8, perms, `${h.name} permissions`)
  return offset + HEADER_SIZE + 16
}
