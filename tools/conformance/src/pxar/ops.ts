/**
 * ops.json replay: parses the vectors' encoder op lists (META objects, integers in any of the
 * JSON forms, byte strings as text or base64, content generators) and drives our Encoder.
 */
import { BufferSink, Encoder, type LinkOffset } from '@pxar/codec'
import {
  ACL_NO_MASK,
  type AclDefault,
  type AclGroup,
  type AclUser,
  createMetadata,
  type Metadata,
  type U64Value,
  type Xattr,
} from '@pxar/format'
import type { PxarVariant } from '../types.ts'

type Json = Record<string, unknown>

/** An integer from JSON: number, decimal/`0x`/`0o` string; ACL perms also accept `"NO_MASK"`. */
export function parseInteger(v: unknown, what = 'integer'): U64Value {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new Error(`${what}: not a safe integer: ${v}`)
    return v
  }
  if (typeof v === 'bigint') return normalize(v)
  if (typeof v === 'string') {
    if (v === 'NO_MASK') return ACL_NO_MASK
    const neg = v.startsWith('-')
    const b = BigInt(neg ? v.slice(1) : v)
    return normalize(neg ? -b : b)
  }
  throw new Error(`${what}: expected an integer, got ${JSON.stringify(v)}`)
}

function normalize(b: bigint): U64Value {
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b
}

/** A number-typed integer (sizes, uid/gid, nanos). */
export function parseNumber(v: unknown, what = 'integer'): number {
  const x = parseInteger(v, what)
  if (typeof x !== 'number') throw new Error(`${what}: too large: ${x}`)
  return x
}

/** Bytes from `key` (UTF-8 text) or `key_b64`; `undefined` when neither is present. */
export function bytesField(o: Json, key: string): Uint8Array | undefined {
  const text = o[key]
  if (typeof text === 'string') return new Uint8Array(Buffer.from(text, 'utf8'))
  const b64 = o[`${key}_b64`]
  if (typeof b64 === 'string') return new Uint8Array(Buffer.from(b64, 'base64'))
  return undefined
}

function requireBytes(o: Json, key: string): Uint8Array {
  const b = bytesField(o, key)
  if (b === undefined) throw new Error(`missing ${key}/${key}_b64 in ${JSON.stringify(o).slice(0, 200)}`)
  return b
}

const user = (u: Json): AclUser => ({
  uid: parseInteger(u.uid, 'uid'),
  permissions: parseInteger(u.perms, 'perms'),
})
const group = (g: Json): AclGroup => ({
  gid: parseInteger(g.gid, 'gid'),
  permissions: parseInteger(g.perms, 'perms'),
})

/** Parses a vectors META object into {@link Metadata}. */
export function parseMeta(m: Json): Metadata {
  const acl = (m.acl ?? {}) as Json
  const mtime = m.mtime as Json | undefined
  const xattrs: Xattr[] = ((m.xattrs ?? []) as Json[]).map((x) => ({
    name: requireBytes(x, 'name'),
    value: bytesField(x, 'value') ?? new Uint8Array(0),
  }))
  const def = acl.default as Json | null | undefined
  const aclDefault: AclDefault | undefined =
    def === null || def === undefined
      ? undefined
      : {
          userObjPermissions: parseInteger(def.user_obj, 'user_obj'),
          groupObjPermissions: parseInteger(def.group_obj, 'group_obj'),
          otherPermissions: parseInteger(def.other, 'other'),
          maskPermissions: parseInteger(def.mask, 'mask'),
        }
  const groupObj = acl.group_obj as Json | null | undefined
  const fcaps =
    typeof m.fcaps_b64 === 'string' ? new Uint8Array(Buffer.from(m.fcaps_b64, 'base64')) : undefined
  const quota = m.quota_project_id
  return createMetadata({
    mode: parseNumber(m.mode, 'mode'),
    flags: parseInteger(m.flags ?? 0, 'flags'),
    uid: parseNumber(m.uid ?? 0, 'uid'),
    gid: parseNumber(m.gid ?? 0, 'gid'),
    mtime: mtime
      ? {
          secs: parseInteger(mtime.secs ?? 0, 'mtime.secs'),
          nanos: parseNumber(mtime.nanos ?? 0, 'mtime.nanos'),
        }
      : { secs: 0, nanos: 0 },
    xattrs,
    acl: {
      users: ((acl.users ?? []) as Json[]).map(user),
      groups: ((acl.groups ?? []) as Json[]).map(group),
      groupObj:
        groupObj === null || groupObj === undefined
          ? undefined
          : { permissions: parseInteger(groupObj.perms, 'perms') },
      default: aclDefault,
      defaultUsers: ((acl.default_users ?? []) as Json[]).map(user),
      defaultGroups: ((acl.default_groups ?? []) as Json[]).map(group),
    },
    fcaps,
    quotaProjectId:
      quota === null || quota === undefined ? undefined : parseInteger(quota, 'quota_project_id'),
  })
}

/**
 * `content_gen` data: xorshift32 (`x ^= x << 13; x ^= x >>> 17; x ^= x << 5`, 4 LE bytes per
 * step, seed 0 replaced by 0x9E3779B9), `zero`, or `repeat`.
 */
