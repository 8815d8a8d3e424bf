/**
 * The read-only filesystem over an {@link Accessor}, independent of any FUSE binding: every
 * method takes a path (as the high-level FUSE API does) and returns its result or a negated
 * errno, so it is tested without a mount and adapted to a binding in a few lines.
 */
import type { Accessor, AccessorEntry } from '@pxar/codec'
import { encodeUtf8 } from '@pxar/format'
import { accessAclXattr, defaultAclXattr } from './acl.ts'
import { ERRNO } from './errno.ts'

/** Attributes of one entry (what `stat(2)` reports). */
export interface FsStat {
  /** Inode number: stable for the archive (derived from the entry's offset); 1 for the root. */
  readonly ino: number
  /** Full `st_mode` with the file type bits. */
  readonly mode: number
  readonly nlink: number
  readonly uid: number
  readonly gid: number
  /** Device number (Linux `makedev` encoding) of character and block devices, else 0. */
  readonly rdev: number
  /** File size; symlinks: target length; others 0. */
  readonly size: number
  /** 512-byte blocks. */
  readonly blocks: number
  readonly blksize: number
  /** Modification time in seconds since the epoch (may be negative) plus nanoseconds. */
  readonly mtimeSecs: number
  readonly mtimeNanos: number
}

/** One directory entry from {@link PxarFilesystem.readdir}. */
export interface FsDirEntry {
  /** Name bytes as stored (`.` and `..` included). */
  readonly name: Uint8Array
  /** Attributes; `nlink` of subdirectories is not computed here (reported as 2). */
  readonly stat: FsStat
}

/** Filesystem statistics (what `statfs(2)` reports). */
export interface FsStatfs {
  readonly bsize: number
  readonly frsize: number
  readonly blocks: number
  readonly bfree: number
  readonly bavail: number
  readonly files: number
  readonly ffree: number
  readonly favail: number
  readonly namemax: number
}

/** Options of {@link PxarFilesystem}. */
export interface PxarFilesystemOptions {
  /**
   * `'exact'` (default): walk the archive's directory tree once in the background to count
   * hardlinks, so a hardlinked file reports its real link count (stat of a regular file waits for
   * the walk). `'fast'`: skip the walk; regular files report 1 link (as upstream's mount does).
   */
  readonly linkCounts?: 'exact' | 'fast'
  /** Paths whose entries are kept in the lookup cache (default 65536). */
  readonly cacheEntries?: number
  /** Directory listings kept for repeated access, counted in entries (default 65536). */
  readonly cacheListingEntries?: number
  /** Called with unexpected errors (archive corruption, I/O) before they are answered with EIO. */
  readonly onError?: (err: unknown, operation: string, path: string) => void
}

/** A resolved path: the entry and, for hardlinks, the file it links to. */
interface Node {
  readonly entry: AccessorEntry
  /** The entry whose attributes and content are reported (the target for hardlinks). */
  readonly file: AccessorEntry
  readonly ino: number
}

interface OpenFile {
  readonly file: AccessorEntry
}

const ROOT_INO = 1
const utf8 = new TextDecoder()
const decodeUtf8 = (b: Uint8Array): string => utf8.decode(b)
const TWO_32 = 0x1_0000_0000
const BLKSIZE = 4096
/** Distinct non-hardlink entries start at least 74 bytes apart (FILENAME + ENTRY items). */
const INO_GRANULE = 64
const XATTR_ACCESS = 'system.posix_acl_access'
const XATTR_DEFAULT = 'system.posix_acl_default'
const XATTR_CAPS = 'security.capability'

/** Inode number of the entry whose FILENAME header is at `offset` (32 bits, as the binding takes). */
function inoOf(offset: number | undefined): number {
  if (offset === undefined) return ROOT_INO
  const ino = (Math.floor(offset / INO_GRANULE) + 2) % TWO_32
  return ino < 2 ? ino + 2 : ino
}

/** Linux `makedev`. */
function makedev(major: number, minor: number): number {
  return ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/')
  return i <= 0 ? '/' : path.slice(0, i)
}

function normalize(path: string): string | undefined {
  if (path === '' || path[0] !== '/') return undefined
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1)
  return path
}

/**
 * A bounded cache with LRU-like eviction in O(1): two generations; hits in the old one move to
 * the young one, and when the young one is full the old one is dropped. (Reordering a single
 * Map on every hit and evicting from its front leaves tombstones that make eviction quadratic.)
 */
