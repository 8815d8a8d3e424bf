/**
 * Restore: extracts a pxar archive (a local `.pxar`, a split `.mpxar` + `.ppxar` pair, or a
 * snapshot archive of a local datastore) into a target directory with its metadata.
 *
 * Safety: every name is checked (no empty, `.`, `..`, `/` or NUL names, no duplicates in a
 * directory); entries are only created directly inside directories this restore created or
 * verified (lstat: a real directory, never a symlink); files are opened with `O_EXCL|O_NOFOLLOW`;
 * symlinks are created but never followed; hardlinks may only point at files this restore wrote.
 */
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { constants, createReadStream } from 'node:fs'
import {
  chmod,
  type FileHandle,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  open,
  rmdir,
  stat,
  symlink,
  unlink,
} from 'node:fs/promises'
import { createServer } from 'node:net'
import { promisify } from 'node:util'
import { setAttribute } from '@napi-rs/xattr'
import { decode, type ReadAt } from '@pxar/codec'
import {
  type BackupDir,
  type CryptConfig,
  type Datastore,
  IndexReadAt,
  readDynamicIndexFile,
} from '@pxar/datastore'
import { ACL_NO_MASK, type Acl, isPxarError, type Metadata, PxarError } from '@pxar/format'
import { compilePattern, type PathPattern } from './patterns.ts'

const execFileP = promisify(execFile)

/** Options of the restore functions. */
export interface RestoreOptions {
  /** Replace existing non-directory entries (default false: an existing entry is an error). */
  readonly overwrite?: boolean
  /** Restore into existing directories (default false; the target itself may always exist). */
  readonly allowExistingDirs?: boolean
  /**
   * Select paths (patterns as for excludes, relative to the archive root): an entry is restored
   * when it or one of its parent directories matches; `!pattern` deselects. Default: everything.
   */
  readonly match?: readonly string[]
  /** Restore ownership (default: when running as root). */
  readonly owner?: boolean
  /** Create device nodes (default: when running as root). */
  readonly devices?: boolean
  /** Restore xattrs, ACLs and file capabilities (default true). */
  readonly xattrs?: boolean
  /** Restore POSIX ACLs (default: as `xattrs`). */
  readonly acls?: boolean
  /** Restore file capabilities (default: as `xattrs`). */
  readonly fcaps?: boolean
  /** Create FIFOs (default true). */
  readonly fifos?: boolean
  /** Create sockets (default true). */
  readonly sockets?: boolean
  /** Each entry the match patterns select, before it is extracted (path relative to the archive root). */
  readonly onEntry?: (path: string) => void
  /** Non-fatal problems (an xattr the filesystem refused, …). */
  readonly onWarning?: (path: string, message: string) => void
}

/** Counts of a restore. */
export interface RestoreResult {
  readonly entries: number
  readonly files: number
  readonly dirs: number
  readonly bytes: number
  readonly durationMs: number
}

/** What to extract: the metadata/v1 stream and, for split archives, random access to the payload. */
export interface RestoreInput {
  readonly archive: AsyncIterable<Uint8Array>
  readonly payload?: ReadAt | undefined
}

interface DirFrame {
  /** Archive path (`/`-separated, without the leading `/`; empty for the root). */
  readonly rel: string
  readonly abs: Buffer
  readonly meta: Metadata
  readonly selected: boolean
  created: boolean
  readonly names: Set<string>
}

const SLASH = Buffer.from('/')

function unsafe(message: string): PxarError {
  return new PxarError('ERR_RESTORE_UNSAFE', message)
}

function checkName(name: Uint8Array, where: string): void {
  if (name.length === 0) throw unsafe(`empty file name in ${where}`)
  if ((name.length === 1 && name[0] === 0x2e) || (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e))
    throw unsafe(`refusing '.' or '..' as a file name in ${where}`)
  if (name.includes(0x2f) || name.includes(0))
    throw unsafe(`refusing a file name containing '/' or NUL in ${where}`)
}

