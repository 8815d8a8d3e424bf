/**
 * The agent's JSON wire format for entries. Byte strings (names, paths, xattrs, link targets,
 * capabilities) travel as base64; u64 values as JSON numbers when below 2^53, otherwise as
 * decimal strings.
 */
import {
  type Acl,
  type AclGroup,
  type AclUser,
  createMetadata,
  type Metadata,
  PxarError,
  type U64Value,
} from '@pxar/format'
import type { DirListing, SourceEntry, SourceKind, SourceSkip } from '../source.ts'

type WireU64 = number | string
const KINDS: readonly SourceKind[] = [
  'file',
  'directory',
  'symlink',
  'block-device',
  'char-device',
  'fifo',
  'socket',
]

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')
const u64 = (v: U64Value): WireU64 => (typeof v === 'bigint' ? v.toString() : v)

/** Thrown by the decoders for a malformed message: a `PxarError` with code `ERR_PBS_PROTOCOL`. */
export class WireError extends PxarError {
  override name = 'WireError'
  constructor(message: string) {
    super('ERR_PBS_PROTOCOL', message)
  }
}

function fromB64(v: unknown, what: string): Uint8Array {
  if (typeof v !== 'string') throw new WireError(`${what}: expected base64 string`)
  const buf = Buffer.from(v, 'base64')
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
}

function fromU64(v: unknown, what: string): U64Value {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v
  if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) return BigInt(v)
  throw new WireError(`${what}: expected an integer`)
}

function num(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new WireError(`${what}: expected a non-negative integer`)
  return v
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new WireError(`${what}: expected an object`)
  return v as Record<string, unknown>
}

function arr(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new WireError(`${what}: expected an array`)
  return v
}

/** JSON form of {@link Metadata}. */
export function metadataToWire(m: Metadata): unknown {
  const a = m.acl
  return {
    mode: m.stat.mode,
    flags: u64(m.stat.flags),
    uid: m.stat.uid,
    gid: m.stat.gid,
    mtime: [u64(m.stat.mtime.secs), m.stat.mtime.nanos],
    xattrs: m.xattrs.map((x) => [b64(x.name), b64(x.value)]),
    acl: {
      users: a.users.map((u) => [u64(u.uid), u64(u.permissions)]),
      groups: a.groups.map((g) => [u64(g.gid), u64(g.permissions)]),
      groupObj: a.groupObj ? u64(a.groupObj.permissions) : null,
      default: a.default
        ? [
            u64(a.default.userObjPermissions),
            u64(a.default.groupObjPermissions),
            u64(a.default.otherPermissions),
            u64(a.default.maskPermissions),
          ]
        : null,
      defaultUsers: a.defaultUsers.map((u) => [u64(u.uid), u64(u.permissions)]),
      defaultGroups: a.defaultGroups.map((g) => [u64(g.gid), u64(g.permissions)]),
    },
    fcaps: m.fcaps ? b64(m.fcaps) : null,
    quotaProjectId: m.quotaProjectId === undefined ? null : u64(m.quotaProjectId),
  }
}

const pairs = (v: unknown, what: string): [U64Value, U64Value][] =>
  arr(v, what).map((p, i) => {
    const [x, y] = arr(p, `${what}[${i}]`)
    return [fromU64(x, what), fromU64(y, what)]
  })

/**
 * Parses {@link metadataToWire} output (validated by `createMetadata`).
 * @throws WireError (a PxarError, `ERR_PBS_PROTOCOL`) for a malformed message.
 */
