/**
 * A PBS datastore directory: namespaces, groups (with `owner`), snapshots, writing snapshots,
 * the protected flag and removal. Layout as in `datastore.md` §1-2.
 *
 * Snapshot visibility: a snapshot is written in place (like PBS) and becomes *finished* only
 * when its `index.json.blob` is renamed into place, which is the last step of
 * {@link SnapshotWriter.finish}. Listings show finished snapshots unless asked otherwise, so a
 * writer that dies leaves nothing visible (index files are `*.tmp_didx`/`*.tmp_fidx` until closed).
 */
import { createHash } from 'node:crypto'
import { unlinkSync } from 'node:fs'
import { mkdir, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { PxarError, PxarFormatError } from '@pxar/format'
import { ioError, writeFileAtomic } from './atomic-file.ts'
import {
  type BackupDir,
  type BackupGroup,
  type BackupNamespace,
  checkGroup,
  checkNamespace,
  compareGroups,
  formatBackupTime,
  groupPath,
  namespacePath,
  parseBackupTime,
  snapshotPath,
} from './backup-dir.ts'
import { blobCrcOk, decodeBlob, encodeBlob } from './blob.ts'
import type { JsonObject } from './canonical-json.ts'
import {
  ChunkStore,
  type ChunkStoreOptions,
  type CreateChunkStoreOptions,
  processAlive,
} from './chunk-store.ts'
import {
  BACKUP_TYPES,
  type BackupManifest,
  CLIENT_LOG_BLOB_NAME,
  type CryptMode,
  MANIFEST_BLOB_NAME,
  type ManifestFile,
  type ManifestKey,
  manifestToString,
  parseManifest,
} from './manifest.ts'
import {
  computePruneInfo,
  type KeepOptions,
  keepsSomething,
  type PruneMark,
  type PruneOptions,
} from './prune.ts'

const PROTECTED_NAME = '.protected'

/**
 * Directory (in the datastore root; GC skips names starting with `.`) of the cross-process
 * group locks: `.locks/<ns path>/<type>/<id>.lck`, created exclusively while a backup of the
 * group runs. PBS `flock`s the group directory instead, which Node cannot do.
 */
export const GROUP_LOCKS_DIR = '.locks'

/** What a group lock file records (JSON). */
export interface GroupLockInfo {
  /** Process holding the lock. */
  readonly pid: number
  /** Backup time of the snapshot being written. */
  readonly snapshot: number
  /** Backup time of the base ("previous") snapshot the running backup reads from, if any. */
  readonly base?: number
}
const SNAPSHOT_FILE = /^.*\.([fd]idx|blob)$/

/**
 * Absolute paths of the groups being backed up, the snapshots being written and their base
 * snapshots, by any {@link Datastore} object of this process (other processes: group lock files).
 */
const IN_USE = new Set<string>()

/** A snapshot as listed by {@link Datastore.listSnapshots}. */
export interface SnapshotInfo {
  readonly dir: BackupDir
  /** Backup time (same as `dir.time`). */
  readonly time: number
  /** Absolute path of the snapshot directory. */
  readonly path: string
  /** Archive files (`*.didx`, `*.fidx`, `*.blob`), sorted. */
  readonly files: readonly string[]
  /** Has `index.json.blob`. */
  readonly finished: boolean
  readonly protected: boolean
}

/** Options of {@link Datastore.listSnapshots}. */
export interface ListSnapshotsOptions {
  /** Also list snapshots without a manifest (backups in progress or aborted). Default false. */
  readonly includeUnfinished?: boolean
}

/** Options of {@link Datastore.beginSnapshot}. */
export interface BeginSnapshotOptions {
  /** Owner written to a new group's `owner` file; must match an existing group's owner. */
  readonly owner?: string
}

/** Options of {@link SnapshotWriter.finish}. */
export interface FinishSnapshotOptions {
  /** Sign the manifest (`encrypt` and `sign-only` backups). */
  readonly key?: ManifestKey
  /** Initial `unprotected` data of the manifest. */
  readonly unprotected?: JsonObject
  /**
   * A complete manifest to store as it is instead of one built from the added archives: what a
   * backup server does with the manifest its client uploaded (files, signature and `unprotected`
   * are kept; `key` and `unprotected` are then ignored). Its type, id and time must be the
   * snapshot's.
   */
  readonly manifest?: BackupManifest
}

/** One prune decision, from {@link Datastore.prune}. */
export interface PruneResult {
  readonly snapshot: SnapshotInfo
  readonly mark: PruneMark
}

/** The server checks the CRC of every uploaded blob. */
function checkBlobCrc(blob: Uint8Array): void {
  if (!blobCrcOk(blob)) throw new PxarFormatError('ERR_BLOB_CRC', 'blob has a wrong CRC checksum', 8)
}

function isNotFound(err: unknown): boolean {
  return (err as { code?: string } | undefined)?.code === 'ENOENT'
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    if (isNotFound(err)) return false
    throw ioError(`unable to stat ${path}`, err)
  }
}