/** Encodes a POSIX ACL xattr value (version 2, entries sorted by tag and id). */
function aclXattr(entries: [tag: number, perm: number, id: number][]): Buffer {
  entries.sort((a, b) => a[0] - b[0] || a[2] - b[2])
  const out = Buffer.alloc(4 + 8 * entries.length)
  out.writeUInt32LE(2, 0)
  entries.forEach(([tag, perm, id], i) => {
    out.writeUInt16LE(tag, 4 + 8 * i)
    out.writeUInt16LE(perm, 6 + 8 * i)
    out.writeUInt32LE(id >>> 0, 8 + 8 * i)
  })
  return out
}

const UNDEF_ID = 0xffffffff

/** `system.posix_acl_access` for an entry, or undefined when the mode says it all. */
export function accessAclXattr(acl: Acl, mode: number): Buffer | undefined {
  if (acl.users.length === 0 && acl.groups.length === 0 && !acl.groupObj) return undefined
  const e: [number, number, number][] = [[0x01, (mode >> 6) & 7, UNDEF_ID]]
  for (const u of acl.users) e.push([0x02, Number(u.permissions), Number(u.uid)])
  if (acl.groupObj) {
    e.push([0x04, Number(acl.groupObj.permissions), UNDEF_ID])
    e.push([0x10, (mode >> 3) & 7, UNDEF_ID])
  } else {
    e.push([0x04, (mode >> 3) & 7, UNDEF_ID])
    if (acl.users.length > 0 || acl.groups.length > 0) e.push([0x10, (mode >> 3) & 7, UNDEF_ID])
  }
  for (const g of acl.groups) e.push([0x08, Number(g.permissions), Number(g.gid)])
  e.push([0x20, mode & 7, UNDEF_ID])
  return aclXattr(e)
}

/** `system.posix_acl_default` for a directory, or undefined when it has none. */
export function defaultAclXattr(acl: Acl): Buffer | undefined {
  const d = acl.default
  if (!d && acl.defaultUsers.length === 0 && acl.defaultGroups.length === 0) return undefined
  const e: [number, number, number][] = []
  const base = (tag: number, v: unknown): void => {
    if (v !== undefined && BigInt(v as number) !== ACL_NO_MASK) e.push([tag, Number(v), UNDEF_ID])
  }
  base(0x01, d?.userObjPermissions)
  base(0x04, d?.groupObjPermissions)
  base(0x20, d?.otherPermissions)
  base(0x10, d?.maskPermissions)
  for (const u of acl.defaultUsers) e.push([0x02, Number(u.permissions), Number(u.uid)])
  for (const g of acl.defaultGroups) e.push([0x08, Number(g.permissions), Number(g.gid)])
  return aclXattr(e)
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0
}

/**
 * Extracts an archive stream into `target` (created if missing).
 *
 * @throws PxarError `ERR_RESTORE_UNSAFE` for names or links that would leave the target,
 *   `ERR_RESTORE_EXISTS` for existing entries (see the options), `ERR_RESTORE_IO`, decoder errors.
 */
