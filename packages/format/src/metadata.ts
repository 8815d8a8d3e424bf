/**
 * Entry metadata: stat, extended attributes, POSIX ACLs, file capabilities and quota project id,
 * with fluent builders.
 */
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK, S_IMODE } from './mode.ts'
import { checkU32, type Stat, type Timestamp } from './stat.ts'
import { i64FromValue, normalizeU64Value, type U64Value, u64FromValue } from './u64.ts'
import { encodeUtf8 } from './utf8.ts'

/** ACL permission value meaning "no mask" in {@link AclDefault.maskPermissions} (u64::MAX). */
export const ACL_NO_MASK: bigint = 0xffff_ffff_ffff_ffffn
/** ACL read permission bit. */
export const ACL_READ = 4
/** ACL write permission bit. */
export const ACL_WRITE = 2
/** ACL execute permission bit. */
export const ACL_EXECUTE = 1

/** An extended attribute: raw name bytes (no NUL) and raw value bytes (may contain NULs). */
export interface Xattr {
  readonly name: Uint8Array
  readonly value: Uint8Array
}

/** A named-user ACL entry (ACL_USER / ACL_DEFAULT_USER). */
export interface AclUser {
  readonly uid: U64Value
  readonly permissions: U64Value
}

/** A named-group ACL entry (ACL_GROUP / ACL_DEFAULT_GROUP). */
export interface AclGroup {
  readonly gid: U64Value
  readonly permissions: U64Value
}

/** The ACL group-object entry (ACL_GROUP_OBJ). */
export interface AclGroupObject {
  readonly permissions: U64Value
}

/** The default ACL's base entries (ACL_DEFAULT); `maskPermissions` may be {@link ACL_NO_MASK}. */
export interface AclDefault {
  readonly userObjPermissions: U64Value
  readonly groupObjPermissions: U64Value
  readonly otherPermissions: U64Value
  readonly maskPermissions: U64Value
}

/** POSIX ACLs as pxar stores them. */
export interface Acl {
  readonly users: readonly AclUser[]
  readonly groups: readonly AclGroup[]
  readonly groupObj: AclGroupObject | undefined
  readonly default: AclDefault | undefined
  readonly defaultUsers: readonly AclUser[]
  readonly defaultGroups: readonly AclGroup[]
}

/** Everything pxar stores about an entry besides its name and content. */
export interface Metadata {
  readonly stat: Stat
  /** Extended attributes in archive order. */
  readonly xattrs: readonly Xattr[]
  readonly acl: Acl
  /** Raw `security.capability` blob. */
  readonly fcaps: Uint8Array | undefined
  /** Quota project id (encoded whenever defined, even 0). */
  readonly quotaProjectId: U64Value | undefined
}

/** An ACL with no entries. */
export const EMPTY_ACL: Acl = Object.freeze({
  users: Object.freeze([]) as readonly AclUser[],
  groups: Object.freeze([]) as readonly AclGroup[],
  groupObj: undefined,
  default: undefined,
  defaultUsers: Object.freeze([]) as readonly AclUser[],
  defaultGroups: Object.freeze([]) as readonly AclGroup[],
})

/** Input of {@link createMetadata}: only `mode` is required. */
export interface MetadataInit {
  readonly mode: number
  readonly flags?: U64Value | undefined
  readonly uid?: number | undefined
  readonly gid?: number | undefined
  readonly mtime?: Timestamp | undefined
  readonly xattrs?: readonly Xattr[] | undefined
  readonly acl?: Partial<Acl> | undefined
  readonly fcaps?: Uint8Array | undefined
  readonly quotaProjectId?: U64Value | undefined
}

/**
 * Builds a complete, validated {@link Metadata} from a partial description (defaults: 0 / empty).
 * @throws {RangeError} when a number is out of range for its field.
 * @example
 * createMetadata({ mode: 0o100644, uid: 1000, gid: 1000, mtime: { secs: 1700000000, nanos: 0 } })
 */
export function createMetadata(init: MetadataInit): Metadata {
  const acl = init.acl
  const meta: Metadata = {
    stat: {
      mode: init.mode,
      flags: normalizeU64Value(init.flags ?? 0),
      uid: init.uid ?? 0,
      gid: init.gid ?? 0,
      mtime: init.mtime
        ? { secs: normalizeU64Value(init.mtime.secs), nanos: init.mtime.nanos }
        : { secs: 0, nanos: 0 },
    },
    xattrs: init.xattrs ? [...init.xattrs] : [],
    acl: acl
      ? {
          users: (acl.users ?? []).map(normUser),
          groups: (acl.groups ?? []).map(normGroup),
          groupObj: acl.groupObj ? { permissions: normalizeU64Value(acl.groupObj.permissions) } : undefined,
          default: acl.default ? normDefault(acl.default) : undefined,
          defaultUsers: (acl.defaultUsers ?? []).map(normUser),
          defaultGroups: (acl.defaultGroups ?? []).map(normGroup),
        }
      : EMPTY_ACL,
    fcaps: init.fcaps,
    quotaProjectId: init.quotaProjectId === undefined ? undefined : normalizeU64Value(init.quotaProjectId),
  }
  validateMetadata(meta)
  return meta
}