async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path)
  } catch (err) {
    if (isNotFound(err)) return []
    throw ioError(`unable to list ${path}`, err)
  }
}

/**
 * A datastore rooted at a directory.
 *
 * @example
 * ```ts
 * const ds = await Datastore.create('/backup/store1')
 * const w = await ds.beginSnapshot({ ns: [], type: 'host', id: 'web', time: 1700000000 }, { owner: 'root@pam' })
 * await w.addBlob('qemu-server.conf.blob', encodeBlob(conf, { compress: true }))
 * await w.finish()
 * ```
 */
export class Datastore {
  readonly base: string
  readonly chunkStore: ChunkStore
  readonly #locked = IN_USE

  private constructor(base: string, chunkStore: ChunkStore) {
    this.base = base
    this.chunkStore = chunkStore
  }

  /**
   * Creates a datastore (chunk store with `.lock`; all 65536 prefix dirs unless `prefixDirs: 'lazy'`).
   * @throws PxarError `ERR_STORE_LAYOUT` if one exists already; `ERR_STORE_IO`.
   */
  static async create(
    base: string,
    options: CreateChunkStoreOptions & ChunkStoreOptions = {},
  ): Promise<Datastore> {
    return new Datastore(base, await ChunkStore.create(base, options))
  }

  /** Opens an existing datastore. @throws PxarError `ERR_STORE_LAYOUT`. */
  static async open(base: string, options: ChunkStoreOptions = {}): Promise<Datastore> {
    return new Datastore(base, await ChunkStore.open(base, options))
  }

  /** Absolute path of a namespace directory. */
  namespaceDir(ns: BackupNamespace): string {
    return join(this.base, namespacePath(ns))
  }
  /** Absolute path of a group directory. */
  groupDir(g: BackupGroup): string {
    return join(this.base, groupPath(g))
  }
  /** Absolute path of a snapshot directory. */
  snapshotDir(s: BackupDir): string {
    return join(this.base, snapshotPath(s))
  }

  /** Creates a namespace (its parent must exist). @throws PxarError `ERR_SNAPSHOT_NOT_FOUND`. */
  async createNamespace(ns: BackupNamespace): Promise<void> {
    checkNamespace(ns)
    if (ns.length === 0) return
    if (!(await this.namespaceExists(ns.slice(0, -1)))) {
      throw new PxarError('ERR_SNAPSHOT_NOT_FOUND', `parent namespace of '${ns.join('/')}' not found`)
    }
    try {
      await mkdir(this.namespaceDir(ns), { recursive: true })
    } catch (err) {
      throw ioError('unable to create namespace', err)
    }
  }

  /** True for the root namespace and for created namespaces. */
  async namespaceExists(ns: BackupNamespace): Promise<boolean> {
    return ns.length === 0 || exists(this.namespaceDir(ns))
  }

