/**
 * Shared helpers of the decode / lookups / decoder-errors handlers: our entries in the vectors'
 * dump.json / lookups.json shape, and a deep comparison.
 */
import { createHash } from 'node:crypto'
import type { Entry } from '@pxar/codec'
import type { Metadata, U64Value } from '@pxar/format'
import { fail } from '../types.ts'

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** JSON form of an integer: a number when safe, else a decimal string (as the vectors write it). */
export function jsonInt(v: U64Value): number | string {
  if (typeof v === 'bigint')
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(v)
      : v.toString()
  return v
}

/** Sets `key` (UTF-8 text) or `key_b64` on `obj`. */
export function putBytes(obj: Record<string, unknown>, key: string, bytes: Uint8Array): void {
  try {
    obj[key] = strictUtf8.decode(bytes)
  } catch {
    obj[`${key}_b64`] = Buffer.from(bytes).toString('base64')
  }
}

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')

/** META in the vectors' shape. */
export function metaJson(m: Metadata): Record<string, unknown> {
  const acl = m.acl
  return {
    mode: jsonInt(m.stat.mode),
    flags: jsonInt(m.stat.flags),
    uid: m.stat.uid,
    gid: m.stat.gid,
    mtime: { secs: jsonInt(m.stat.mtime.secs), nanos: m.stat.mtime.nanos },
    xattrs: m.xattrs.map((x) => {
      const o: Record<string, unknown> = {}
      putBytes(o, 'name', x.name)
      o.value_b64 = b64(x.value)
      return o
    }),
    acl: {
      users: acl.users.map((u) => ({ uid: jsonInt(u.uid), perms: jsonInt(u.permissions) })),
      groups: acl.groups.map((g) => ({ gid: jsonInt(g.gid), perms: jsonInt(g.permissions) })),
      group_obj: acl.groupObj ? { perms: jsonInt(acl.groupObj.permissions) } : null,
      default: acl.default
        ? {
            user_obj: jsonInt(acl.default.userObjPermissions),
            group_obj: jsonInt(acl.default.groupObjPermissions),
            other: jsonInt(acl.default.otherPermissions),
            mask: jsonInt(acl.default.maskPermissions),
          }
        : null,
      default_users: acl.defaultUsers.map((u) => ({ uid: jsonInt(u.uid), perms: jsonInt(u.permissions) })),
      default_groups: acl.defaultGroups.map((g) => ({ gid: jsonInt(g.gid), perms: jsonInt(g.permissions) })),
    },
    fcaps_b64: m.fcaps ? b64(m.fcaps) : null,
    quota_project_id: m.quotaProjectId === undefined ? null : jsonInt(m.quotaProjectId),
  }
}

/** Accumulates content into the `content_sha256` / `content_b64` (≤ 1024 bytes) fields. */
export async function contentFields(
  pieces: AsyncIterable<Uint8Array> | undefined,
  size: number,
): Promise<Record<string, unknown>> {
  const h = createHash('sha256')
  const small: Uint8Array[] = []
  let total = 0
  if (pieces) {
    for await (const p of pieces) {
      h.update(p)
      total += p.length
      if (size <= 1024) small.push(p.slice())
    }
  }
  if (total !== size) fail(`content length ${total} != size ${size}`)
  const out: Record<string, unknown> = { content_sha256: h.digest('hex') }
  if (size <= 1024) out.content_b64 = Buffer.concat(small).toString('base64')
  return out
}

/** An entry in dump.json shape (without content fields; `path` overrides the entry's path). */
export function entryJson(e: Entry, path?: string): Record<string, unknown> {
  const o: Record<string, unknown> = {}
  if (path !== undefined) o.path = path
  else putBytes(o, 'path', e.path)
  o.kind = e.kind
  switch (e.kind) {
    case 'version':
      o.version = e.version
      return o
    case 'prelude':
      return o
    case 'file':
      o.size = e.fileSize
      o.archive_offset = e.archiveOffset
      o.payload_offset = e.payloadOffset ?? null
      break
    case 'symlink':
      putBytes(o, 'target', e.linkTarget!)
      break
    case 'hardlink':
      putBytes(o, 'target', e.linkTarget!)
      o.link_offset = e.linkOffset
      break
    case 'char_device':
    case 'block_device':
      o.major = jsonInt(e.device!.major)
      o.minor = jsonInt(e.device!.minor)
      break
    default:
      break
  }
  o.meta = metaJson(e.metadata)
  return o
}

function show(v: unknown): string {
  const s = JSON.stringify(v)
  return s === undefined ? 'undefined' : s.length > 200 ? `${s.slice(0, 200)}…` : s
}

/** Deep comparison (object key order ignored); fails with the first differing path. */
export function expectEqual(actual: unknown, expected: unknown, where: string): void {
  if (Object.is(actual, expected)) return
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) fail(`${where}: expected array, got ${show(actual)}`)
    if (actual.length !== expected.length) fail(`${where}: length ${actual.length} != ${expected.length}`)
    for (let i = 0; i < expected.length; i++) expectEqual(actual[i], expected[i], `${where}[${i}]`)
    return
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) {
      fail(`${where}: expected object, got ${show(actual)}`)
    }
    const a = actual as Record<string, unknown>
    const e = expected as Record<string, unknown>
    for (const k of Object.keys(e)) {
      if (!(k in a)) fail(`${where}.${k}: missing (expected ${show(e[k])})`)
      expectEqual(a[k], e[k], `${where}.${k}`)
    }
    for (const k of Object.keys(a)) if (!(k in e)) fail(`${where}.${k}: unexpected ${show(a[k])}`)
    return
  }
  fail(`${where}: ${show(actual)} != ${show(expected)}`)
}
