/**
 * The backup engine: walks a {@link FileSystemSource}, encodes pxar (v1 or split v2) while it
 * walks, and streams the archive through the chunk/hash/encode pipeline into a
 * {@link BackupSession}. Memory stays bounded: file contents are streamed piecewise from the
 * source into the encoder and from there into the chunker.
 */

import { createHash } from 'node:crypto'
import {
  type Accessor,
  type AccessorEntry,
  BufferSink,
  Encoder,
  type LinkOffset,
  openAccessor,
} from '@pxar/codec'
import {
  type BlobEncoder,
  CATALOG_NAME,
  CatalogWriter,
  type CryptConfig,
  type CryptMode,
  checkManifestFingerprint,
  createBlobEncoder,
  DynamicIndex,
  decodeBlob,
  encodeBlob,
  IndexReadAt,
  MANIFEST_BLOB_NAME,
  type ManifestFile,
  manifestKeyFromIdKey,
  manifestToString,
  parseManifest,
} from '@pxar/datastore'
import { type Acl, type AclGroup, type AclUser, type Metadata, PxarError } from '@pxar/format'
import type { FileSystemSource, SourceEntry } from '../source.ts'
import { compilePattern, isExcluded, type PatternScope, parsePatternFile } from './patterns.ts'
import type { BackupSession, RemoteStore, SnapshotRef } from './store.ts'
import { ArchiveUploader } from './uploader.ts'

/** How file data of unchanged files is found. */
export type DetectionMode = 'legacy' | 'data' | 'metadata'

/** Progress counters, reported through {@link BackupConfig.onProgress}. */
export interface BackupProgress {
  /** Entries encoded so far. */
  entries: number
  /** File bytes read from the source. */
  bytesRead: number
  /** Encoded chunk bytes uploaded to the store. */
  bytesUploaded: number
  /** File bytes not read because their payload was reused from the previous snapshot. */
  bytesReused: number
}

/** Options of {@link runBackup}. */
export interface BackupConfig {
  /** Where the snapshot goes. */
  readonly store: RemoteStore
  readonly backupId: string
  /** Default `host`. */
  readonly backupType?: 'host' | 'ct' | 'vm'
  /** Namespace (default root). */
  readonly ns?: readonly string[]
  /** Backup time, epoch seconds (default now). */
  readonly backupTime?: number
  /** Archive base name (default `root`): `root.pxar.didx` or `root.mpxar.didx` + `root.ppxar.didx`. */
  readonly archiveName?: string
  /** Default `legacy`. */
  readonly mode?: DetectionMode
  /** `none` (default), `encrypt` (needs `key`) or `sign-only` (needs `key`). */
  readonly cryptMode?: CryptMode
  readonly key?: CryptConfig
  /** Exclude patterns (PBS `--exclude`). */
  readonly exclude?: readonly string[]
  /** Honour `.pxarexclude` files (default true). */
  readonly pxarexclude?: boolean
  /** Do not descend into other file systems (default true). */
  readonly oneFileSystem?: boolean
  /** Average chunk size of the archives (default 4 MiB). */
  readonly avgChunkSize?: number
  /** Encode worker threads (default: CPUs − 1, at least 1, at most 8). */
  readonly workers?: number
  /** Group owner for new groups. */
  readonly owner?: string
  /** Largest fraction of reused chunk bytes that may be padding (metadata mode; default 0.1). */
  readonly maxReusePadding?: number
  /**
   * Metadata mode: most unchanged files whose entries are held back while the reuse of their
   * chunks is planned (default 4096; bounds memory). Runs cut at this bound continue inside
   * their shared chunk, so the bound costs neither reuse nor payload size.
   */
  readonly maxReuseRunFiles?: number
  readonly onProgress?: (progress: Readonly<BackupProgress>) => void
  /**
   * Further blobs stored with the snapshot and listed in its manifest with the backup's crypt
   * mode, e.g. `rsa-encrypted.key.blob` (the key wrapped for a master key, as
   * proxmox-backup-client stores it). `blob` is the encoded DataBlob.
   */
  readonly extraBlobs?: readonly { readonly name: string; readonly blob: Uint8Array }[]
  /** Called for entries the source could not read (they are skipped). */
  readonly onSkip?: (path: Uint8Array, code: string, message: string) => void
}