  /** Direct child namespaces of `parent`. */
  async listNamespaces(parent: BackupNamespace = []): Promise<string[][]> {
    const names = await listDir(join(this.namespaceDir(parent), 'ns'))
    return names
      .filter((n) => /^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(n))
      .sort()
      .map((n) => [...parent, n])
  }

  /** Groups of a namespace, in server order (`ct` < `host` < `vm`, then id). */
  async listGroups(ns: BackupNamespace = []): Promise<BackupGroup[]> {
    const out: BackupGroup[] = []
    const nsDir = this.namespaceDir(ns)
    for (const type of BACKUP_TYPES) {
      for (const id of await listDir(join(nsDir, type))) {
        if (!/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(id)) continue
        if (!(await stat(join(nsDir, type, id)).catch(() => undefined))?.isDirectory()) continue
        out.push({ ns, type, id })
      }
    }
    return out.sort(compareGroups)
  }

  /** Owner of a group (first line of `owner`, trailing whitespace trimmed), if any. */
  async getOwner(g: BackupGroup): Promise<string | undefined> {
    try {
      const text = await readFile(join(this.groupDir(g), 'owner'), 'utf8')
      return (text.split('\n')[0] ?? '').trimEnd()
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw ioError('unable to read owner', err)
    }
  }

  /** Overwrites a group's owner. */
  async setOwner(g: BackupGroup, owner: string): Promise<void> {
    await writeFileAtomic(join(this.groupDir(g), 'owner'), `${owner}\n`)
  }

  /** Snapshots of a group, oldest first. */
  async listSnapshots(g: BackupGroup, options: ListSnapshotsOptions = {}): Promise<SnapshotInfo[]> {
    checkGroup(g)
    const out: SnapshotInfo[] = []
    for (const name of await listDir(this.groupDir(g))) {
      const time = parseBackupTime(name)
      if (time === undefined) continue
      const info = await this.snapshotInfo({ ...g, time }).catch((err) => {
        if (err instanceof PxarError && err.code === 'ERR_SNAPSHOT_NOT_FOUND') return undefined
        throw err
      })
      if (info && (info.finished || options.includeUnfinished)) out.push(info)
    }
    return out.sort((a, b) => a.dir.time - b.dir.time)
  }

  /** Facts about one snapshot. @throws PxarError `ERR_SNAPSHOT_NOT_FOUND`. */
  async snapshotInfo(s: BackupDir): Promise<SnapshotInfo> {
    const path = this.snapshotDir(s)
    let names: string[]
    try {
      names = await readdir(path)
    } catch (err) {
      if (isNotFound(err) || (err as { code?: string }).code === 'ENOTDIR') {
        throw new PxarError('ERR_SNAPSHOT_NOT_FOUND', `snapshot ${snapshotPath(s)} not found`)
      }
      throw ioError('unable to list snapshot', err)
    }
    const files = names.filter((n) => SNAPSHOT_FILE.test(n)).sort()
    return {
      dir: s,
      time: s.time,
      path,
      files,
      finished: files.includes(MANIFEST_BLOB_NAME),
      protected: names.includes(PROTECTED_NAME),
    }
  }

  /** Newest finished snapshot of a group, if any. */
  async lastSnapshot(g: BackupGroup): Promise<SnapshotInfo | undefined> {
    const list = await this.listSnapshots(g)
    return list[list.length - 1]
  }

  /**
   * The base ("previous") snapshot a new backup of the group may reuse, as PBS picks it: the
   * newest finished snapshot, unless its manifest records `verify_state.state == "failed"` (or
   * cannot be read), in which case there is none (no fallback to older snapshots).
   */
  async previousSnapshot(g: BackupGroup): Promise<SnapshotInfo | undefined> {
    const last = await this.lastSnapshot(g)
    if (!last) return undefined
    const m = await this.readManifest(last.dir).catch(() => undefined)
    if (!m) return undefined
    const v = m.unprotected.verify_state
    if (v && typeof v === 'object' && !Array.isArray(v) && (v as { state?: unknown }).state === 'failed')
      return undefined
    return last
  }