export function generateContent(gen: Json): Uint8Array {
  const size = parseNumber(gen.size, 'size')
  const out = new Uint8Array(size)
  switch (gen.kind) {
    case 'xorshift32': {
      let x = parseNumber(gen.seed ?? 0, 'seed') >>> 0
      if (x === 0) x = 0x9e3779b9
      const words = new Uint32Array(Math.ceil(size / 4))
      for (let i = 0; i < words.length; i++) {
        x ^= x << 13
        x ^= x >>> 17
        x ^= x << 5
        x >>>= 0
        words[i] = x
      }
      // Uint32Array is host-endian; all supported platforms are little-endian, but be explicit.
      const v = new DataView(out.buffer)
      for (let i = 0; i < words.length; i++) {
        const w = words[i]!
        const o = i * 4
        if (o + 4 <= size) v.setUint32(o, w, true)
        else for (let j = 0; o + j < size; j++) out[o + j] = (w >>> (8 * j)) & 0xff
      }
      return out
    }
    case 'zero':
      return out
    case 'repeat': {
      const p = new Uint8Array(Buffer.from(String(gen.pattern ?? ''), 'utf8'))
      if (p.length === 0) return out
      for (let i = 0; i < size; i++) out[i] = p[i % p.length]!
      return out
    }
    default:
      throw new Error(`unknown content_gen kind ${String(gen.kind)}`)
  }
}

/** The content of a `file` op. */
export function fileContent(op: Json): Uint8Array {
  if (typeof op.content_text === 'string') return new Uint8Array(Buffer.from(op.content_text, 'utf8'))
  if (typeof op.content_b64 === 'string') return new Uint8Array(Buffer.from(op.content_b64, 'base64'))
  if (op.content_gen !== undefined && op.content_gen !== null) return generateContent(op.content_gen as Json)
  return new Uint8Array(0)
}

/** Reads an ops.json value: an array or `{ "ops": [...] }`. */
export function opsList(json: unknown): Json[] {
  if (Array.isArray(json)) return json as Json[]
  const ops = (json as Json | null)?.ops
  if (Array.isArray(ops)) return ops as Json[]
  throw new Error('ops.json: expected an array or {"ops": [...]}')
}

/** Output of {@link replayOps}. */
export interface ReplayResult {
  readonly archive: Uint8Array
  /** v2 payload stream. */
  readonly payload: Uint8Array | undefined
}

/** Options of {@link replayOps}. */
export interface ReplayOptions {
  /** Write file contents through `createFile` in pieces of this size (default: whole). */
  readonly pieceSize?: number
}

/**
 * Replays `ops` against our Encoder (v1 single stream or v2 split) and returns the bytes. An op
 * the encoder rejects throws with `op #i (kind): ` prefixed to the message (and the error as cause).
 */
export function replayOps(
  ops: readonly Json[],
  variant: PxarVariant,
  options: ReplayOptions = {},
): ReplayResult {
  const out = new BufferSink()
  const payload = variant === 'v2' ? new BufferSink() : undefined
  const first = ops[0]
  if (first?.op !== 'begin') throw new Error('ops: first op must be begin')
  const prelude = bytesField(first, 'prelude')
  const enc = new Encoder(out, parseMeta(first.meta as Json), { payload, prelude })
  const ids = new Map<string, LinkOffset>()
  for (let i = 1; i < ops.length; i++) {
    const op = ops[i]!
    try {
      applyOp(enc, op, ids, options)
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err)
      const e = new Error(`op #${i} (${String(op.op)}): ${msg}`, { cause: err })
      throw e
    }
  }
  enc.close()
  return { archive: out.takeBytes(), payload: payload?.takeBytes() }
}

function name(op: Json): Uint8Array {
  return requireBytes(op, 'name')
}

function applyOp(enc: Encoder, op: Json, ids: Map<string, LinkOffset>, options: ReplayOptions): void {
  switch (op.op) {
    case 'file': {
      const data = fileContent(op)
      const meta = parseMeta(op.meta as Json)
      let link: LinkOffset
      if (options.pieceSize !== undefined) {
        const w = enc.createFile(name(op), meta, data.length)
        for (let o = 0; o < data.length; o += options.pieceSize)
          w.write(data.subarray(o, Math.min(data.length, o + options.pieceSize)))
        link = w.close()
      } else {
        link = enc.addFile(name(op), meta, data)
      }
      if (typeof op.id === 'string') ids.set(op.id, link)
      return
    }
    case 'dir':
      enc.createDirectory(name(op), parseMeta(op.meta as Json))
      return
    case 'finish':
      enc.finish()
      return
    case 'symlink':
      enc.addSymlink(name(op), parseMeta(op.meta as Json), requireBytes(op, 'target'))
      return
    case 'hardlink': {
      const link = ids.get(String(op.link))
      if (link === undefined) throw new Error(`unknown link id ${String(op.link)}`)
      enc.addHardlink(name(op), requireBytes(op, 'target'), link)
      return
    }
    case 'device':
      enc.addDevice(name(op), parseMeta(op.meta as Json), {
        major: parseInteger(op.major, 'major'),
        minor: parseInteger(op.minor, 'minor'),
      })
      return
    case 'fifo':
      enc.addFifo(name(op), parseMeta(op.meta as Json))
      return
    case 'socket':
      enc.addSocket(name(op), parseMeta(op.meta as Json))
      return
    case 'payload_ref': {
      const meta = parseMeta(op.meta as Json)
      const size = parseNumber(op.size, 'size')
      // payload_rel is relative to the current payload position (only meaningful in v2)
      const offset =
        op.offset !== undefined
          ? parseNumber(op.offset, 'offset')
          : enc.split
            ? enc.payloadPosition + parseNumber(op.payload_rel, 'payload_rel')
            : 0
      const link = enc.addPayloadRef(name(op), meta, size, offset)
      if (typeof op.id === 'string') ids.set(op.id, link)
      return
    }
    case 'payload_raw':
      enc.appendPayload(requireBytes(op, 'data'))
      return
    default:
      throw new Error(`unknown op ${String(op.op)}`)
  }
}
