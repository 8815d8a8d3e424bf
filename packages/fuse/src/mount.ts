/**
 * Mounting: maps {@link PxarFilesystem} onto the `fuse-native` binding (libfuse 2, high-level
 * path API) and manages the mount's lifetime.
 */
import { execFile } from 'node:child_process'
import { constants as fsConstants } from 'node:fs'
import { access, readFile, stat, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, resolve } from 'node:path'
import { PxarError } from '@pxar/format'
import { ERRNO } from './errno.ts'
import { type FsStat, PxarFilesystem, type PxarFilesystemOptions } from './filesystem.ts'
import { type MountSource, type OpenedSource, openSource } from './sources.ts'

/** Options of {@link mount}. */
export interface MountOptions extends PxarFilesystemOptions {
  /** What to mount. */
  readonly source: MountSource
  /** An existing, empty directory. */
  readonly mountpoint: string
  /** Let other users access the mount (needs `user_allow_other` in /etc/fuse.conf for non-root). */
  readonly allowOther?: boolean
  /** libfuse debug output on stderr. */
  readonly debug?: boolean
  /** Seconds the kernel may cache names and attributes (default 60; the archive never changes). */
  readonly cacheTimeout?: number
  /** The FUSE device checked before mounting (default `/dev/fuse`). */
  readonly fuseDevice?: string
  /**
   * Kernel read-ahead of the mount in KiB (default 1024; 0 keeps the kernel's 128). More read-ahead
   * keeps several read requests in flight, which sequential reads need to be fast; it is set through
   * `/sys/class/bdi` and needs root (silently skipped otherwise).
   */
  readonly readAheadKb?: number
}

/** A mounted archive. */
export interface Mounted {
  /** Absolute mountpoint. */
  readonly mountpoint: string
  readonly filesystem: PxarFilesystem
  /** Unmounts (lazily if busy) and closes the source; safe to call more than once. */
  unmount(): Promise<void>
}

/** Options of {@link mountAndWait}. */
export interface MountAndWaitOptions extends MountOptions {
  /** Signals that unmount and return (default SIGINT and SIGTERM). */
  readonly signals?: readonly NodeJS.Signals[]
  /** Aborting unmounts and returns. */
  readonly signal?: AbortSignal
  /** Called once mounted. */
  readonly onMounted?: (mounted: Mounted) => void
  /** How often to check whether the mount was removed from outside (ms, default 1000). */
  readonly pollInterval?: number
}

type Cb = (...args: unknown[]) => void
type Signal = (code: number, ...rest: unknown[]) => void
interface FuseInstance {
  mount(cb: (err: Error | null) => void): void
  unmount(cb: (err: Error | null) => void): void
}
type FuseClass = new (
  mnt: string,
  ops: Record<string, unknown>,
  opts: Record<string, unknown>,
) => FuseInstance

let fuseClass: FuseClass | undefined