export async function restoreArchive(
  input: RestoreInput,
  target: string,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  const started = Date.now()
  const owner = options.owner ?? isRoot()
  const devices = options.devices ?? isRoot()
  const withXattrs = options.xattrs ?? true
  const withAcls = options.acls ?? withXattrs
  const withFcaps = options.fcaps ?? withXattrs
  const warn = (p: Buffer, m: string): void => options.onWarning?.(p.toString(), m)
  const match: PathPattern[] = (options.match ?? []).flatMap((p) => {
    const c = compilePattern(Buffer.from(p, 'utf8').toString('latin1'))
    return c ? [c] : []
  })
  const selects = (rel: string, isDir: boolean): boolean | undefined => {
    let r: boolean | undefined
    for (const p of match) if ((!p.dirOnly || isDir) && p.test(rel)) r = !p.include
    return r
  }
  const counts = { entries: 0, files: 0, dirs: 0, bytes: 0 }
  const links = new Map<number, Buffer>()
  /** FILENAME offsets of files left out by the match patterns (links to them are skipped). */
  const notSelected = new Set<number>()
  const stack: DirFrame[] = []

  const applyMeta = async (abs: Buffer, meta: Metadata, kind: string, fh?: FileHandle): Promise<void> => {
    const st = meta.stat
    try {
      if (owner) {
        if (fh) await fh.chown(st.uid, st.gid)
        else await lchown(abs, st.uid, st.gid)
      }
    } catch (err) {
      warn(abs, `chown failed: ${(err as Error).message}`)
    }
    if ((withXattrs || withAcls || withFcaps) && kind !== 'symlink') {
      const p = abs.toString()
      if (Buffer.from(p).equals(abs)) {
        const set = async (name: string, value: Uint8Array): Promise<void> => {
          try {
            await setAttribute(p, name, Buffer.from(value))
          } catch (err) {
            warn(abs, `cannot set ${name}: ${(err as Error).message}`)
          }
        }
        if (withXattrs)
          for (const x of meta.xattrs) await set(Buffer.from(x.name).toString('latin1'), x.value)
        if (withFcaps && meta.fcaps && kind === 'file') await set('security.capability', meta.fcaps)
        if (withAcls) {
          const access = accessAclXattr(meta.acl, st.mode)
          if (access) await set('system.posix_acl_access', access)
          const def = kind === 'directory' ? defaultAclXattr(meta.acl) : undefined
          if (def) await set('system.posix_acl_default', def)
        }
      } else if ((withXattrs && meta.xattrs.length > 0) || (withFcaps && meta.fcaps))
        warn(abs, 'xattrs not restored (name is not UTF-8)')
    }
    const secs = utimeArg(st.mtime.secs, st.mtime.nanos)
    try {
      if (kind !== 'symlink') {
        if (fh) await fh.chmod(st.mode & 0o7777)
        else await chmod(abs, st.mode & 0o7777)
      }
      if (fh) await fh.utimes(secs, secs)
      else await lutimes(abs, secs, secs)
    } catch (err) {
      throw new PxarError('ERR_RESTORE_IO', `cannot set metadata of ${abs.toString()}`, { cause: err })
    }
  }

  /** Makes room for a new entry at `abs`; true when an existing directory may be reused. */
  const prepare = async (abs: Buffer, isDir: boolean): Promise<boolean> => {
    const st = await lstat(abs).catch((err: { code?: string }) => {
      if (err.code === 'ENOENT') return undefined
      throw new PxarError('ERR_RESTORE_IO', `cannot stat ${abs.toString()}`, { cause: err })
    })
    if (!st) return false
    if (st.isDirectory()) {
      if (isDir && options.allowExistingDirs) return true
      if (isDir || !options.overwrite) throw new PxarError('ERR_RESTORE_EXISTS', `${abs.toString()} exists`)
      try {
        await rmdir(abs)
      } catch (err) {
        throw new PxarError('ERR_RESTORE_EXISTS', `${abs.toString()} is a non-empty directory`, {
          cause: err,
        })
      }
      return false
    }
    if (!options.overwrite) throw new PxarError('ERR_RESTORE_EXISTS', `${abs.toString()} exists`)
    await unlink(abs)
    return false
  }

  const createDir = async (frame: DirFrame, isTarget: boolean): Promise<void> => {
    if (frame.created) return
    const reuse = isTarget ? true : await prepare(frame.abs, true)
    if (!reuse || isTarget) {
      try {
        await mkdir(frame.abs, isTarget ? { recursive: true, mode: 0o700 } : { mode: 0o700 })
      } catch (err) {
        if ((err as { code?: string }).code !== 'EEXIST' || !(isTarget || reuse))
          throw new PxarError('ERR_RESTORE_IO', `cannot create ${frame.abs.toString()}`, { cause: err })
      }
    }
    // The target itself may be a symlink the user chose; anything below it must be real.
    const st = isTarget ? await stat(frame.abs) : await lstat(frame.abs)
    if (!st.isDirectory() || st.isSymbolicLink())
      throw unsafe(`${frame.abs.toString()} is not a real directory`)
    frame.created = true
  }

  const finishDir = async (frame: DirFrame): Promise<void> => {
    if (frame.created) await applyMeta(frame.abs, frame.meta, 'directory')
  }

  const ensureParents = async (): Promise<void> => {
    for (let i = 0; i < stack.length; i++) {
      const f = stack[i] as DirFrame
      if (!f.created) await createDir(f, i === 0)
    }
  }

  let sawRoot = false
  for await (const e of decode(input.archive, input.payload ? { payload: input.payload } : {})) {
    if (e.kind === 'version' || e.kind === 'prelude') continue
    const path = Buffer.from(e.path)
    if (!sawRoot) {
      if (e.kind !== 'directory' || path.toString() !== '/')
        throw unsafe('archive does not start with its root directory')
      sawRoot = true
      stack.push({
        rel: '',
        abs: Buffer.from(target),
        meta: e.metadata,
        selected: match.length === 0,
        created: false,
        names: new Set(),
      })
      if (match.length === 0) await ensureParents()
      counts.entries++
      continue
    }
    if (path[0] !== 0x2f) throw unsafe('entry path is not absolute within the archive')
    const rel = path.subarray(1)
    const cut = rel.lastIndexOf(0x2f)
    const parentRel = cut < 0 ? '' : rel.subarray(0, cut).toString('latin1')
    const name = Buffer.from(e.name)
    checkName(name, parentRel || '/')
    if (!rel.subarray(cut + 1).equals(name)) throw unsafe('entry name does not match its path')
    while (stack.length > 0 && (stack[stack.length - 1] as DirFrame).rel !== parentRel) {
      await finishDir(stack.pop() as DirFrame)
    }
    const parent = stack[stack.length - 1]
    if (!parent) throw unsafe(`entry ${path.toString()} is outside the archive tree`)
    const key = name.toString('latin1')
    if (parent.names.has(key)) throw unsafe(`duplicate entry ${path.toString()}`)
    parent.names.add(key)
    counts.entries++
    const relText = rel.toString('latin1')
    const isDir = e.kind === 'directory'
    const sel = selects(relText, isDir)
    const selected = sel ?? parent.selected
    const abs = Buffer.concat([parent.abs, SLASH, name])
    if (isDir) {
      counts.dirs++
      stack.push({ rel: relText, abs, meta: e.metadata, selected, created: false, names: new Set() })
      if (selected) {
        await ensureParents()
        options.onEntry?.(rel.toString())
      }
      continue
    }
    if (!selected) {
      if (e.kind === 'file' && e.filenameOffset !== undefined) notSelected.add(e.filenameOffset)
      continue
    }
    await ensureParents()
    options.onEntry?.(rel.toString())
    switch (e.kind) {
      case 'file': {
        await prepare(abs, false)
        let fh: FileHandle
        try {
          fh = await open(
            abs,
            constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
            0o600,
          )
        } catch (err) {
          throw new PxarError('ERR_RESTORE_IO', `cannot create ${abs.toString()}`, { cause: err })
        }
        try {
          if (e.content) {
            for await (const piece of e.content) {
              await fh.write(piece)
              counts.bytes += piece.length
            }
          }
          await applyMeta(abs, e.metadata, 'file', fh)
        } finally {
          await fh.close()
        }
        counts.files++
        if (e.filenameOffset !== undefined) links.set(e.filenameOffset, abs)
        break
      }
      case 'hardlink': {
        const targetOffset =
          e.filenameOffset !== undefined && e.linkOffset !== undefined ? e.filenameOffset - e.linkOffset : -1
        const to = links.get(targetOffset)
        if (!to && notSelected.has(targetOffset)) {
          warn(abs, 'hardlink skipped: its target was not selected')
          break
        }
        if (!to) throw unsafe(`hardlink ${path.toString()} does not point at a file restored before it`)
        await prepare(abs, false)
        await link(to, abs)
        counts.files++
        break
      }
      case 'symlink': {
        await prepare(abs, false)
        await symlink(Buffer.from(e.linkTarget ?? new Uint8Array(0)), abs)
        await applyMeta(abs, e.metadata, 'symlink')
        break
      }
      case 'fifo':
      case 'char_device':
      case 'block_device': {
        if (e.kind === 'fifo' && options.fifos === false) break
        if (e.kind !== 'fifo' && !devices) {
          warn(abs, 'device node skipped (not permitted)')
          break
        }
        await prepare(abs, false)
        // mknod(1) takes the name as a string: create the node under a temporary ASCII name in
        // the same (verified) directory, reached through its descriptor (any bytes, any length),
        // and hardlink it to its real name.
        const tmpName = `.pxar-restore-${randomUUID()}.node`
        const tmp = Buffer.concat([parent.abs, SLASH, Buffer.from(tmpName)])
        try {
          await inDirectory(parent.abs, (dir) =>
            execFileP('mknod', [
              '-m',
              '600',
              '--',
              `${dir}/${tmpName}`,
              ...(e.kind === 'fifo'
                ? ['p']
                : [
                    e.kind === 'char_device' ? 'c' : 'b',
                    String(e.device?.major ?? 0),
                    String(e.device?.minor ?? 0),
                  ]),
            ]),
          )
        } catch (err) {
          warn(abs, `cannot create node: ${(err as Error).message}`)
          break
        }
        try {
          await link(tmp, abs)
        } catch (err) {
          throw new PxarError('ERR_RESTORE_IO', `cannot create ${abs.toString()}`, { cause: err })
        } finally {
          await unlink(tmp).catch(() => {})
        }
        await applyMeta(abs, e.metadata, e.kind)
        break
      }
      case 'socket': {
        if (options.sockets === false) break
        await prepare(abs, false)
        // Node removes a listening socket's file when it closes: bind a temporary name in the
        // same (verified) directory, reached through its descriptor (so neither non-UTF-8 names
        // nor the 108-byte limit of socket paths matter), hardlink the socket inode to its real
        // name, then close.
        const tmpName = `.pxar-restore-${randomUUID()}.sock`
        const tmp = Buffer.concat([parent.abs, SLASH, Buffer.from(tmpName)])
        try {
          const srv = createServer()
          await inDirectory(
            parent.abs,
            (dir) =>
              new Promise<void>((resolve, reject) => {
                srv.once('error', reject)
                srv.listen(`${dir}/${tmpName}`, () => resolve())
              }),
          )
          try {
            await link(tmp, abs)
          } finally {
            await new Promise<void>((resolve) => srv.close(() => resolve()))
            await unlink(tmp).catch(() => {})
          }
          await applyMeta(abs, e.metadata, 'socket')
        } catch (err) {
          warn(abs, `cannot create socket: ${(err as Error).message}`)
        }
        break
      }
      default:
        throw unsafe(`unexpected entry kind ${e.kind}`)
    }
  }
  if (!sawRoot) throw unsafe('empty archive')
  while (stack.length > 0) await finishDir(stack.pop() as DirFrame)
  return { ...counts, durationMs: Date.now() - started }
}

