/**
 * Formatting archive entries for `list` (text, `--long`, JSON).
 */
import type { Entry } from '@pxar/codec'

const TYPE_CHAR: Record<string, string> = {
  directory: 'd',
  file: '-',
  symlink: 'l',
  hardlink: 'h',
  char_device: 'c',
  block_device: 'b',
  fifo: 'p',
  socket: 's',
}

/** `drwxr-xr-x`-style mode string. */
export function modeString(kind: string, mode: number): string {
  const rwx = (bits: number, special: boolean, ch: string): string =>
    `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${special ? (bits & 1 ? ch : ch.toUpperCase()) : bits & 1 ? 'x' : '-'}`
  return (
    (TYPE_CHAR[kind] ?? '?') +
    rwx((mode >> 6) & 7, (mode & 0o4000) !== 0, 's') +
    rwx((mode >> 3) & 7, (mode & 0o2000) !== 0, 's') +
    rwx(mode & 7, (mode & 0o1000) !== 0, 't')
  )
}

/** Epoch seconds + nanoseconds as RFC 3339 UTC (nanoseconds only when non-zero). */
export function isoTime(secs: number | bigint, nanos = 0): string {
  const s = Number(secs)
  const d = new Date(s * 1000)
  if (Number.isNaN(d.getTime())) return String(secs)
  const base = d.toISOString().slice(0, 19)
  return nanos ? `${base}.${String(nanos).padStart(9, '0')}Z` : `${base}Z`
}

const dec = new TextDecoder()

/** JSON view of an entry. */
export function entryJson(e: Entry): Record<string, unknown> {
  const st = e.metadata.stat
  const out: Record<string, unknown> = {
    path: e.pathString,
    kind: e.kind,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtime: isoTime(st.mtime.secs, st.mtime.nanos),
  }
  if (e.fileSize !== undefined) out.size = e.fileSize
  if (e.linkTarget !== undefined) out.linkTarget = dec.decode(e.linkTarget)
  if (e.device) out.device = { major: Number(e.device.major), minor: Number(e.device.minor) }
  if (e.metadata.xattrs.length > 0) out.xattrs = e.metadata.xattrs.length
  return out
}

/** A path for a text line: control characters other than tab escaped (`\n`, `\xNN`). */
export function displayPath(path: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: escaping them is the point
  return path.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, (c) =>
    c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  )
}

/** One line of `list` (plain path) or `list --long`. */
export function entryLine(e: Entry, long: boolean): string {
  if (!long) return displayPath(e.pathString)
  const st = e.metadata.stat
  const size = e.fileSize ?? (e.device ? Number(0) : 0)
  const sizeText = e.device ? `${e.device.major},${e.device.minor}` : String(size)
  const time = isoTime(st.mtime.secs).replace('T', ' ').replace('Z', '')
  let line = `${modeString(e.kind, st.mode)} ${`${st.uid}/${st.gid}`.padEnd(11)} ${sizeText.padStart(10)} ${time} ${displayPath(e.pathString)}`
  if (e.kind === 'symlink' && e.linkTarget) line += ` -> ${dec.decode(e.linkTarget)}`
  if (e.kind === 'hardlink' && e.linkTarget) line += ` link to ${dec.decode(e.linkTarget)}`
  return line
}