/** Loads the binding once; a missing native module or libfuse is ERR_FUSE_UNAVAILABLE. */
function loadFuse(): FuseClass {
  if (fuseClass !== undefined) return fuseClass
  let Base: FuseClass
  let binding: { fuse_native_unmount(mnt: string, thread: Buffer): void }
  try {
    const req = createRequire(import.meta.url)
    Base = req('fuse-native') as FuseClass
    // the binding's own native module (cached: the same instance fuse-native uses)
    const main = req.resolve('fuse-native')
    binding = (createRequire(main)('node-gyp-build') as (dir: string) => typeof binding)(dirname(main))
  } catch (err) {
    throw new PxarError(
      'ERR_FUSE_UNAVAILABLE',
      `the fuse-native binding cannot be loaded: ${(err as Error).message}`,
      {
        cause: err,
      },
    )
  }
  // fuse-native 2.2.6 hands xattr names and values over as UTF-8 strings and ignores the
  // caller's buffer size; these overrides of its (pinned) internals answer byte-exact values and
  // ERANGE for short buffers, and add mount options it has no switch for.
  const base = Base as unknown as new (...a: unknown[]) => Record<string, unknown>
  class PxarFuse extends base {
    // fuse-native releases its native side (the libuv handle that keeps the process alive) only
    // when its own `fusermount -uz` succeeds, which it does not after an unmount from outside
    _close(cb: (err: Error | null) => void): void {
      const self = this as unknown as { mnt: string; _thread: Buffer }
      execFile('fusermount', ['-u', '-z', self.mnt], (err) => {
        isMounted(self.mnt).then(
          (still) => {
            if (err && still) return cb(err)
            try {
              binding.fuse_native_unmount(self.mnt, self._thread)
            } catch (e) {
              return cb(e as Error)
            }
            return cb(null)
          },
          (e: Error) => cb(e),
        )
      })
    }
    _fuseOptions(): string {
      const own = (this as unknown as { extraOptions: string }).extraOptions
      const o = (Base.prototype as unknown as { _fuseOptions(this: unknown): string })._fuseOptions.call(this)
      return o ? `${o},${own}` : `-o${own}`
    }
    _op_getxattr(signal: Signal, path: string, name: string, valueBuf: Buffer): void {
      const fs = (this as unknown as { pxar: PxarFilesystem }).pxar
      fs.getxattr(path, name).then(
        (value) => {
          if (typeof value === 'number') return signal(value, valueBuf.buffer)
          if (valueBuf.length === 0) return signal(value.length, valueBuf.buffer)
          if (value.length > valueBuf.length) return signal(-ERRNO.ERANGE, valueBuf.buffer)
          valueBuf.set(value)
          return signal(value.length, valueBuf.buffer)
        },
        () => signal(-ERRNO.EIO, valueBuf.buffer),
      )
    }
    _op_listxattr(signal: Signal, path: string, listBuf: Buffer): void {
      const fs = (this as unknown as { pxar: PxarFilesystem }).pxar
      fs.listxattr(path).then(
        (names) => {
          if (typeof names === 'number') return signal(names, listBuf.buffer)
          let size = 0
          for (const n of names) size += n.length + 1
          if (listBuf.length === 0) return signal(size, listBuf.buffer)
          if (size > listBuf.length) return signal(-ERRNO.ERANGE, listBuf.buffer)
          let at = 0
          for (const n of names) {
            listBuf.set(n, at)
            at += n.length
            listBuf[at++] = 0
          }
          return signal(size, listBuf.buffer)
        },
        () => signal(-ERRNO.EIO, listBuf.buffer),
      )
    }
  }
  fuseClass = PxarFuse as unknown as FuseClass
  return fuseClass
}

/** The stat object fuse-native converts (times in milliseconds: its ABI has no nanoseconds). */
function fuseStat(s: FsStat): Record<string, number> {
  const ms = Math.max(0, s.mtimeSecs * 1000 + Math.floor(s.mtimeNanos / 1e6))
  return {
    mode: s.mode,
    uid: s.uid,
    gid: s.gid,
    size: s.size,
    nlink: s.nlink,
    ino: s.ino,
    rdev: s.rdev,
    blksize: s.blksize,
    blocks: s.blocks,
    atime: ms,
    mtime: ms,
    ctime: ms,
  }
}

const utf8 = new TextDecoder()