const normUser = (u: AclUser): AclUser => ({
  uid: normalizeU64Value(u.uid),
  permissions: normalizeU64Value(u.permissions),
})
const normGroup = (g: AclGroup): AclGroup => ({
  gid: normalizeU64Value(g.gid),
  permissions: normalizeU64Value(g.permissions),
})
const normDefault = (d: AclDefault): AclDefault => ({
  userObjPermissions: normalizeU64Value(d.userObjPermissions),
  groupObjPermissions: normalizeU64Value(d.groupObjPermissions),
  otherPermissions: normalizeU64Value(d.otherPermissions),
  maskPermissions: normalizeU64Value(d.maskPermissions),
})

/**
 * Checks every numeric field of `meta` is in range for its on-disk type.
 * @throws {RangeError} naming the offending field.
 */
export function validateMetadata(meta: Metadata): void {
  const s = meta.stat
  u64FromValue(s.mode, 'mode')
  u64FromValue(s.flags, 'flags')
  checkU32(s.uid, 'uid')
  checkU32(s.gid, 'gid')
  i64FromValue(s.mtime.secs, 'mtime.secs')
  checkU32(s.mtime.nanos, 'mtime.nanos')
  for (const u of meta.acl.users) checkUser(u, 'acl.users')
  for (const g of meta.acl.groups) checkGroup(g, 'acl.groups')
  if (meta.acl.groupObj) u64FromValue(meta.acl.groupObj.permissions, 'acl.groupObj.permissions')
  const d = meta.acl.default
  if (d) {
    u64FromValue(d.userObjPermissions, 'acl.default.userObjPermissions')
    u64FromValue(d.groupObjPermissions, 'acl.default.groupObjPermissions')
    u64FromValue(d.otherPermissions, 'acl.default.otherPermissions')
    u64FromValue(d.maskPermissions, 'acl.default.maskPermissions')
  }
  for (const u of meta.acl.defaultUsers) checkUser(u, 'acl.defaultUsers')
  for (const g of meta.acl.defaultGroups) checkGroup(g, 'acl.defaultGroups')
  if (meta.quotaProjectId !== undefined) u64FromValue(meta.quotaProjectId, 'quotaProjectId')
}

function checkUser(u: AclUser, label: string): void {
  u64FromValue(u.uid, `${label}.uid`)
  u64FromValue(u.permissions, `${label}.permissions`)
}
function checkGroup(g: AclGroup, label: string): void {
  u64FromValue(g.gid, `${label}.gid`)
  u64FromValue(g.permissions, `${label}.permissions`)
}

const toBytes = (v: string | Uint8Array): Uint8Array => (typeof v === 'string' ? encodeUtf8(v) : v)

/**
 * Fluent, mutable builder for {@link Metadata}; `build()` returns an immutable snapshot.
 * Start from {@link fileMetadata}, {@link dirMetadata}, {@link symlinkMetadata}, … .
 * @example
 * const meta = fileMetadata(0o644).owner(1000, 1000).mtime(1700000000).xattr('user.a', 'b').build()
 */
export class MetadataBuilder {
  #mode: number
  #flags: U64Value = 0
  #uid = 0
  #gid = 0
  #mtime: Timestamp = { secs: 0, nanos: 0 }
  #xattrs: Xattr[] = []
  #users: AclUser[] = []
  #groups: AclGroup[] = []
  #groupObj: AclGroupObject | undefined
  #default: AclDefault | undefined
  #defaultUsers: AclUser[] = []
  #defaultGroups: AclGroup[] = []
  #fcaps: Uint8Array | undefined
  #quota: U64Value | undefined

  /** @param mode full `st_mode` including the file type bits */
  constructor(mode: number) {
    this.#mode = mode
  }