  /** Path of a group's cross-process lock file (see {@link GROUP_LOCKS_DIR}). */
  groupLockPath(g: BackupGroup): string {
    return join(this.base, GROUP_LOCKS_DIR, `${groupPath(g)}.lck`)
  }

  /**
   * The running backup of a group, as recorded by its lock file, if a live process holds it
   * (this process included).
   */
  async groupLockHolder(g: BackupGroup): Promise<GroupLockInfo | undefined> {
    let text: string
    try {
      text = await readFile(this.groupLockPath(g), 'utf8')
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw ioError('unable to read group lock', err)
    }
    const info = parseLockInfo(text)
    if (!info || !processAlive(info.pid)) return undefined
    if (info.pid === process.pid && !this.#locked.has(resolve(this.groupDir(g)))) return undefined
    return info
  }

  /**
   * Takes the cross-process group lock: the lock file is created exclusively; one left by a dead
   * process (or by an earlier datastore object of this process that no longer holds it) is
   * taken over.
   */
  async #lockGroup(g: BackupGroup, info: GroupLockInfo): Promise<() => void> {
    const path = this.groupLockPath(g)
    try {
      await mkdir(dirname(path), { recursive: true })
    } catch (err) {
      throw ioError('unable to create the lock directory', err)
    }
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        // temp file + link(): the lock appears with its content, or not at all
        await writeFileAtomic(path, JSON.stringify(info), { noReplace: true })
        return () => {
          try {
            unlinkSync(path)
          } catch {
            // already gone
          }
        }
      } catch (err) {
        if ((err as { cause?: { code?: string } }).cause?.code !== 'EEXIST') throw err
        const holder = await this.groupLockHolder(g)
        if (holder && holder.pid !== process.pid)
          throw new PxarError(
            'ERR_SNAPSHOT_LOCKED',
            `another backup is already running (pid ${holder.pid}, ${formatBackupTime(holder.snapshot)})`,
          )
        await unlink(path).catch(() => {})
      }
    }
    throw new PxarError('ERR_SNAPSHOT_LOCKED', 'unable to take the group lock')
  }

  /** True while a backup (this or another process) writes the snapshot or reads it as its base. */
  async snapshotInUse(s: BackupDir): Promise<boolean> {
    if (this.#locked.has(resolve(this.snapshotDir(s)))) return true
    const holder = await this.groupLockHolder(s)
    return holder !== undefined && (holder.snapshot === s.time || holder.base === s.time)
  }

  /**
   * Reads and parses a snapshot's manifest; with a key its signature is verified.
   * @throws PxarError `ERR_SNAPSHOT_NOT_FOUND`, blob errors, `ERR_MANIFEST_*`.
   */
  async readManifest(s: BackupDir, options: { key?: ManifestKey } = {}): Promise<BackupManifest> {
    let blob: Uint8Array
    try {
      blob = await readFile(join(this.snapshotDir(s), MANIFEST_BLOB_NAME))
    } catch (err) {
      if (isNotFound(err)) throw new PxarError('ERR_SNAPSHOT_NOT_FOUND', `${snapshotPath(s)} has no manifest`)
      throw ioError('unable to read manifest', err)
    }
    return parseManifest(decodeBlob(blob), options)
  }

  /**
   * Rewrites a manifest's `unprotected` part (notes, verify state), keeping the signature:
   * the blob is replaced atomically.
   */
  async updateManifest(
    s: BackupDir,
    update: (unprotected: JsonObject) => JsonObject,
  ): Promise<BackupManifest> {
    const m = await this.readManifest(s)
    const next: BackupManifest = { ...m, unprotected: update(m.unprotected) }
    const blob = encodeBlob(new TextEncoder().encode(manifestToString(next)), { compress: true })
    await writeFileAtomic(join(this.snapshotDir(s), MANIFEST_BLOB_NAME), blob)
    return next
  }

  /** Sets or clears the `.protected` marker. */
  async setProtected(s: BackupDir, value: boolean): Promise<void> {
    const info = await this.snapshotInfo(s)
    const p = join(info.path, PROTECTED_NAME)
    try {
      if (value) await writeFile(p, '', { flag: 'a' })
      else await unlink(p).catch((err) => (isNotFound(err) ? undefined : Promise.reject(err)))
    } catch (err) {
      throw ioError('unable to change the protected flag', err)
    }
  }

  /**
   * Removes a snapshot directory.
   * @throws PxarError `ERR_SNAPSHOT_PROTECTED` unless `force`; `ERR_SNAPSHOT_LOCKED` while being written.
   */
  async removeSnapshot(s: BackupDir, options: { force?: boolean } = {}): Promise<void> {
    const info = await this.snapshotInfo(s)
    if (info.protected && !options.force) {
      throw new PxarError('ERR_SNAPSHOT_PROTECTED', `snapshot ${snapshotPath(s)} is protected`)
    }
    if (await this.snapshotInUse(s))
      throw new PxarError('ERR_SNAPSHOT_LOCKED', `snapshot ${snapshotPath(s)} is in use`)
    await rm(info.path, { recursive: true, force: true })
  }

  /**
   * Prunes a group: computes the marks (see {@link computePruneInfo}; without any keep option
   * everything is kept, as PBS does) and, unless `dryRun`, removes the `remove` snapshots.
   */
  async prune(
    g: BackupGroup,
    keep: KeepOptions,
    options: PruneOptions & { dryRun?: boolean } = {},
  ): Promise<PruneResult[]> {
    const list = await this.listSnapshots(g, { includeUnfinished: true })
    const keepAll = !keepsSomething(keep)
    const marks = computePruneInfo(list, keep, options).map(
      ({ snapshot, mark }): PruneResult => ({
        snapshot,
        mark: keepAll && mark === 'remove' ? 'keep' : mark,
      }),
    )
    if (!options.dryRun) {
      for (const r of marks) {
        if (r.mark === 'remove' && !(await this.snapshotInUse(r.snapshot.dir)))
          await this.removeSnapshot(r.snapshot.dir)
      }
    }
    return marks.sort((a, b) => b.snapshot.dir.time - a.snapshot.dir.time)
  }

  /**
   * Starts writing a snapshot: creates the group (with `owner`) if needed and the snapshot
   * directory, registers a writer with the chunk store (GC protection).
   *
   * @throws PxarError `ERR_SNAPSHOT_LOCKED` (a backup of this group is running),
   *   `ERR_SNAPSHOT_EXISTS`, `ERR_SNAPSHOT_INVALID` (not newer than the last snapshot, owner
   *   mismatch), `ERR_SNAPSHOT_NOT_FOUND` (namespace missing).
   */
  async beginSnapshot(s: BackupDir, options: BeginSnapshotOptions = {}): Promise<SnapshotWriter> {
    checkGroup(s)
    formatBackupTime(s.time)
    if (s.time < 1) throw new RangeError('backup time must be at least 1')
    if (!(await this.namespaceExists(s.ns)))
      throw new PxarError('ERR_SNAPSHOT_NOT_FOUND', 'namespace not found')
    const gdir = this.groupDir(s)
    if (this.#locked.has(resolve(gdir)))
      throw new PxarError('ERR_SNAPSHOT_LOCKED', 'another backup is already running')
    this.#locked.add(resolve(gdir))
    let release: (() => void) | undefined
    let unlockGroup: (() => void) | undefined
    let basePath: string | undefined
    try {
      // Validate before the group lock file exists: a bad type or id never creates anything.
      const last = await this.lastSnapshot(s)
      if (last && s.time <= last.dir.time) {
        throw new PxarError('ERR_SNAPSHOT_INVALID', 'backup timestamp is older than last backup')
      }
      const previous = await this.previousSnapshot(s)
      unlockGroup = await this.#lockGroup(s, {
        pid: process.pid,
        snapshot: s.time,
        ...(previous ? { base: previous.time } : {}),
      })
      await mkdir(gdir, { recursive: true })
      const owner = options.owner ?? 'root@pam'
      try {
        await writeFile(join(gdir, 'owner'), `${owner}\n`, { flag: 'wx' })
      } catch (err) {
        if ((err as { code?: string }).code !== 'EEXIST') throw ioError('unable to write owner', err)
        const current = await this.getOwner(s)
        if (current !== owner) {
          throw new PxarError('ERR_SNAPSHOT_INVALID', `backup owner check failed (${owner} != ${current})`)
        }
      }
      // Another process may have finished a backup between the first check and the lock.
      const newest = await this.lastSnapshot(s)
      if (newest && s.time <= newest.dir.time) {
        throw new PxarError('ERR_SNAPSHOT_INVALID', 'backup timestamp is older than last backup')
      }
      const base = newest?.time === previous?.time ? previous : await this.previousSnapshot(s)
      const path = this.snapshotDir(s)
      try {
        await mkdir(path)
      } catch (err) {
        if ((err as { code?: string }).code === 'EEXIST') {
          throw new PxarError('ERR_SNAPSHOT_EXISTS', `backup directory ${snapshotPath(s)} already exists`)
        }
        throw ioError('unable to create snapshot directory', err)
      }
      this.#locked.add(resolve(path))
      if (base) {
        basePath = base.path
        this.#locked.add(resolve(basePath))
      }
      release = this.chunkStore.registerWriter()
      const unlock = unlockGroup
      return new SnapshotWriter(this, s, path, base, () => {
        release?.()
        this.#locked.delete(resolve(path))
        if (basePath) this.#locked.delete(resolve(basePath))
        this.#locked.delete(resolve(gdir))
        unlock()
      })
    } catch (err) {
      release?.()
      if (basePath) this.#locked.delete(resolve(basePath))
      unlockGroup?.()
      this.#locked.delete(resolve(gdir))
      throw err
    }
  }

  /**
   * Stores the client log of a finished snapshot (an encoded DataBlob; fails if one exists).
   * @throws PxarError `ERR_SNAPSHOT_NOT_FOUND`, `ERR_SNAPSHOT_EXISTS`, `ERR_BLOB_*`.
   */
  async writeClientLog(s: BackupDir, blob: Uint8Array): Promise<void> {
    const info = await this.snapshotInfo(s)
    if (!info.finished) throw new PxarError('ERR_SNAPSHOT_NOT_FOUND', 'snapshot is not finished')
    checkBlobCrc(blob)
    try {
      await writeFileAtomic(join(info.path, CLIENT_LOG_BLOB_NAME), blob, { noReplace: true })
    } catch (err) {
      if ((err as { cause?: { code?: string } }).cause?.code === 'EEXIST') {
        throw new PxarError('ERR_SNAPSHOT_EXISTS', 'client log already exists')
      }
      throw err
    }
  }
}

