/**
 * A {@link FileSystemSource} over the local Linux filesystem, rooted at a directory: lstat with
 * nanosecond mtimes, hardlink identity, device numbers, xattrs, POSIX ACLs and file capabilities.
 */
import {
  type BigIntStats,
  closeSync,
  constants as fsConstants,
  fstatSync,
  lstatSync,
  openSync,
  read,
  readlinkSync,
  readSync,
  realpathSync,
  statSync,
} from 'node:fs'
import { readdir } from 'node:fs/promises'
import { constants as osConstants } from 'node:os'
import { getAttributeSync, listAttributesSync } from '@napi-rs/xattr'
import {
  type Acl,
  createMetadata,
  isPxarError,
  PxarError,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
  type Xattr,
} from '@pxar/format'
import type {
  DirListing,
  FileSystemSource,
  ListDirOptions,
  SourceEntry,
  SourceKind,
  SourceSkip,
} from '../source.ts'
import { accessAcl, defaultAcl, parsePosixAcl } from './acl.ts'
import { baseName, checkSourcePath, childPath, compareBytes, joinPath } from './path.ts'

/** Options of {@link LocalClient}. */
export interface LocalClientOptions {
  /** How many entries are read between two turns of the event loop (default 128). */
  readonly slice?: number
  /** Size of the pieces {@link LocalClient.readFile} yields (default 256 KiB). */
  readonly readChunkSize?: number
}

const XATTR_FCAPS = 'security.capability'
const XATTR_ACL_ACCESS = 'system.posix_acl_access'
const XATTR_ACL_DEFAULT = 'system.posix_acl_default'

/**
 * Whether the backup stores an xattr, as the Proxmox backup client decides: `user.*`,
 * `trusted.*` and `security.NTACL` (Samba's Windows ACLs), 1..255 bytes. ACLs and file
 * capabilities have their own records; other namespaces (`security.selinux`, …) are not kept.
 */
export function isStoredXattrName(name: string): boolean {
  const len = Buffer.byteLength(name)
  if (len === 0 || len > 255) return false
  return name.startsWith('user.') || name.startsWith('trusted.') || name === 'security.NTACL'
}

/**
 * Decodes a Linux `dev_t` (glibc encoding) into major/minor numbers.
 * @example
 * decodeRdev(0x0801n) // { major: 8, minor: 1 }
 */
export function decodeRdev(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xffff_f000n)
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & 0xffff_ff00n)
  return { major: Number(major), minor: Number(minor) }
}

/** The {@link SourceKind} of an `st_mode`, or `undefined` for an unknown type. */
export function kindOfMode(mode: number): SourceKind | undefined {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return 'file'
    case S_IFDIR:
      return 'directory'
    case S_IFLNK:
      return 'symlink'
    case S_IFBLK:
      return 'block-device'
    case S_IFCHR:
      return 'char-device'
    case S_IFIFO:
      return 'fifo'
    case S_IFSOCK:
      return 'socket'
    default:
      return undefined
  }
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

const errnoNames = new Map<number, string>(Object.entries(osConstants.errno).map(([k, v]) => [v, k]))

/** The errno code of a Node fs error or an `@napi-rs/xattr` error (`… (os error N)`). */
export function errnoCode(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code
    if (typeof code === 'string' && code.startsWith('E')) return code
    const m = /\(os error (\d+)\)/.exec(err.message)
    if (m) return errnoNames.get(Number(m[1])) ?? `errno ${m[1]}`
  }
  return 'EIO'
}

const utf8 = new TextDecoder('utf-8', { fatal: true })
/** The path as a string when it is valid UTF-8 (the xattr binding takes strings only). */
function pathString(p: Buffer): string | undefined {
  try {
    return utf8.decode(p)
  } catch {
    return undefined
  }
}

const NS = 1_000_000_000n
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)
const OPEN_FILE =
  fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NOCTTY | fsConstants.O_NONBLOCK
const OPEN_DIR = fsConstants.O_RDONLY | fsConstants.O_DIRECTORY | fsConstants.O_NOFOLLOW

/** A child that vanished or could not be read while listing. */
class SkipEntry extends Error {
  readonly errno: string
  constructor(errno: string, message: string) {
    super(message)
    this.errno = errno
  }
}