/** The fuse-native operation table for a filesystem. */
function operations(fs: PxarFilesystem): Record<string, unknown> {
  const rofs = (...args: unknown[]) => (args[args.length - 1] as Cb)(-ERRNO.EROFS)
  const ops: Record<string, unknown> = {
    init: (cb: Cb) => cb(0),
    getattr: (path: string, cb: Cb) => {
      fs.getattr(path).then((st) => (typeof st === 'number' ? cb(st) : cb(0, fuseStat(st))))
    },
    fgetattr: (path: string, _fd: number, cb: Cb) => {
      fs.getattr(path).then((st) => (typeof st === 'number' ? cb(st) : cb(0, fuseStat(st))))
    },
    access: (path: string, mode: number, cb: Cb) => {
      fs.access(path, mode).then((r) => cb(r))
    },
    statfs: (_path: string, cb: Cb) => cb(0, fs.statfs()),
    readdir: (path: string, cb: Cb) => {
      fs.readdir(path).then((list) => {
        if (typeof list === 'number') return cb(list)
        return cb(
          0,
          list.map((e) => utf8.decode(e.name)),
          list.map((e) => fuseStat(e.stat)),
        )
      })
    },
    readlink: (path: string, cb: Cb) => {
      fs.readlink(path).then((t) => (typeof t === 'number' ? cb(t) : cb(0, utf8.decode(t))))
    },
    open: (path: string, flags: number, cb: Cb) => {
      fs.open(path, flags).then((fd) => (fd < 0 ? cb(fd) : cb(0, fd)))
    },
    opendir: (_path: string, _flags: number, cb: Cb) => cb(0, 0),
    releasedir: (_path: string, _fd: number, cb: Cb) => cb(0),
    read: (_path: string, fd: number, buf: Buffer, len: number, pos: number, cb: Cb) => {
      fs.read(fd, len === buf.length ? buf : buf.subarray(0, len), pos).then((n) => cb(n))
    },
    release: (_path: string, fd: number, cb: Cb) => cb(fs.release(fd)),
    // answered by the PxarFuse overrides; listed so the binding registers them
    getxattr: () => {},
    listxattr: () => {},
  }
  for (const op of [
    'write',
    'create',
    'truncate',
    'ftruncate',
    'utimens',
    'chown',
    'chmod',
    'mknod',
    'setxattr',
    'removexattr',
    'unlink',
    'rename',
    'link',
    'symlink',
    'mkdir',
    'rmdir',
  ]) {
    ops[op] = rofs
  }
  return ops
}

/** Absolute paths currently mounted (from /proc/self/mountinfo-like /proc/mounts). */
async function mountedPaths(): Promise<Set<string>> {
  let text: string
  try {
    text = await readFile('/proc/mounts', 'utf8')
  } catch {
    return new Set()
  }
  const out = new Set<string>()
  for (const line of text.split('\n')) {
    const f = line.split(' ')
    // mount paths escape space, tab, newline and backslash as octal
    if (f[1] !== undefined)
      out.add(f[1].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))))
  }
  return out
}

/** True when `path` is a mountpoint right now. */
export async function isMounted(path: string): Promise<boolean> {
  return (await mountedPaths()).has(resolve(path))
}

async function checkEnvironment(mountpoint: string, device: string): Promise<void> {
  try {
    await access(device, fsConstants.R_OK | fsConstants.W_OK)
  } catch (err) {
    throw new PxarError(
      'ERR_FUSE_UNAVAILABLE',
      `${device} is missing or not accessible (load the fuse module, or run the container with --device /dev/fuse)`,
      { cause: err },
    )
  }
  let st: Awaited<ReturnType<typeof stat>>
  try {
    st = await stat(mountpoint)
  } catch (err) {
    throw new PxarError('ERR_FUSE_MOUNT', `mountpoint ${mountpoint} does not exist`, { cause: err })
  }
  if (!st.isDirectory()) throw new PxarError('ERR_FUSE_MOUNT', `mountpoint ${mountpoint} is not a directory`)
  if (await isMounted(mountpoint))
    throw new PxarError('ERR_FUSE_MOUNT', `mountpoint ${mountpoint} is busy (already mounted)`)
}

function fusermount(mountpoint: string): Promise<void> {
  return new Promise((ok) => {
    execFile('fusermount', ['-u', '-z', mountpoint], () => {
      execFile('fusermount3', ['-u', '-z', mountpoint], () => ok())
    })
  })
}

/** Sets the read-ahead of the mount's backing device info (best effort). */
async function setReadAhead(mountpoint: string, kb: number): Promise<void> {
  try {
    const dev = (await stat(mountpoint, { bigint: true })).dev
    const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn))
    const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn))
    await writeFile(`/sys/class/bdi/${major}:${minor}/read_ahead_kb`, `${kb}\n`)
  } catch {
    // not root, or no sysfs: the kernel's default stays
  }
}