/**
 * Writes one snapshot. Add archives (blobs directly; indexes are written by the caller, e.g.
 * with `DynamicIndexFileWriter.create(writer.filePath(name))`, and registered with
 * {@link SnapshotWriter.addIndex}), then {@link SnapshotWriter.finish} writes the manifest.
 */
export class SnapshotWriter {
  readonly datastore: Datastore
  readonly dir: BackupDir
  /** Absolute path of the snapshot directory. */
  readonly path: string
  /**
   * The base snapshot of this backup ({@link Datastore.previousSnapshot} when the writer was
   * created); it cannot be removed or pruned while the writer is open.
   */
  readonly previous: SnapshotInfo | undefined
  readonly #files: ManifestFile[] = []
  readonly #release: () => void
  #done = false

  /** @internal use {@link Datastore.beginSnapshot}. */
  constructor(
    datastore: Datastore,
    dir: BackupDir,
    path: string,
    previous: SnapshotInfo | undefined,
    release: () => void,
  ) {
    this.datastore = datastore
    this.dir = dir
    this.path = path
    this.previous = previous
    this.#release = release
  }

  #check(name: string, ext: RegExp): void {
    if (this.#done) throw new TypeError('snapshot writer already finished')
    if (!/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(name) || !ext.test(name)) {
      throw new PxarError('ERR_SNAPSHOT_INVALID', `invalid archive name '${name}'`)
    }
    if (
      name === MANIFEST_BLOB_NAME ||
      name === CLIENT_LOG_BLOB_NAME ||
      this.#files.some((f) => f.filename === name)
    ) {
      throw new PxarError('ERR_SNAPSHOT_EXISTS', `archive '${name}' already added`)
    }
  }