/**
 * Reads a directory tree on the local filesystem. Paths are relative to `root`; the client never
 * follows symlinks and refuses paths that leave the root: directories are opened component by
 * component with `O_NOFOLLOW` and entries are reached through the directory's descriptor
 * (`/proc/self/fd/N/name`), so the tree cannot be swapped underneath and paths may exceed PATH_MAX.
 *
 * xattrs, ACLs and file capabilities are collected for regular files and directories only, as
 * the Proxmox backup client does. Not collected: chattr flags and quota project ids (they need ioctls Node cannot issue), so
 * `stat.flags` is 0 and `quotaProjectId` undefined. Entries whose name is not valid UTF-8 get no
 * xattrs, ACLs or capabilities (the xattr binding takes string paths).
 * @example
 * const src = new LocalClient('/srv/data')
 * const { entries } = await src.listDir(new Uint8Array(0))
 */
export class LocalClient implements FileSystemSource {
  /** The resolved root directory. */
  readonly root: string
  readonly #rootBuf: Buffer
  readonly #slice: number
  readonly #chunk: number

  /**
   * @throws {PxarError} `ERR_PXAR_NOT_FOUND` when `root` does not exist, `ERR_PXAR_IO` when it is
   *   not a directory.
   */
  constructor(root: string, options: LocalClientOptions = {}) {
    if (typeof root !== 'string' || root.length === 0) throw new TypeError('root must be a non-empty string')
    const slice = options.slice ?? 128
    const chunk = options.readChunkSize ?? 256 * 1024
    if (!Number.isInteger(slice) || slice < 1) throw new RangeError('slice must be a positive integer')
    if (!Number.isInteger(chunk) || chunk < 1 || chunk > 16 * 1024 * 1024)
      throw new RangeError('readChunkSize must be 1..16 MiB')
    let resolved: string
    try {
      resolved = realpathSync(root)
      if (!statSync(resolved).isDirectory()) throw new PxarError('ERR_PXAR_IO', `${root} is not a directory`)
    } catch (err) {
      throw fsError(err, root)
    }
    this.root = resolved
    this.#rootBuf = Buffer.from(resolved)
    this.#slice = slice
    this.#chunk = chunk
  }

  /**
   * The entry at `path` (`''` is the root).
   * @throws {PxarError} `ERR_PXAR_BAD_NAME` for a path outside the root or through a symlink,
   *   `ERR_PXAR_NOT_FOUND` when it does not exist, `ERR_PXAR_IO` for other failures.
   */
  async stat(path: Uint8Array, options: ListDirOptions = {}): Promise<SourceEntry> {
    checkSourcePath(path)
    const slash = path.lastIndexOf(0x2f)
    const dir = this.#openDir(path.length === 0 ? path : path.subarray(0, Math.max(slash, 0)))
    try {
      const base = fdPath(dir)
      return readEntry(
        path.length === 0 ? joinPath(base, DOT) : joinPath(base, baseName(path)),
        baseName(path),
        options,
      )
    } catch (err) {
      if (err instanceof SkipEntry)
        throw new PxarError(
          err.errno === 'ENOENT' ? 'ERR_PXAR_NOT_FOUND' : 'ERR_PXAR_IO',
          `${show(path)}: ${err.message}`,
        )
      throw fsError(err, path)
    } finally {
      closeSync(dir)
    }
  }

  /**
   * All children of the directory at `path`, sorted bytewise by name. Children that vanish or
   * cannot be read while listing are reported in `skipped`.
   * @throws {PxarError} as {@link LocalClient.stat}, and `ERR_PXAR_IO` when `path` is not a directory.
   */
  async listDir(path: Uint8Array, options: ListDirOptions = {}): Promise<DirListing> {
    checkSourcePath(path)
    const dir = this.#openDir(path)
    try {
      return await this.#list(dir, path, options)
    } finally {
      closeSync(dir)
    }
  }

  async #list(dir: number, path: Uint8Array, options: ListDirOptions): Promise<DirListing> {
    const base = fdPath(dir)
    let names: Buffer[]
    try {
      names = await readdir(base, { encoding: 'buffer' })
    } catch (err) {
      throw fsError(err, path)
    }
    names.sort(compareBytes)
    const entries: SourceEntry[] = []
    const skipped: SourceSkip[] = []
    for (let i = 0; i < names.length; i++) {
      if (i > 0 && i % this.#slice === 0) await yieldToEventLoop()
      const name = names[i]!
      try {
        entries.push(readEntry(joinPath(base, name), name, options))
      } catch (err) {
        const code = err instanceof SkipEntry ? err.errno : errnoCode(err)
        skipped.push({
          path: childPath(path, name),
          code,
          message: err instanceof Error ? err.message : String(err),
        })
      }
    }
    return { entries, skipped }
  }