export function metadataFromWire(v: unknown): Metadata {
  const o = obj(v, 'metadata')
  const acl = obj(o.acl, 'acl')
  const [secs, nanos] = arr(o.mtime, 'mtime')
  const dflt =
    acl.default === null ? undefined : arr(acl.default, 'acl.default').map((x) => fromU64(x, 'acl.default'))
  const users = (w: unknown, what: string): AclUser[] =>
    pairs(w, what).map(([uid, permissions]) => ({ uid, permissions }))
  const groups = (w: unknown, what: string): AclGroup[] =>
    pairs(w, what).map(([gid, permissions]) => ({ gid, permissions }))
  const parsedAcl: Acl = {
    users: users(acl.users, 'acl.users'),
    groups: groups(acl.groups, 'acl.groups'),
    groupObj: acl.groupObj === null ? undefined : { permissions: fromU64(acl.groupObj, 'acl.groupObj') },
    default:
      dflt === undefined
        ? undefined
        : {
            userObjPermissions: dflt[0] ?? 0,
            groupObjPermissions: dflt[1] ?? 0,
            otherPermissions: dflt[2] ?? 0,
            maskPermissions: dflt[3] ?? 0,
          },
    defaultUsers: users(acl.defaultUsers, 'acl.defaultUsers'),
    defaultGroups: groups(acl.defaultGroups, 'acl.defaultGroups'),
  }
  if (dflt !== undefined && dflt.length !== 4) throw new WireError('acl.default: expected 4 values')
  try {
    return createMetadata({
      mode: num(o.mode, 'mode'),
      flags: fromU64(o.flags, 'flags'),
      uid: num(o.uid, 'uid'),
      gid: num(o.gid, 'gid'),
      mtime: { secs: fromU64(secs, 'mtime'), nanos: num(nanos, 'mtime') },
      xattrs: arr(o.xattrs, 'xattrs').map((x, i) => {
        const [name, value] = arr(x, `xattrs[${i}]`)
        return { name: fromB64(name, 'xattr name'), value: fromB64(value, 'xattr value') }
      }),
      acl: parsedAcl,
      fcaps: o.fcaps === null ? undefined : fromB64(o.fcaps, 'fcaps'),
      quotaProjectId: o.quotaProjectId === null ? undefined : fromU64(o.quotaProjectId, 'quotaProjectId'),
    })
  } catch (err) {
    if (err instanceof WireError) throw err
    throw new WireError(`metadata: ${(err as Error).message}`)
  }
}

/** JSON form of a {@link SourceEntry}. */
export function entryToWire(e: SourceEntry): unknown {
  const w: Record<string, unknown> = {
    name: b64(e.name),
    kind: e.kind,
    metadata: metadataToWire(e.metadata),
    size: e.size,
    dev: e.dev,
    ino: e.ino,
    nlink: e.nlink,
  }
  if (e.linkTarget !== undefined) w.linkTarget = b64(e.linkTarget)
  if (e.rdev !== undefined) w.rdev = [e.rdev.major, e.rdev.minor]
  return w
}

/**
 * Parses {@link entryToWire} output.
 * @throws WireError (a PxarError, `ERR_PBS_PROTOCOL`) for a malformed message.
 */
export function entryFromWire(v: unknown): SourceEntry {
  const o = obj(v, 'entry')
  const kind = o.kind as SourceKind
  if (!KINDS.includes(kind)) throw new WireError('entry: unknown kind')
  if (typeof o.dev !== 'string' || !/^\d+$/.test(o.dev) || typeof o.ino !== 'string' || !/^\d+$/.test(o.ino))
    throw new WireError('entry: dev/ino must be decimal strings')
  const e: { -readonly [K in keyof SourceEntry]: SourceEntry[K] } = {
    name: fromB64(o.name, 'name'),
    kind,
    metadata: metadataFromWire(o.metadata),
    size: num(o.size, 'size'),
    dev: o.dev,
    ino: o.ino,
    nlink: num(o.nlink, 'nlink'),
  }
  if (o.linkTarget !== undefined) e.linkTarget = fromB64(o.linkTarget, 'linkTarget')
  if (o.rdev !== undefined) {
    const [major, minor] = arr(o.rdev, 'rdev')
    e.rdev = { major: num(major, 'rdev'), minor: num(minor, 'rdev') }
  }
  return e
}

/** JSON form of a {@link DirListing}. */
export function listingToWire(l: DirListing): unknown {
  return {
    entries: l.entries.map(entryToWire),
    skipped: l.skipped.map((s) => ({ path: b64(s.path), code: s.code, message: s.message })),
  }
}

/**
 * Parses {@link listingToWire} output.
 * @throws WireError (a PxarError, `ERR_PBS_PROTOCOL`) for a malformed message.
 */
export function listingFromWire(v: unknown): DirListing {
  const o = obj(v, 'listing')
  return {
    entries: arr(o.entries, 'entries').map(entryFromWire),
    skipped: arr(o.skipped, 'skipped').map((s): SourceSkip => {
      const so = obj(s, 'skip')
      if (typeof so.code !== 'string' || typeof so.message !== 'string')
        throw new WireError('skip: bad code/message')
      return { path: fromB64(so.path, 'skip path'), code: so.code, message: so.message }
    }),
  }
}