  /** Absolute path for an archive file of this snapshot. */
  filePath(name: string): string {
    return join(this.path, name)
  }

  /**
   * Stores an encoded DataBlob as `<name>.blob` and lists it in the manifest
   * (size = encoded size, csum = SHA-256 of the encoded bytes).
   */
  async addBlob(name: string, blob: Uint8Array, cryptMode: CryptMode = 'none'): Promise<ManifestFile> {
    this.#check(name, /\.blob$/)
    checkBlobCrc(blob)
    await writeFileAtomic(this.filePath(name), blob)
    const file: ManifestFile = {
      filename: name,
      cryptMode,
      size: blob.length,
      csum: createHash('sha256').update(blob).digest('hex'),
    }
    this.#files.push(file)
    return file
  }

  /** Lists an index (already closed under its final name) in the manifest. */
  async addIndex(
    name: string,
    summary: { csum: Uint8Array | string; size: number },
    cryptMode: CryptMode = 'none',
  ): Promise<ManifestFile> {
    this.#check(name, /\.[fd]idx$/)
    if (!(await exists(this.filePath(name)))) {
      throw new PxarError('ERR_SNAPSHOT_INVALID', `index '${name}' has not been written`)
    }
    const csum =
      typeof summary.csum === 'string'
        ? summary.csum.toLowerCase()
        : Buffer.from(summary.csum).toString('hex')
    const file: ManifestFile = { filename: name, cryptMode, size: summary.size, csum }
    this.#files.push(file)
    return file
  }