  /**
   * Streams a regular file's bytes in `[start, end)` (`end` defaults to the size when opened; a
   * file that shrinks meanwhile ends early).
   * @throws {PxarError} `ERR_PXAR_IO` when `path` is not a regular file, plus as {@link LocalClient.stat}.
   */
  async *readFile(path: Uint8Array, start = 0, end?: number): AsyncIterable<Uint8Array> {
    checkSourcePath(path)
    if (!Number.isSafeInteger(start) || start < 0)
      throw new RangeError('start must be a non-negative integer')
    if (end !== undefined && (!Number.isSafeInteger(end) || end < start))
      throw new RangeError('end must be an integer >= start')
    if (path.length === 0) throw new PxarError('ERR_PXAR_IO', 'the root is not a regular file')
    const slash = path.lastIndexOf(0x2f)
    const dir = this.#openDir(path.subarray(0, Math.max(slash, 0)))
    let fd: number
    try {
      fd = openSync(joinPath(fdPath(dir), baseName(path)), OPEN_FILE)
    } catch (err) {
      throw fsError(err, path)
    } finally {
      closeSync(dir)
    }
    try {
      const st = fstatSync(fd)
      if (!st.isFile()) throw new PxarError('ERR_PXAR_IO', `${show(path)} is not a regular file`)
      const stop = end ?? st.size
      let pos = start
      if (stop - pos <= this.#chunk) {
        // Small files (most of a tree): one synchronous read, no thread-pool round trip.
        const want = stop - pos
        const buf = Buffer.allocUnsafe(want)
        let got = 0
        while (got < want) {
          const n = readSync(fd, buf, got, want - got, pos + got)
          if (n === 0) break
          got += n
        }
        if (got > 0) yield got === want ? buf : buf.subarray(0, got)
        return
      }
      while (pos < stop) {
        const want = Math.min(this.#chunk, stop - pos)
        const buf = Buffer.allocUnsafe(want)
        const bytesRead = await readAt(fd, buf, want, pos)
        if (bytesRead === 0) break
        pos += bytesRead
        yield bytesRead === want ? buf : buf.subarray(0, bytesRead)
      }
    } catch (err) {
      throw fsError(err, path)
    } finally {
      closeSync(fd)
    }
  }

  /** Nothing to release. */
  async close(): Promise<void> {}

  /**
   * Opens the directory `rel` one component at a time relative to the previous one, never
   * following a symlink: the result is inside the root whatever happens to the tree meanwhile,
   * and paths longer than PATH_MAX work.
   */
  #openDir(rel: Uint8Array): number {
    // Synchronous: a few cheap syscalls per call, several times faster than a thread-pool round
    // trip for each component (the tree walk opens a directory for every file it reads).
    let fd: number
    try {
      fd = openSync(this.#rootBuf, OPEN_DIR)
    } catch (err) {
      throw fsError(err, '')
    }
    let start = 0
    while (start < rel.length) {
      let end = rel.indexOf(0x2f, start)
      if (end < 0) end = rel.length
      let next: number
      const at = joinPath(fdPath(fd), rel.subarray(start, end))
      try {
        next = openSync(at, OPEN_DIR)
      } catch (err) {
        const code = errnoCode(err)
        const isLink = (code === 'ELOOP' || code === 'ENOTDIR') && isSymlink(at)
        closeSync(fd)
        if (isLink)
          throw new PxarError(
            'ERR_PXAR_BAD_NAME',
            `${show(rel.subarray(0, end))} is a symlink; not following it`,
          )
        throw fsError(err, rel.subarray(0, end))
      }
      closeSync(fd)
      fd = next
      start = end + 1
    }
    return fd
  }
}

/** Positional read on the thread pool (large files). */
function readAt(fd: number, buf: Buffer, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buf, 0, length, position, (err, n) => (err ? reject(err) : resolve(n)))
  })
}

function isSymlink(path: Buffer): boolean {
  try {
    return lstatSync(path).isSymbolicLink()
  } catch {
    return false
  }
}

/** `/proc/self/fd/N`: reaches an open directory by its descriptor. */
function fdPath(fd: number): Buffer {
  return Buffer.from(`/proc/self/fd/${fd}`)
}

const DOT = new Uint8Array([0x2e])

function show(path: Uint8Array | string): string {
  return JSON.stringify(typeof path === 'string' ? path : Buffer.from(path).toString('utf8'))
}

