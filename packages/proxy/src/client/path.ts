/** Validation of source-relative paths (raw bytes) and joining them onto a root. */
import { PxarError } from '@pxar/format'

const SLASH = 0x2f
const DOT = 0x2e

/**
 * Checks that `path` is a relative path inside the source root: `''` (the root) or components
 * joined by single `/`, none of them empty, `.` or `..`, and no NUL byte.
 * @throws {PxarError} `ERR_PXAR_BAD_NAME` otherwise.
 */
export function checkSourcePath(path: Uint8Array): void {
  if (!(path instanceof Uint8Array)) throw new TypeError('path must be a Uint8Array')
  const n = path.length
  if (n === 0) return
  if (path[0] === SLASH) throw badPath(path, 'absolute paths are not allowed')
  let start = 0
  for (let i = 0; i <= n; i++) {
    const c = i === n ? SLASH : path[i]!
    if (c === 0) throw badPath(path, 'NUL byte in path')
    if (c !== SLASH) continue
    const len = i - start
    if (len === 0) throw badPath(path, 'empty path component')
    if (path[start] === DOT && (len === 1 || (len === 2 && path[start + 1] === DOT)))
      throw badPath(path, "'.' and '..' components are not allowed")
    start = i + 1
  }
}

function badPath(path: Uint8Array, why: string): PxarError {
  return new PxarError(
    'ERR_PXAR_BAD_NAME',
    `refusing path ${JSON.stringify(Buffer.from(path).toString('latin1'))}: ${why}`,
  )
}

/** `root + '/' + rel` as bytes (`root` when `rel` is empty). */
export function joinPath(root: Buffer, rel: Uint8Array): Buffer {
  if (rel.length === 0) return root
  const out = Buffer.allocUnsafe(root.length + 1 + rel.length)
  root.copy(out, 0)
  out[root.length] = SLASH
  out.set(rel, root.length + 1)
  return out
}

/** `dir + '/' + name` for source-relative paths (`name` when `dir` is the root). */
export function childPath(dir: Uint8Array, name: Uint8Array): Uint8Array {
  if (dir.length === 0) return name
  const out = new Uint8Array(dir.length + 1 + name.length)
  out.set(dir, 0)
  out[dir.length] = SLASH
  out.set(name, dir.length + 1)
  return out
}

/** The last component of a source-relative path (empty for the root). */
export function baseName(path: Uint8Array): Uint8Array {
  const i = path.lastIndexOf(SLASH)
  return i < 0 ? path : path.subarray(i + 1)
}

/** Compares byte strings like `memcmp` then length (pxar's name order). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b)
}