class Lru<K, V> {
  readonly #half: number
  readonly #weigh: (v: V) => number
  #young = new Map<K, V>()
  #old = new Map<K, V>()
  #weight = 0
  constructor(max: number, weigh: (v: V) => number = () => 1) {
    this.#half = Math.max(1, Math.floor(max / 2))
    this.#weigh = weigh
  }
  get(k: K): V | undefined {
    const v = this.#young.get(k)
    if (v !== undefined) return v
    const o = this.#old.get(k)
    if (o !== undefined) {
      this.#old.delete(k)
      this.set(k, o)
    }
    return o
  }
  set(k: K, v: V): void {
    const w = this.#weigh(v)
    if (w > this.#half) return
    if (this.#weight + w > this.#half) {
      this.#old = this.#young
      this.#young = new Map()
      this.#weight = 0
    }
    this.#young.set(k, v)
    this.#weight += w
  }
  get size(): number {
    return this.#young.size + this.#old.size
  }
}

/**
 * A read-only filesystem view of an archive. Paths are absolute, `/`-separated strings (UTF-8
 * names); methods resolve to their result or to a negated errno (`-ERRNO.ENOENT`). Every write
 * operation answers `-ERRNO.EROFS`.
 *
 * Inode numbers derive from the entry's offset in the (metadata) archive, so they are stable
 * across mounts; a hardlink reports the inode, attributes and content of the file it links to.
 * @example
 * const fs = new PxarFilesystem(await openAccessor(readAt))
 * const st = await fs.getattr('/etc/hostname')
 * if (typeof st !== 'number') console.log(st.size)
 */
export class PxarFilesystem {
  readonly accessor: Accessor
  readonly #nodes: Lru<string, Node>
  readonly #listings: Lru<string, Node[]>
  readonly #dirLinks = new Lru<number, number>(65536)
  readonly #files = new Map<number, OpenFile>()
  #nextFd = 1
  readonly #exact: boolean
  #links: Promise<Map<number, number>> | undefined
  readonly #onError: ((err: unknown, operation: string, path: string) => void) | undefined

  /**
   * @throws {RangeError} on a non-positive cache size.
   */
  constructor(accessor: Accessor, options: PxarFilesystemOptions = {}) {
    const cache = options.cacheEntries ?? 65536
    const listing = options.cacheListingEntries ?? 65536
    if (!Number.isSafeInteger(cache) || cache < 1) throw new RangeError('cacheEntries must be positive')
    if (!Number.isSafeInteger(listing) || listing < 1)
      throw new RangeError('cacheListingEntries must be positive')
    this.accessor = accessor
    this.#nodes = new Lru(cache)
    this.#listings = new Lru(listing, (v) => v.length + 1)
    this.#exact = (options.linkCounts ?? 'exact') === 'exact'
    this.#onError = options.onError
  }