/** Outcome of {@link runBackup}. */
export interface BackupResult {
  /** `TYPE/ID/TIME`, e.g. `host/web1/2026-11-24T16:00:00Z`. */
  readonly snapshot: string
  readonly snapshotRef: SnapshotRef
  /** Stored file names (indexes and blobs, manifest excluded). */
  readonly archives: readonly string[]
  readonly files: number
  readonly dirs: number
  readonly entries: number
  /** File bytes in the archive. */
  readonly bytes: number
  /** File bytes read from the source. */
  readonly bytesRead: number
  /** File bytes whose payload was reused (not read). */
  readonly reusedBytes: number
  /** Encoded chunk bytes uploaded. */
  readonly uploadedBytes: number
  readonly skipped: number
  readonly durationMs: number
}

const enc = new TextEncoder()
const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1')

function joinPath(dir: Uint8Array, name: Uint8Array): Uint8Array {
  if (dir.length === 0) return name
  const out = new Uint8Array(dir.length + 1 + name.length)
  out.set(dir)
  out[dir.length] = 0x2f
  out.set(name, dir.length + 1)
  return out
}

function formatTime(epoch: number): string {
  return new Date(epoch * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function bytesEqual(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b)
}

const big = (v: unknown): string => String(v)

/** errno codes of files that vanished or cannot be read: skipped, not fatal. */
const SKIPPABLE = new Set(['ENOENT', 'EACCES', 'EPERM', 'ENOTDIR', 'ELOOP', 'ESTALE'])

/** True when two metadata records are equal in everything pxar stores. */
export function metadataEqual(a: Metadata, b: Metadata): boolean {
  const s = a.stat
  const t = b.stat
  if (
    s.mode !== t.mode ||
    big(s.flags) !== big(t.flags) ||
    s.uid !== t.uid ||
    s.gid !== t.gid ||
    big(s.mtime.secs) !== big(t.mtime.secs) ||
    s.mtime.nanos !== t.mtime.nanos
  )
    return false
  if (a.xattrs.length !== b.xattrs.length) return false
  for (let i = 0; i < a.xattrs.length; i++) {
    const x = a.xattrs[i]
    const y = b.xattrs[i]
    if (!x || !y || !bytesEqual(x.name, y.name) || !bytesEqual(x.value, y.value)) return false
  }
  if (!bytesEqual(a.fcaps, b.fcaps)) return false
  if (big(a.quotaProjectId) !== big(b.quotaProjectId)) return false
  return aclEqual(a.acl, b.acl)
}

/** Field-wise ACL equality (numbers and bigints of the same value are equal). */
function aclEqual(a: Acl, b: Acl): boolean {
  const same = (x: unknown, y: unknown): boolean => x === y || big(x) === big(y)
  const entries = (x: readonly (AclUser | AclGroup)[], y: readonly (AclUser | AclGroup)[]): boolean =>
    x.length === y.length &&
    x.every((e, i) => {
      const f = y[i] as AclUser & AclGroup
      const g = e as AclUser & AclGroup
      return same(g.uid, f.uid) && same(g.gid, f.gid) && same(g.permissions, f.permissions)
    })
  if (!entries(a.users, b.users) || !entries(a.groups, b.groups)) return false
  if (!entries(a.defaultUsers, b.defaultUsers) || !entries(a.defaultGroups, b.defaultGroups)) return false
  if ((a.groupObj === undefined) !== (b.groupObj === undefined)) return false
  if (a.groupObj && b.groupObj && !same(a.groupObj.permissions, b.groupObj.permissions)) return false
  const d = a.default
  const e = b.default
  if (d === undefined || e === undefined) return d === e
  return (
    same(d.userObjPermissions, e.userObjPermissions) &&
    same(d.groupObjPermissions, e.groupObjPermissions) &&
    same(d.otherPermissions, e.otherPermissions) &&
    same(d.maskPermissions, e.maskPermissions)
  )
}

/** Previous split archive, for metadata-mode reuse. */
interface Previous {
  readonly accessor: Accessor
  readonly payloadIndex: DynamicIndex
}

/** A reusable file of a run: its PAYLOAD item's range in the previous `.ppxar` and chunks. */
interface RunFile {
  readonly start: number
  readonly end: number
  readonly firstChunk: number
  readonly lastChunk: number
}

interface Run {
  /** The run continues the previous one inside its last chunk (cut by the size caps). */
  readonly continued: boolean
  firstChunk: number
  lastChunk: number
  /** Previous payload end of the last candidate (refs must not go backwards). */
  lastEnd: number
  files: RunFile[]
  /** Encoder calls of this run in walk order; file ops get their new payload offset (or none: re-encode). */
  ops: { readonly file: number | undefined; readonly fn: (offset: number | undefined) => Promise<void> }[]
}

/** Chunk boundaries of the previous payload index. */
interface ChunkBounds {
  start(i: number): number
  end(i: number): number
}

/** Which edge chunks of a run a neighbouring run shares (see {@link planReuse}). */
export interface ReuseEdges {
  readonly freeHead?: boolean
  readonly freeTail?: boolean
}

/** A range of run files reused together: chunks `firstChunk..lastChunk` are injected whole. */
export interface ReusePlan {
  readonly firstFile: number
  readonly lastFile: number
  readonly firstChunk: number
  readonly lastChunk: number
}

/**
 * Decides which files of a run (in previous-payload order) are reused: files that follow each
 * other without a gap form groups; a group is reused when at most `maxPadding` of its chunk bytes
 * are not its files' bytes. A group with more padding is trimmed to the files lying wholly
 * inside its inner chunks (the edge chunks carry the waste), repeatedly; files of no group are
 * re-encoded. With `edges`, the bytes of the first chunk before the first file (`freeHead`) or
 * of the last chunk after the last file (`freeTail`) are not padding: a neighbouring run, cut
 * off this one only to bound memory, reuses them.
 */
export function planReuse(
  files: readonly RunFile[],
  idx: ChunkBounds,
  maxPadding: number,
  edges: ReuseEdges = {},
): ReusePlan[] {
  const plans: ReusePlan[] = []
  const prefix = new Float64Array(files.length + 1)
  files.forEach((f, i) => {
    prefix[i + 1] = (prefix[i] as number) + f.end - f.start
  })
  const file = (i: number): RunFile => files[i] as RunFile
  const consider = (from: number, to: number): void => {
    let a = from
    let b = to
    while (a <= b) {
      const fa = file(a)
      const fb = file(b)
      const used = (prefix[b + 1] as number) - (prefix[a] as number)
      const bytes = idx.end(fb.lastChunk) - idx.start(fa.firstChunk)
      const shared =
        (edges.freeHead && a === 0 ? fa.start - idx.start(fa.firstChunk) : 0) +
        (edges.freeTail && b === files.length - 1 ? idx.end(fb.lastChunk) - fb.end : 0)
      if (bytes - used - shared <= maxPadding * bytes) {
        plans.push({ firstFile: a, lastFile: b, firstChunk: fa.firstChunk, lastChunk: fb.lastChunk })
        return
      }
      // Too much padding: drop the files touching the edge chunks and try again.
      while (a <= b && file(a).firstChunk === fa.firstChunk) a++
      while (b >= a && file(b).lastChunk === fb.lastChunk) b--
    }
  }
  let groupStart = 0
  for (let k = 1; k <= files.length; k++) {
    if (k === files.length || file(k).start !== file(k - 1).end) {
      consider(groupStart, k - 1)
      groupStart = k
    }
  }
  return plans
}

/**
 * Runs one backup of `source` into `config.store`.
 *
 * @throws PxarError from the store or the codec; TypeError/RangeError for bad configuration.
 * @example
 * ```ts
 * const store = await LocalStore.open('/backup/store', { create: true })
 * const r = await runBackup(source, { store, backupId: 'web1', mode: 'metadata' })
 * console.log(r.snapshot, r.reusedBytes)
 * ```
 */
export async function runBackup(source: FileSystemSource, config: BackupConfig): Promise<BackupResult> {
  const started = Date.now()
  const mode = config.mode ?? 'legacy'
  if (mode !== 'legacy' && mode !== 'data' && mode !== 'metadata')
    throw new TypeError(`bad mode ${String(mode)}`)
  const cryptMode = config.cryptMode ?? 'none'
  if (cryptMode !== 'none' && !config.key) throw new TypeError(`crypt mode ${cryptMode} needs a key`)
  for (const extra of config.extraBlobs ?? []) {
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*\.blob$/.test(extra.name) || extra.name === MANIFEST_BLOB_NAME)
      throw new TypeError(`invalid extra blob name '${extra.name}'`)
  }
  const key = cryptMode === 'none' ? undefined : config.key
  const chunkCrypt = cryptMode === 'encrypt' ? key : undefined
  const name = config.archiveName ?? 'root'
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(name)) throw new TypeError(`bad archive name '${name}'`)
  const snapshotRef: SnapshotRef = {
    ns: [...(config.ns ?? [])],
    type: config.backupType ?? 'host',
    id: config.backupId,
    time: config.backupTime ?? Math.floor(Date.now() / 1000),
  }
  const progress: BackupProgress = { entries: 0, bytesRead: 0, bytesUploaded: 0, bytesReused: 0 }
  const report = (): void => config.onProgress?.(progress)
  const onUpload = (n: number): void => {
    progress.bytesUploaded += n
  }

  const session = await config.store.beginBackup({
    snapshot: snapshotRef,
    ...(config.owner === undefined ? {} : { owner: config.owner }),
  })
  const encoder: BlobEncoder = createBlobEncoder({
    compress: true,
    crypt: chunkCrypt,
    ...(config.workers === undefined ? {} : { workers: config.workers }),
  })
  const uploaders: ArchiveUploader[] = []
  try {
    const known = new Set<string>()
    // Previous snapshot: reuse only when its manifest was made with the same key.
    let prevManifestOk = false
    const prevManifestBlob = await session.downloadPrevious(MANIFEST_BLOB_NAME)
    if (prevManifestBlob) {
      try {
        const m = parseManifest(decodeBlob(prevManifestBlob))
        checkManifestFingerprint(m, key ? manifestKeyFromIdKey(key.idKey) : undefined)
        prevManifestOk = true
      } catch {
        prevManifestOk = false
      }
    }
    const registerPrevious = async (archive: string): Promise<Uint8Array | undefined> => {
      if (!prevManifestOk) return undefined
      const bytes = await session.downloadPrevious(archive)
      if (!bytes) return undefined
      const index = DynamicIndex.parse(bytes)
      for (let i = 0; i < index.count; i++) known.add(Buffer.from(index.digest(i)).toString('hex'))
      return bytes
    }
    const avgSize = config.avgChunkSize
    const newUploader = async (archive: string, avg: number | undefined): Promise<ArchiveUploader> => {
      const u = new ArchiveUploader(session, await session.createDynamicIndex(archive), {
        encoder,
        avgSize: avg,
        crypt: chunkCrypt,
        known,
        onUpload,
      })
      uploaders.push(u)
      return u
    }

    const files: ManifestFile[] = []
    const indexCryptMode: CryptMode = cryptMode
    const split = mode !== 'legacy'
    const metaName = split ? `${name}.mpxar.didx` : `${name}.pxar.didx`
    const payloadName = `${name}.ppxar.didx`
    await registerPrevious(metaName)
    // the catalog's chunks too (the official client downloads every previous index it uploads anew)
    if (!split) await registerPrevious(CATALOG_NAME)
    const prevPayloadBytes = split ? await registerPrevious(payloadName) : undefined
    let previous: Previous | undefined
    if (mode === 'metadata' && prevPayloadBytes) {
      const prevMetaBytes = await session.downloadPrevious(metaName)
      if (prevMetaBytes) {
        const metaIndex = DynamicIndex.parse(prevMetaBytes)
        const readAt = new IndexReadAt(
          metaIndex,
          { read: (d) => session.readChunk(d) },
          { crypt: chunkCrypt, cacheChunks: 16 },
        )
        previous = {
          accessor: await openAccessor(readAt),
          payloadIndex: DynamicIndex.parse(prevPayloadBytes),
        }
      }
    }

    const metaUp = await newUploader(metaName, avgSize)
    const payloadUp = split ? await newUploader(payloadName, avgSize) : undefined
    const catalogUp = split ? undefined : await newUploader(CATALOG_NAME, 512 * 1024)
    const catalog = split ? undefined : new CatalogWriter()

    const metaSink = new BufferSink()
    const payloadSink = split ? new BufferSink() : undefined
    const pump = async (): Promise<void> => {
      for (const c of metaSink.take()) await metaUp.write(c)
      if (payloadSink && payloadUp) for (const c of payloadSink.take()) await payloadUp.write(c)
      if (catalog && catalogUp) {
        const c = catalog.take()
        if (c.length > 0) await catalogUp.write(c)
      }
    }

    const root = await source.stat(new Uint8Array(0))
    if (root.kind !== 'directory')
      throw new PxarError('ERR_PXAR_ENCODER_INVALID', 'backup source root is not a directory')
    const pxarEnc = new Encoder(metaSink, root.metadata, payloadSink ? { payload: payloadSink } : {})
    catalog?.startDirectory(`${metaName}`)

    let files_ = 0
    let dirs = 1
    let bytes = 0
    let skipped = 0
    const links = new Map<string, { path: Uint8Array; link: LinkOffset | undefined }>()
    const scopes: PatternScope[] = []
    const cli: PatternScope = {
      base: '',
      patterns: (config.exclude ?? []).flatMap((p) => {
        const c = compilePattern(Buffer.from(p, 'utf8').toString('latin1'))
        return c ? [c] : []
      }),
    }
    scopes.push(cli)
    const oneFs = config.oneFileSystem ?? true
    const maxPadding = config.maxReusePadding ?? 0.1
    const maxRunFiles = config.maxReuseRunFiles ?? 4096
    if (!Number.isSafeInteger(maxRunFiles) || maxRunFiles < 1)
      throw new RangeError('maxReuseRunFiles must be a positive integer')

    // ---- metadata-mode reuse runs -------------------------------------------------------------
    let run: Run | undefined
    /** Runs encoder calls now, or queues them behind the open reuse run. */
    const op = async (fn: () => Promise<void>): Promise<void> => {
      if (run) run.ops.push({ file: undefined, fn })
      else {
        await fn()
        await pump()
      }
    }
    /**
     * The chunk a run cut for memory ended with, kept open for the next run to continue in: its
     * index, the payload base of its plan, the encoder's payload position (the end of the run's
     * last file) and the bytes of the chunk after it, which the encoder has not been told about.
     */
    let sharedChunk: { chunk: number; base: number; position: number; pending: number } | undefined
    /** Accounts for the rest of an open shared chunk (before the encoder writes payload itself). */
    const settleShared = (): void => {
      if (!sharedChunk) return
      pxarEnc.advancePayload(sharedChunk.pending)
      sharedChunk = undefined
    }
    const flushRun = async (edges: { freeTail?: boolean } = {}): Promise<void> => {
      const r = run
      if (!r || !previous || !payloadUp) return
      run = undefined
      const idx = previous.payloadIndex
      const plans = planReuse(r.files, idx, maxPadding, {
        freeHead: r.continued,
        freeTail: edges.freeTail ?? false,
      })
      const planOf = new Map<number, ReusePlan>()
      for (const p of plans) for (let f = p.firstFile; f <= p.lastFile; f++) planOf.set(f, p)
      let base = 0
      for (const o of r.ops) {
        const plan = o.file === undefined ? undefined : planOf.get(o.file)
        if (!plan || o.file === undefined) {
          if (o.file !== undefined) settleShared()
          await o.fn(undefined)
          await pump()
          continue
        }
        if (o.file === plan.firstFile) {
          pxarEnc.flush()
          await pump()
          let from = plan.firstChunk
          const shared = sharedChunk
          if (
            r.continued &&
            shared &&
            plan.firstFile === 0 &&
            plan.firstChunk === shared.chunk &&
            pxarEnc.payloadPosition === shared.position
          ) {
            // The previous run injected this chunk last: continue inside it.
            sharedChunk = undefined
            base = shared.base
            from = plan.firstChunk + 1
          } else {
            settleShared()
            base = pxarEnc.payloadPosition - idx.start(plan.firstChunk)
          }
          const chunks: { digest: Uint8Array; size: number }[] = []
          for (let i = from; i <= plan.lastChunk; i++)
            chunks.push({ digest: idx.digest(i), size: idx.end(i) - idx.start(i) })
          if (chunks.length > 0) await payloadUp.inject(chunks)
        }
        await o.fn(base + (r.files[o.file] as RunFile).start)
        if (o.file === plan.lastFile) {
          const chunkEnd = base + idx.end(plan.lastChunk)
          if (edges.freeTail && plan.lastFile === r.files.length - 1) {
            // Keep the chunk open: the next run may continue in it.
            pxarEnc.advancePayload(base + (r.files[o.file] as RunFile).end - pxarEnc.payloadPosition)
            sharedChunk = {
              chunk: plan.lastChunk,
              base,
              position: pxarEnc.payloadPosition,
              pending: chunkEnd - pxarEnc.payloadPosition,
            }
          } else {
            pxarEnc.advancePayload(chunkEnd - pxarEnc.payloadPosition)
          }
          await pump()
        }
      }
      report()
    }

    const encodeFileData = async (
      path: Uint8Array,
      entry: SourceEntry,
      ename: Uint8Array,
    ): Promise<LinkOffset | undefined> => {
      // Open the stream before the entry is written: a file that vanished or cannot be read is
      // skipped and reported, like the Proxmox client does.
      const it = source.readFile(path, 0, entry.size)[Symbol.asyncIterator]()
      let first: IteratorResult<Uint8Array> | undefined
      try {
        first = await it.next()
      } catch (err) {
        const code = (err as { code?: string }).code ?? ''
        if (!SKIPPABLE.has(code)) throw err
        skipped++
        config.onSkip?.(path, code, (err as Error).message)
        return undefined
      }
      settleShared()
      const fw = pxarEnc.createFile(ename, entry.metadata, entry.size)
      let left = entry.size
      for (;;) {
        const next: IteratorResult<Uint8Array> = first ?? (await it.next())
        first = undefined
        if (next.done) break
        const piece = next.value
        const p = piece.length > left ? piece.subarray(0, left) : piece
        if (p.length === 0) continue
        fw.write(p)
        left -= p.length
        progress.bytesRead += p.length
        await pump()
        if (left === 0) {
          await it.return?.()
          break
        }
      }
      if (left > 0) {
        // The file shrank while it was read: pad with zeros (as the archive announced its size).
        config.onSkip?.(path, 'ESHRUNK', `file shrank by ${left} bytes while reading`)
        const zeros = new Uint8Array(Math.min(left, 1 << 20))
        while (left > 0) {
          const n = Math.min(left, zeros.length)
          fw.write(zeros.subarray(0, n))
          left -= n
          await pump()
        }
      }
      return fw.close()
    }

    const addFile = async (
      dirPrev: AccessorEntry | undefined,
      path: Uint8Array,
      entry: SourceEntry,
    ): Promise<void> => {
      progress.entries++
      const hardlinkKey = entry.nlink > 1 ? `${entry.dev}:${entry.ino}` : undefined
      if (hardlinkKey) {
        const seen = links.get(hardlinkKey)
        if (seen) {
          // The target's link offset is known once its (possibly deferred) encoder call ran;
          // a target that was skipped (unreadable) takes its links along.
          await op(async () => {
            if (seen.link === undefined) return
            files_++
            catalog?.addHardlink(entry.name)
            pxarEnc.addHardlink(entry.name, seen.path, seen.link)
          })
          return
        }
      }
      bytes += entry.size
      const slot: { path: Uint8Array; link: LinkOffset | undefined } = { path, link: undefined }
      if (hardlinkKey) links.set(hardlinkKey, slot)
      const remember = (link: LinkOffset | undefined): void => {
        if (link === undefined) return
        slot.link = link
        files_++
        catalog?.addFile(entry.name, entry.size, entry.metadata.stat.mtime.secs)
      }
      // Metadata mode: unchanged file → payload reference into reused chunks.
      if (previous && dirPrev) {
        const prev = await previous.accessor.lookupChild(dirPrev, entry.name)
        if (
          prev &&
          prev.kind === 'file' &&
          prev.fileSize === entry.size &&
          prev.payloadOffset !== undefined &&
          metadataEqual(prev.metadata, entry.metadata)
        ) {
          const idx = previous.payloadIndex
          const startOff = prev.payloadOffset
          const endOff = startOff + 16 + entry.size
          const first = idx.chunkFromOffset(startOff)
          const last = idx.chunkFromOffset(endOff - 1)
          if (first && last) {
            let continued = false
            if (run) {
              const broken =
                first.index < run.lastChunk || first.index > run.lastChunk + 1 || startOff < run.lastEnd
              // Bound the run so that deferred metadata stays small. A run cut only for that,
              // in the middle of a chunk, shares that chunk with the next run: neither counts
              // the other's bytes in it as padding.
              const full =
                run.files.length >= maxRunFiles ||
                idx.end(run.lastChunk) - idx.start(run.firstChunk) > 1 << 30
              if (broken || full) {
                continued = !broken && startOff === run.lastEnd && first.index === run.lastChunk
                await flushRun({ freeTail: continued })
              }
            }
            if (!run)
              run = {
                continued,
                firstChunk: first.index,
                lastChunk: last.index,
                lastEnd: endOff,
                files: [],
                ops: [],
              }
            const r: Run = run
            r.lastChunk = Math.max(r.lastChunk, last.index)
            r.lastEnd = endOff
            const fileNo = r.files.length
            r.files.push({ start: startOff, end: endOff, firstChunk: first.index, lastChunk: last.index })
            const size = entry.size
            r.ops.push({
              file: fileNo,
              fn: async (offset) => {
                if (offset !== undefined) {
                  remember(pxarEnc.addPayloadRef(entry.name, entry.metadata, size, offset))
                  progress.bytesReused += size
                } else {
                  remember(await encodeFileData(path, entry, entry.name))
                }
              },
            })
            return
          }
        }
      }
      await flushRun()
      remember(await encodeFileData(path, entry, entry.name))
      await pump()
      report()
    }

    const walk = async (
      dirPath: Uint8Array,
      dirEntry: SourceEntry,
      dirPrev: AccessorEntry | undefined,
      rootDev: string,
    ): Promise<void> => {
      let listing: Awaited<ReturnType<FileSystemSource['listDir']>>
      try {
        listing = await source.listDir(dirPath)
      } catch (err) {
        const e = err as { code?: string; message?: string }
        config.onSkip?.(dirPath, e.code ?? 'EIO', e.message ?? String(err))
        skipped++
        return
      }
      for (const s of listing.skipped) {
        skipped++
        config.onSkip?.(s.path, s.code, s.message)
      }
      const relDir = latin1(dirPath)
      let pushedScope = false
      if (config.pxarexclude ?? true) {
        const ex = listing.entries.find((e) => e.kind === 'file' && latin1(e.name) === '.pxarexclude')
        if (ex) {
          const parts: Uint8Array[] = []
          let n = 0
          for await (const p of source.readFile(joinPath(dirPath, ex.name), 0, Math.min(ex.size, 1 << 20))) {
            parts.push(p)
            n += p.length
          }
          const text = Buffer.concat(parts, n).toString('latin1')
          scopes.push({ base: relDir, patterns: parsePatternFile(text) })
          pushedScope = true
        }
      }
      void dirEntry
      for (const entry of listing.entries) {
        const path = joinPath(dirPath, entry.name)
        if (isExcluded(scopes, latin1(path), entry.kind === 'directory')) continue
        switch (entry.kind) {
          case 'directory': {
            dirs++
            progress.entries++
            const sub =
              previous && dirPrev ? await previous.accessor.lookupChild(dirPrev, entry.name) : undefined
            catalog?.startDirectory(entry.name)
            await op(async () => {
              pxarEnc.createDirectory(entry.name, entry.metadata)
            })
            if (!oneFs || entry.dev === rootDev) {
              await walk(path, entry, sub?.kind === 'directory' ? sub : undefined, rootDev)
            }
            catalog?.endDirectory()
            await op(async () => {
              pxarEnc.finish()
            })
            break
          }
          case 'file':
            await addFile(dirPrev, path, entry)
            break
          case 'symlink':
            progress.entries++
            catalog?.addSymlink(entry.name)
            await op(async () => {
              pxarEnc.addSymlink(entry.name, entry.metadata, entry.linkTarget ?? new Uint8Array(0))
            })
            break
          case 'block-device':
          case 'char-device': {
            progress.entries++
            if (entry.kind === 'block-device') catalog?.addBlockDevice(entry.name)
            else catalog?.addCharDevice(entry.name)
            const rdev = entry.rdev ?? { major: 0, minor: 0 }
            await op(async () => {
              pxarEnc.addDevice(entry.name, entry.metadata, rdev)
            })
            break
          }
          case 'fifo':
            progress.entries++
            catalog?.addFifo(entry.name)
            await op(async () => {
              pxarEnc.addFifo(entry.name, entry.metadata)
            })
            break
          case 'socket':
            progress.entries++
            catalog?.addSocket(entry.name)
            await op(async () => {
              pxarEnc.addSocket(entry.name, entry.metadata)
            })
            break
        }
      }
      if (pushedScope) scopes.pop()
    }

    const prevRoot = previous ? await previous.accessor.root() : undefined
    await walk(new Uint8Array(0), root, prevRoot, root.dev)
    await flushRun()
    settleShared()
    pxarEnc.finish()
    pxarEnc.close()
    catalog?.endDirectory()
    if (catalog && catalogUp) {
      await pump()
      await catalogUp.write(catalog.finish())
    }
    await pump()

    const listFile = (filename: string, size: number, csum: Uint8Array): void => {
      files.push({ filename, cryptMode: indexCryptMode, size, csum: Buffer.from(csum).toString('hex') })
    }
    const metaRes = await metaUp.finish()
    listFile(metaName, metaRes.size, metaRes.csum)
    if (payloadUp) {
      const r = await payloadUp.finish()
      listFile(payloadName, r.size, r.csum)
    }
    if (catalogUp) {
      const r = await catalogUp.finish()
      listFile(CATALOG_NAME, r.size, r.csum)
    }
    for (const extra of config.extraBlobs ?? []) {
      await session.uploadBlob(extra.name, extra.blob)
      listFile(extra.name, extra.blob.length, createHash('sha256').update(extra.blob).digest())
    }

    const manifestText = manifestToString(
      {
        backupType: snapshotRef.type,
        backupId: snapshotRef.id,
        backupTime: snapshotRef.time,
        files,
        unprotected: {},
        signature: null,
      },
      key ? { key: manifestKeyFromIdKey(key.idKey) } : {},
    )
    await session.uploadBlob(MANIFEST_BLOB_NAME, encodeBlob(enc.encode(manifestText), { compress: true }))
    await session.finish()
    report()
    return {
      snapshot: `${snapshotRef.type}/${snapshotRef.id}/${formatTime(snapshotRef.time)}`,
      snapshotRef,
      archives: files.map((f) => f.filename),
      files: files_,
      dirs,
      entries: progress.entries,
      bytes,
      bytesRead: progress.bytesRead,
      reusedBytes: progress.bytesReused,
      uploadedBytes: progress.bytesUploaded,
      skipped,
      durationMs: Date.now() - started,
    }
  } catch (err) {
    for (const u of uploaders) await u.abort(err)
    await session.abort().catch(() => {})
    throw err
  } finally {
    await encoder.close()
  }
}

/** A backup server front: runs backups into one store. */
export class Server {
  readonly store: RemoteStore
  constructor(store: RemoteStore) {
    this.store = store
  }
  /** {@link runBackup} into this server's store. */
  runBackup(source: FileSystemSource, config: Omit<BackupConfig, 'store'>): Promise<BackupResult> {
    return runBackup(source, { ...config, store: this.store })
  }
}

export type { BackupSession }