/**
 * Runs `fn` with a short path naming the directory `dir` through an open descriptor
 * (`/proc/<pid>/fd/<n>`, valid for child processes too), so that tools taking string paths
 * reach directories with any name bytes and any path length. Falls back to the path itself
 * when `/proc` is not available.
 */
async function inDirectory<T>(dir: Buffer, fn: (path: string) => Promise<T>): Promise<T> {
  let fh: FileHandle
  try {
    fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW)
  } catch (err) {
    throw new PxarError('ERR_RESTORE_IO', `cannot open ${dir.toString()}`, { cause: err })
  }
  try {
    const viaFd = `/proc/${process.pid}/fd/${fh.fd}`
    const usable = await stat(viaFd).then(
      (st) => st.isDirectory(),
      () => false,
    )
    return await fn(usable ? viaFd : dir.toString())
  } finally {
    await fh.close()
  }
}

/** A {@link ReadAt} over a local file. */
async function fileReadAt(path: string): Promise<{ readAt: ReadAt; close: () => Promise<void> }> {
  const fh = await open(path, 'r')
  const { size } = await fh.stat()
  return {
    readAt: {
      size,
      read: async (buf: Uint8Array, position: number) =>
        (await fh.read(buf, 0, buf.length, position)).bytesRead,
    },
    close: () => fh.close(),
  }
}