  /** Replaces the permission bits (`0o7777`), keeping the file type. */
  permissions(perm: number): this {
    this.#mode = (this.#mode & S_IFMT) | (perm & S_IMODE)
    return this
  }
  /** Replaces the full mode (type bits included). */
  mode(mode: number): this {
    this.#mode = mode
    return this
  }
  /** File attribute flags (u64). */
  flags(flags: U64Value): this {
    this.#flags = normalizeU64Value(flags)
    return this
  }
  /** Owner uid and gid. */
  owner(uid: number, gid: number): this {
    this.#uid = uid
    this.#gid = gid
    return this
  }
  /**
   * Modification time: seconds (i64) and nanoseconds, or a `Date` (millisecond precision, floored
   * to whole seconds with positive nanos for times before 1970).
   */
  mtime(secs: U64Value | Date, nanos = 0): this {
    if (secs instanceof Date) {
      const ms = secs.getTime()
      if (!Number.isFinite(ms)) throw new RangeError('invalid Date')
      const s = Math.floor(ms / 1000)
      this.#mtime = { secs: s, nanos: (ms - s * 1000) * 1_000_000 }
    } else {
      this.#mtime = { secs: normalizeU64Value(secs), nanos }
    }
    return this
  }
  /** Appends an extended attribute (names given as strings are UTF-8 encoded). */
  xattr(name: string | Uint8Array, value: string | Uint8Array): this {
    this.#xattrs.push({ name: toBytes(name), value: toBytes(value) })
    return this
  }
  /** Appends a named-user ACL entry. */
  aclUser(uid: U64Value, permissions: U64Value): this {
    this.#users.push(normUser({ uid, permissions }))
    return this
  }
  /** Appends a named-group ACL entry. */
  aclGroup(gid: U64Value, permissions: U64Value): this {
    this.#groups.push(normGroup({ gid, permissions }))
    return this
  }
  /** Sets the ACL group-object entry. */
  aclGroupObj(permissions: U64Value): this {
    this.#groupObj = { permissions: normalizeU64Value(permissions) }
    return this
  }
  /** Sets the default ACL base entries (`maskPermissions` defaults to {@link ACL_NO_MASK}). */
  aclDefault(d: {
    userObjPermissions: U64Value
    groupObjPermissions: U64Value
    otherPermissions: U64Value
    maskPermissions?: U64Value
  }): this {
    this.#default = normDefault({ ...d, maskPermissions: d.maskPermissions ?? ACL_NO_MASK })
    return this
  }
  /** Appends a default named-user ACL entry. */
  aclDefaultUser(uid: U64Value, permissions: U64Value): this {
    this.#defaultUsers.push(normUser({ uid, permissions }))
    return this
  }
  /** Appends a default named-group ACL entry. */
  aclDefaultGroup(gid: U64Value, permissions: U64Value): this {
    this.#defaultGroups.push(normGroup({ gid, permissions }))
    return this
  }
  /** Sets the raw file-capabilities blob. */
  fcaps(blob: Uint8Array): this {
    this.#fcaps = blob
    return this
  }
  /** Sets the quota project id. */
  quotaProjectId(id: U64Value): this {
    this.#quota = normalizeU64Value(id)
    return this
  }
  /**
   * Returns the metadata.
   * @throws {RangeError} when a field is out of range for its on-disk type.
   */
  build(): Metadata {
    const meta: Metadata = {
      stat: { mode: this.#mode, flags: this.#flags, uid: this.#uid, gid: this.#gid, mtime: this.#mtime },
      xattrs: [...this.#xattrs],
      acl: {
        users: [...this.#users],
        groups: [...this.#groups],
        groupObj: this.#groupObj,
        default: this.#default,
        defaultUsers: [...this.#defaultUsers],
        defaultGroups: [...this.#defaultGroups],
      },
      fcaps: this.#fcaps,
      quotaProjectId: this.#quota,
    }
    validateMetadata(meta)
    return meta
  }
}

/** Builder for a regular file (`S_IFREG | perm`, default 0o644). */
export function fileMetadata(perm = 0o644): MetadataBuilder {
  return new MetadataBuilder(S_IFREG | (perm & S_IMODE))
}
/** Builder for a directory (`S_IFDIR | perm`, default 0o755). */
export function dirMetadata(perm = 0o755): MetadataBuilder {
  return new MetadataBuilder(S_IFDIR | (perm & S_IMODE))
}
/** Builder for a symlink (`S_IFLNK | perm`, default 0o777). */
export function symlinkMetadata(perm = 0o777): MetadataBuilder {
  return new MetadataBuilder(S_IFLNK | (perm & S_IMODE))
}
/** Builder for a character device (`S_IFCHR | perm`, default 0o644). */
export function charDeviceMetadata(perm = 0o644): MetadataBuilder {
  return new MetadataBuilder(S_IFCHR | (perm & S_IMODE))
}
/** Builder for a block device (`S_IFBLK | perm`, default 0o644). */
export function blockDeviceMetadata(perm = 0o644): MetadataBuilder {
  return new MetadataBuilder(S_IFBLK | (perm & S_IMODE))
}
/** Builder for a FIFO (`S_IFIFO | perm`, default 0o644). */
export function fifoMetadata(perm = 0o644): MetadataBuilder {
  return new MetadataBuilder(S_IFIFO | (perm & S_IMODE))
}
/** Builder for a socket (`S_IFSOCK | perm`, default 0o755). */
export function socketMetadata(perm = 0o755): MetadataBuilder {
  return new MetadataBuilder(S_IFSOCK | (perm & S_IMODE))
}