  /**
   * Writes `index.json.blob` (compressed, never encrypted; signed with `key`), which makes the
   * snapshot visible, and releases the group lock.
   */
  async finish(options: FinishSnapshotOptions = {}): Promise<BackupManifest> {
    if (this.#done) throw new TypeError('snapshot writer already finished')
    const given = options.manifest
    if (
      given &&
      (given.backupType !== this.dir.type ||
        given.backupId !== this.dir.id ||
        given.backupTime !== this.dir.time)
    ) {
      throw new PxarError('ERR_SNAPSHOT_INVALID', 'manifest does not belong to this snapshot')
    }
    const manifest: BackupManifest = given ?? {
      backupType: this.dir.type,
      backupId: this.dir.id,
      backupTime: this.dir.time,
      files: this.#files,
      unprotected: options.unprotected ?? {},
      signature: null,
    }
    const text = manifestToString(manifest, options.key && !given ? { key: options.key } : {})
    await writeFileAtomic(
      join(this.path, MANIFEST_BLOB_NAME),
      encodeBlob(new TextEncoder().encode(text), { compress: true }),
    )
    this.#done = true
    this.#release()
    return parseManifest(text)
  }

  /** Abandons the snapshot: removes its directory (as the server does for failed sessions). */
  async abort(): Promise<void> {
    if (this.#done) return
    this.#done = true
    try {
      await rm(this.path, { recursive: true, force: true })
    } finally {
      this.#release()
    }
  }
}

function parseLockInfo(text: string): GroupLockInfo | undefined {
  try {
    const v = JSON.parse(text) as { pid?: unknown; snapshot?: unknown; base?: unknown }
    if (!Number.isSafeInteger(v.pid) || (v.pid as number) <= 0 || !Number.isSafeInteger(v.snapshot))
      return undefined
    return {
      pid: v.pid as number,
      snapshot: v.snapshot as number,
      ...(Number.isSafeInteger(v.base) ? { base: v.base as number } : {}),
    }
  } catch {
    return undefined
  }
}