function fsError(err: unknown, path: Uint8Array | string): PxarError {
  if (isPxarError(err)) return err
  const code = errnoCode(err)
  // Node's message names the path it opened (a /proc/self/fd/N/... alias): say the source path only.
  const raw = err instanceof Error ? err.message : String(err)
  const what = code === 'ELOOP' ? 'is a symbolic link' : raw.replace(/, \w+ '.*'$/s, '')
  const message = `${show(path)}: ${what}`
  return new PxarError(code === 'ENOENT' ? 'ERR_PXAR_NOT_FOUND' : 'ERR_PXAR_IO', message, { cause: err })
}

/**
 * Reads one entry with synchronous calls: a directory is processed in slices between which the
 * event loop runs, which is several times faster than a thread-pool round trip per call.
 */
function readEntry(full: Buffer, name: Uint8Array, options: ListDirOptions): SourceEntry {
  let st: BigIntStats
  try {
    st = lstatSync(full, { bigint: true })
  } catch (err) {
    throw new SkipEntry(errnoCode(err), `lstat: ${err instanceof Error ? err.message : String(err)}`)
  }
  const mode = Number(st.mode)
  const kind = kindOfMode(mode)
  if (kind === undefined) throw new SkipEntry('EINVAL', `unknown file type in mode ${mode.toString(8)}`)
  const ns = st.mtimeNs
  let secs = ns / NS
  if (ns < 0n && secs * NS !== ns) secs -= 1n
  const nanos = Number(ns - secs * NS)

  const xattrs: Xattr[] = []
  let fcaps: Uint8Array | undefined
  let acl: Partial<Acl> | undefined
  const wantX = options.xattrs ?? true
  const wantA = options.acls ?? true
  const wantF = options.fcaps ?? true
  // Like the Proxmox client (which reads them through the file's fd, and opens other kinds with
  // O_PATH), only regular files and directories carry xattrs, ACLs and capabilities.
  const pathStr =
    (kind === 'file' || kind === 'directory') && (wantX || wantA || wantF) ? pathString(full) : undefined
  if (pathStr !== undefined) {
    let names: string[] = []
    try {
      names = listAttributesSync(pathStr)
    } catch (err) {
      const code = errnoCode(err)
      if (code === 'ENOENT') throw new SkipEntry(code, `listxattr: ${(err as Error).message}`)
    }
    let aclAccess: Uint8Array | undefined
    let aclDefault: Uint8Array | undefined
    for (const xname of names) {
      let want: 'x' | 'f' | 'aa' | 'ad' | undefined
      if (xname === XATTR_FCAPS) want = wantF ? 'f' : undefined
      else if (xname === XATTR_ACL_ACCESS) want = wantA ? 'aa' : undefined
      else if (xname === XATTR_ACL_DEFAULT) want = wantA && kind === 'directory' ? 'ad' : undefined
      else if (wantX && isStoredXattrName(xname)) want = 'x'
      if (want === undefined) continue
      let value: Buffer | null
      try {
        value = getAttributeSync(pathStr, xname)
      } catch (err) {
        const code = errnoCode(err)
        if (code === 'ENOENT') throw new SkipEntry(code, `getxattr: ${(err as Error).message}`)
        continue
      }
      if (value === null) continue
      if (want === 'x') xattrs.push({ name: Buffer.from(xname), value })
      else if (want === 'f') fcaps = value
      else if (want === 'aa') aclAccess = value
      else aclDefault = value
    }
    if (aclAccess !== undefined || aclDefault !== undefined) {
      const a = aclAccess && parsePosixAcl(aclAccess)
      const d = aclDefault && parsePosixAcl(aclDefault)
      acl = { ...(a ? accessAcl(a) : {}), ...(d ? defaultAcl(d) : {}) }
    }
  }

  let linkTarget: Uint8Array | undefined
  if (kind === 'symlink') {
    try {
      linkTarget = readlinkSync(full, { encoding: 'buffer' })
    } catch (err) {
      throw new SkipEntry(errnoCode(err), `readlink: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  const metadata = createMetadata({
    mode,
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtime: { secs: secs >= -MAX_SAFE && secs <= MAX_SAFE ? Number(secs) : secs, nanos },
    xattrs,
    acl,
    fcaps,
  })
  const entry: {
    -readonly [K in keyof SourceEntry]: SourceEntry[K]
  } = {
    name,
    kind,
    metadata,
    size: kind === 'file' ? Number(st.size) : 0,
    dev: st.dev.toString(),
    ino: st.ino.toString(),
    nlink: Number(st.nlink),
  }
  if (linkTarget !== undefined) entry.linkTarget = linkTarget
  if (kind === 'block-device' || kind === 'char-device') entry.rdev = decodeRdev(st.rdev)
  return entry
}