  /**
   * Starts the hardlink walk now (in `'exact'` mode it otherwise starts with the first stat of a
   * regular file); resolves when it is done.
   */
  async prepare(): Promise<void> {
    await this.accessor.root()
    if (this.#exact) await this.#linkCounts()
  }

  /** Number of open file handles (from {@link PxarFilesystem.open}). */
  get openFiles(): number {
    return this.#files.size
  }

  #fail(err: unknown, operation: string, path: string): number {
    if (this.#onError !== undefined) this.#onError(err, operation, path)
    // corrupt archives and failing sources are I/O errors to the reader
    return -ERRNO.EIO
  }

  #linkCounts(): Promise<Map<number, number>> {
    if (this.#links === undefined) {
      this.#links = this.#walkLinks()
      // a failed walk is retried on the next request
      this.#links.catch(() => {
        this.#links = undefined
      })
    }
    return this.#links
  }

  /** Counts, per hardlink target (FILENAME offset), the hardlinks pointing at it. */
  async #walkLinks(): Promise<Map<number, number>> {
    const counts = new Map<number, number>()
    const stack: AccessorEntry[] = [await this.accessor.root()]
    while (stack.length > 0) {
      const dir = stack.pop()!
      for await (const child of this.accessor.readDir(dir)) {
        if (child.kind === 'directory') stack.push(child)
        else if (child.kind === 'hardlink') {
          const target = child.filenameOffset! - child.linkOffset!
          counts.set(target, (counts.get(target) ?? 1) + 1)
        }
      }
    }
    return counts
  }

  async #node(entry: AccessorEntry): Promise<Node> {
    if (entry.kind === 'hardlink') {
      const file = await this.accessor.followHardlink(entry)
      return { entry, file, ino: inoOf(file.range.filenameHeaderOffset) }
    }
    return { entry, file: entry, ino: inoOf(entry.range.filenameHeaderOffset) }
  }

  /** Resolves a path to its node, or a negated errno. */
  async #resolve(path: string): Promise<Node | number> {
    const p = normalize(path)
    if (p === undefined) return -ERRNO.ENOENT
    const hit = this.#nodes.get(p)
    if (hit !== undefined) return hit
    if (p === '/') {
      const root = await this.accessor.root()
      const node: Node = { entry: root, file: root, ino: ROOT_INO }
      this.#nodes.set(p, node)
      return node
    }
    const parent = await this.#resolve(parentOf(p))
    if (typeof parent === 'number') return parent
    if (parent.file.kind !== 'directory') return -ERRNO.ENOTDIR
    const name = encodeUtf8(p.slice(p.lastIndexOf('/') + 1))
    if (name.length > 255) return -ERRNO.ENAMETOOLONG
    const child = await this.accessor.lookupChild(parent.file, name)
    if (child === undefined) return -ERRNO.ENOENT
    const node = await this.#node(child)
    this.#nodes.set(p, node)
    return node
  }

  /** The children of a directory node (cached for repeated listings). */
  async #children(path: string, dir: Node): Promise<Node[]> {
    const key = normalize(path) ?? path
    const hit = this.#listings.get(key)
    if (hit !== undefined) return hit
    const out: Node[] = []
    let subdirs = 0
    for await (const child of this.accessor.readDir(dir.file)) {
      const node = await this.#node(child)
      if (node.file.kind === 'directory') subdirs++
      out.push(node)
    }
    this.#dirLinks.set(dir.ino, 2 + subdirs)
    this.#listings.set(key, out)
    return out
  }

  async #stat(node: Node, path: string, exactLinks: boolean): Promise<FsStat> {
    const f = node.file
    const meta = f.metadata.stat
    let nlink = 1
    let size = 0
    let rdev = 0
    switch (f.kind) {
      case 'directory': {
        if (exactLinks) {
          let n = this.#dirLinks.get(node.ino)
          if (n === undefined) {
            await this.#children(path, node)
            n = this.#dirLinks.get(node.ino) ?? 2
          }
          nlink = n
        } else nlink = 2
        break
      }
      case 'file':
        size = f.fileSize ?? 0
        if (exactLinks && this.#exact) {
          const counts = await this.#linkCounts()
          nlink = counts.get(f.range.filenameHeaderOffset ?? -1) ?? 1
        }
        break
      case 'symlink':
        size = f.linkTarget?.length ?? 0
        break
      case 'char_device':
      case 'block_device':
        rdev = makedev(Number(f.device?.major ?? 0), Number(f.device?.minor ?? 0))
        break
      default:
        break
    }
    return {
      ino: node.ino,
      mode: meta.mode,
      nlink,
      uid: meta.uid,
      gid: meta.gid,
      rdev,
      size,
      blocks: Math.ceil(size / 512),
      blksize: BLKSIZE,
      mtimeSecs: Number(meta.mtime.secs),
      mtimeNanos: meta.mtime.nanos,
    }
  }

  /** `stat(2)` of a path. */
  async getattr(path: string): Promise<FsStat | number> {
    try {
      const node = await this.#resolve(path)
      if (typeof node === 'number') return node
      return await this.#stat(node, path, true)
    } catch (err) {
      return this.#fail(err, 'getattr', path)
    }
  }

  /** The entries of a directory, starting with `.` and `..`, in archive (goodbye table) order. */
  async readdir(path: string): Promise<FsDirEntry[] | number> {
    try {
      const node = await this.#resolve(path)
      if (typeof node === 'number') return node
      if (node.file.kind !== 'directory') return -ERRNO.ENOTDIR
      const p = normalize(path) ?? path
      const children = await this.#children(p, node)
      const parent = p === '/' ? node : await this.#resolve(parentOf(p))
      const out: FsDirEntry[] = [
        { name: new Uint8Array([0x2e]), stat: await this.#stat(node, p, false) },
        {
          name: new Uint8Array([0x2e, 0x2e]),
          stat: await this.#stat(typeof parent === 'number' ? node : parent, parentOf(p), false),
        },
      ]
      const prefix = p === '/' ? '/' : `${p}/`
      for (const child of children) {
        // the listing resolves every child: remember them for the lookups that usually follow
        this.#nodes.set(prefix + decodeUtf8(child.entry.name), child)
        out.push({ name: child.entry.name, stat: await this.#stat(child, '', false) })
      }
      return out
    } catch (err) {
      return this.#fail(err, 'readdir', path)
    }
  }

  /** The target of a symlink. */
  async readlink(path: string): Promise<Uint8Array | number> {
    try {
      const node = await this.#resolve(path)
      if (typeof node === 'number') return node
      if (node.file.kind !== 'symlink') return -ERRNO.EINVAL
      return node.file.linkTarget ?? new Uint8Array(0)
    } catch (err) {
      return this.#fail(err, 'readlink', path)
    }
  }

  /**
   * Opens a regular file for reading; returns a file handle for {@link PxarFilesystem.read}.
   * Opening for writing answers EROFS.
   */
  async open(path: string, flags = 0): Promise<number> {
    try {
      if ((flags & 3) !== 0) return -ERRNO.EROFS
      const node = await this.#resolve(path)
      if (typeof node === 'number') return node
      if (node.file.kind === 'directory') return -ERRNO.EISDIR
      if (node.file.kind !== 'file') return -ERRNO.EINVAL
      let fd = this.#nextFd
      while (this.#files.has(fd)) fd = fd >= 0x7fff_ffff ? 1 : fd + 1
      this.#nextFd = fd >= 0x7fff_ffff ? 1 : fd + 1
      this.#files.set(fd, { file: node.file })
      return fd
    } catch (err) {
      return this.#fail(err, 'open', path)
    }
  }

  /** Reads from an open file into `buf` at `position`; returns the byte count (0 at the end). */
  async read(fd: number, buf: Uint8Array, position: number): Promise<number> {
    const f = this.#files.get(fd)
    if (f === undefined) return -ERRNO.EBADF
    if (!Number.isSafeInteger(position) || position < 0) return -ERRNO.EINVAL
    try {
      // read until full or the end, as FUSE treats a short read as end of file
      let done = 0
      while (done < buf.length) {
        const n = await this.accessor.readFileAt(
          f.file,
          done === 0 ? buf : buf.subarray(done),
          position + done,
        )
        if (n <= 0) break
        done += n
      }
      return done
    } catch (err) {
      return this.#fail(err, 'read', f.file.pathString)
    }
  }

  /** Closes a file handle. */
  release(fd: number): number {
    return this.#files.delete(fd) ? 0 : -ERRNO.EBADF
  }

  /** Extended attribute names (including ACLs and file capabilities). */
  async listxattr(path: string): Promise<Uint8Array[] | number> {
    try {
      const node = await this.#resolve(path)
      if (typeof node === 'number') return node
      const meta = node.file.metadata
      const names = meta.xattrs.map((x) => x.name)
      if (meta.fcaps !== undefined) names.push(encodeUtf8(XATTR_CAPS))
      if (accessAclXattr(meta.acl, meta.stat.mode) !== undefined) names.push(encodeUtf8(XATTR_ACCESS))
      if (defaultAclXattr(meta.acl) !== undefined) names.push(encodeUtf8(XATTR_DEFAULT))
      return names
    } catch (err) {
      return this.#fail(err, 'listxattr', path)
    }
  }

  /** The value of one extended attribute; ENODATA when the entry has none by that name. */
  async getxattr(path: string, name: string | Uint8Array): Promise<Uint8Array | number> {
    try {
      const node = await this.#resolve(path)
      if (typeof node === 'number') return node
      const meta = node.file.metadata
      const text = typeof name === 'string' ? name : decodeUtf8(name)
      const bytes = typeof name === 'string' ? encodeUtf8(name) : name
      let value: Uint8Array | undefined
      if (text === XATTR_ACCESS) value = accessAclXattr(meta.acl, meta.stat.mode)
      else if (text === XATTR_DEFAULT) value = defaultAclXattr(meta.acl)
      else if (text === XATTR_CAPS) value = meta.fcaps
      else {
        for (const x of meta.xattrs) {
          if (x.name.length === bytes.length && x.name.every((b, i) => b === bytes[i])) {
            value = x.value
            break
          }
        }
      }
      return value ?? -ERRNO.ENODATA
    } catch (err) {
      return this.#fail(err, 'getxattr', path)
    }
  }

  /** `access(2)`: any existing path is readable as far as the filesystem is concerned; W_OK is EROFS. */
  async access(path: string, mode: number): Promise<number> {
    const node = await this.#resolve(path).catch((err: unknown) => this.#fail(err, 'access', path))
    if (typeof node === 'number') return node
    return (mode & 2) !== 0 ? -ERRNO.EROFS : 0
  }

  /** Filesystem statistics: the archive size in blocks, nothing free. */
  statfs(): FsStatfs {
    return {
      bsize: BLKSIZE,
      frsize: BLKSIZE,
      blocks: Math.ceil(this.accessor.size / BLKSIZE),
      bfree: 0,
      bavail: 0,
      files: this.#nodes.size,
      ffree: 0,
      favail: 0,
      namemax: 255,
    }
  }

  /** Every modifying operation (create, write, mkdir, unlink, setxattr, chmod, …): EROFS. */
  readonly(): number {
    return -ERRNO.EROFS
  }
}