/** Extracts a local `.pxar` (v1) or `.mpxar` with its `.ppxar` (`payload`) into `target`. */
export async function restoreFile(
  archive: string,
  target: string,
  options: RestoreOptions & { readonly payload?: string } = {},
): Promise<RestoreResult> {
  let payloadPath = options.payload
  if (payloadPath === undefined && archive.endsWith('.mpxar')) payloadPath = `${archive.slice(0, -6)}.ppxar`
  const payload = payloadPath === undefined ? undefined : await fileReadAt(payloadPath)
  try {
    return await restoreArchive(
      { archive: createReadStream(archive), payload: payload?.readAt },
      target,
      options,
    )
  } finally {
    await payload?.close()
  }
}

/**
 * Extracts a snapshot archive of a local datastore (`root.pxar.didx`, `root.mpxar.didx`, with or
 * without `.didx`), streaming chunks through {@link IndexReadAt}; indexes are checked against the
 * manifest (signature verified when a key is given).
 */
export async function restoreSnapshot(
  ds: Datastore,
  snapshot: BackupDir,
  archive: string,
  target: string,
  options: RestoreOptions & { readonly crypt?: CryptConfig } = {},
): Promise<RestoreResult> {
  const name = archive.endsWith('.didx') ? archive : `${archive}.didx`
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]*\.(pxar|mpxar)\.didx$/.test(name))
    throw new TypeError(`not a pxar archive name: ${archive}`)
  const manifest = await ds.readManifest(snapshot, options.crypt ? { key: options.crypt } : {})
  const open_ = async (n: string): Promise<IndexReadAt> => {
    const f = manifest.files.find((x) => x.filename === n)
    if (!f) throw new PxarError('ERR_SNAPSHOT_NOT_FOUND', `snapshot has no archive ${n}`)
    const index = await readDynamicIndexFile(`${ds.snapshotDir(snapshot)}/${n}`).catch((err: unknown) => {
      if (isPxarError(err)) throw err
      if ((err as { code?: string }).code === 'ENOENT')
        throw new PxarError('ERR_SNAPSHOT_NOT_FOUND', `archive ${n} of the manifest is missing`, {
          cause: err,
        })
      throw new PxarError('ERR_STORE_IO', `cannot read ${n}`, { cause: err })
    })
    index.verifyCsum(Buffer.from(f.csum, 'hex'))
    if (f.cryptMode === 'encrypt' && !options.crypt)
      throw new PxarError('ERR_BLOB_NO_KEY', `${n} is encrypted`)
    return new IndexReadAt(
      index,
      { read: (d) => ds.chunkStore.read(d) },
      f.cryptMode === 'encrypt' ? { crypt: options.crypt } : {},
    )
  }
  const meta = await open_(name)
  const payload = name.endsWith('.mpxar.didx')
    ? await open_(name.replace(/\.mpxar\.didx$/, '.ppxar.didx'))
    : undefined
  return restoreArchive({ archive: meta.stream(), payload }, target, options)
}

/**
 * The seconds value for `utimes`: Node passes a double to libuv, which keeps whole microseconds
 * (truncating). A double near 1.8e9 s resolves about 240 ns, so aiming at the middle of the
 * wanted microsecond makes the truncation land exactly on it.
 */
export function utimeArg(secs: number | bigint, nanos: number): number {
  return Number(secs) + (Math.floor(nanos / 1000) * 1000 + 500) / 1e9
}