/**
 * Mounts an archive read-only.
 * @throws {PxarError} `ERR_FUSE_UNAVAILABLE` when /dev/fuse or the binding is missing,
 *   `ERR_FUSE_MOUNT` when the mountpoint does not exist, is not a directory, is busy or the mount
 *   fails; source errors (`ERR_PXAR_*`, `ERR_SNAPSHOT_NOT_FOUND`, `ERR_BLOB_*`).
 * @example
 * const m = await mount({ source: { kind: 'pxar', path: 'root.pxar' }, mountpoint: '/mnt/x' })
 * // … read /mnt/x …
 * await m.unmount()
 */
export async function mount(options: MountOptions): Promise<Mounted> {
  const mountpoint = resolve(options.mountpoint)
  const readAhead = options.readAheadKb ?? 1024
  if (!Number.isSafeInteger(readAhead) || readAhead < 0) throw new RangeError('invalid readAheadKb')
  const Fuse = loadFuse()
  await checkEnvironment(mountpoint, options.fuseDevice ?? '/dev/fuse')
  const src: OpenedSource = await openSource(options.source)
  const filesystem = new PxarFilesystem(src.accessor, options)
  const timeout = options.cacheTimeout ?? 60
  const fsname = src.name.replace(/[,\\]/g, '_')
  const extra = ['ro', 'use_ino', 'default_permissions', `fsname=${fsname}`, 'subtype=pxar']
  const fuse = new Fuse(mountpoint, operations(filesystem), {
    allowOther: options.allowOther === true,
    debug: options.debug === true,
    entryTimeout: timeout,
    attrTimeout: timeout,
    kernelCache: true,
    timeout: false,
  }) as FuseInstance & { pxar: PxarFilesystem; extraOptions: string }
  fuse.pxar = filesystem
  fuse.extraOptions = extra.join(',')
  try {
    await new Promise<void>((ok, fail) => fuse.mount((err) => (err ? fail(err) : ok())))
  } catch (err) {
    await src.close()
    await fusermount(mountpoint)
    throw new PxarError('ERR_FUSE_MOUNT', `mounting ${mountpoint} failed: ${(err as Error).message}`, {
      cause: err,
    })
  }
  if (readAhead > 0) await setReadAhead(mountpoint, readAhead)
  let closing: Promise<void> | undefined
  const unmount = (): Promise<void> => {
    closing ??= (async () => {
      const err = await new Promise<Error | null>((ok) => fuse.unmount((e) => ok(e)))
      if (err && (await isMounted(mountpoint))) await fusermount(mountpoint)
      await src.close()
      if (await isMounted(mountpoint)) {
        throw new PxarError('ERR_FUSE_MOUNT', `unmounting ${mountpoint} failed`, { cause: err ?? undefined })
      }
    })()
    return closing
  }
  return { mountpoint, filesystem, unmount }
}

/**
 * Mounts, then waits until a signal (SIGINT/SIGTERM by default), an abort or an unmount from
 * outside (`fusermount -u`), and unmounts cleanly. For command-line tools.
 * @throws like {@link mount}.
 * @example
 * await mountAndWait({ source: { kind: 'pxar', path: 'root.pxar' }, mountpoint: '/mnt/x' })
 */
export async function mountAndWait(options: MountAndWaitOptions): Promise<void> {
  const m = await mount(options)
  const signals = options.signals ?? ['SIGINT', 'SIGTERM']
  let done!: () => void
  const stopped = new Promise<void>((ok) => {
    done = ok
  })
  const onSignal = (): void => done()
  for (const s of signals) process.on(s, onSignal)
  const onAbort = (): void => done()
  options.signal?.addEventListener('abort', onAbort)
  if (options.signal?.aborted === true) done()
  const timer = setInterval(() => {
    isMounted(m.mountpoint).then((yes) => {
      if (!yes) done()
    })
  }, options.pollInterval ?? 1000)
  try {
    options.onMounted?.(m)
    await stopped
  } finally {
    clearInterval(timer)
    for (const s of signals) process.off(s, onSignal)
    options.signal?.removeEventListener('abort', onAbort)
    await m.unmount()
  }
}
