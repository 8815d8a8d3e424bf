/**
 * `BackupWriter`: a whole backup over the PBS backup protocol, the way `proxmox-backup-client
 * backup` runs it: previous manifest and indexes for deduplication, archives chunked and encoded
 * by the `@pxar/datastore` store pipeline with several chunk uploads in flight, in-order batched
 * appends once chunks are acknowledged, close with count/size/checksum, blobs, the manifest, finish.
 */
import { createHash } from 'node:crypto'
import {
  type BackupManifest,
  type CryptConfig,
  type CryptMode,
  checkManifestFingerprint,
  DynamicIndex,
  decodeBlob,
  encodeBlob,
  FixedIndex,
  MANIFEST_BLOB_NAME,
  type ManifestFile,
  type ManifestKey,
  manifestToString,
  parseManifest,
  type StoreStats,
  storeDynamic,
  storeFixed,
  toHex,
} from '@pxar/datastore'
import { PxarError } from '@pxar/format'
import { APPEND_BATCH, PbsBackupSession, type PbsIndexUpload, type SnapshotRef } from './backup.ts'
import type { PbsClient } from './client.ts'

/** Options of {@link BackupWriter.start}. */
export interface BackupWriterOptions {
  /** Encrypt chunks and blobs with this key (crypt mode `encrypt`); the manifest gets signed. */
  readonly crypt?: CryptConfig & ManifestKey
  /** Sign the manifest only (crypt mode `sign-only`); ignored when `crypt` is set. */
  readonly signKey?: ManifestKey
  /** Encode worker threads (default: the pipeline's default). */
  readonly workers?: number
  /** Chunk uploads in flight at most (default 16). */
  readonly uploadsInFlight?: number
  /** Ignore the previous snapshot (upload every chunk). */
  readonly noPrevious?: boolean
}

/** Options of {@link BackupWriter.uploadArchive}. */
export interface UploadArchiveOptions {
  /** Average chunk size (default 4 MiB). */
  readonly avgSize?: number
}

/** Result of an archive upload. */
export interface UploadedArchive {
  readonly file: ManifestFile
  readonly stats: StoreStats
  /** Chunks uploaded for this archive. */
  readonly uploaded: number
}

interface Deferred {
  readonly promise: Promise<void>
  resolve(): void
  reject(err: unknown): void
  settled: boolean
}

function deferred(): Deferred {
  let resolve!: () => void
  let reject!: (err: unknown) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  promise.catch(() => {})
  const d: Deferred = {
    promise,
    resolve: () => {
      d.settled = true
      resolve()
    },
    reject: (err) => {
      d.settled = true
      reject(err)
    },
    settled: false,
  }
  return d
}

/**
 * Appends entries to an index writer in stream order once their chunks are acknowledged,
 * batching consecutive ready entries (at most {@link APPEND_BATCH} per request).
 */
class Appender {
  readonly #upload: PbsIndexUpload
  readonly #queue: { digest: Uint8Array; offset: number; ready: Deferred }[] = []
  #running: Promise<void> | undefined
  #error: { error: unknown } | undefined
  constructor(upload: PbsIndexUpload) {
    this.#upload = upload
  }
  push(digest: Uint8Array, offset: number, ready: Deferred): void {
    this.#queue.push({ digest, offset, ready })
    this.#running ??= this.#pump().finally(() => {
      this.#running = undefined
    })
  }
  async #pump(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        await this.#queue[0]!.ready.promise
        const batch: { digest: Uint8Array; offset: number }[] = []
        while (batch.length < APPEND_BATCH && this.#queue.length > 0 && this.#queue[0]!.ready.settled) {
          const e = this.#queue.shift()!
          await e.ready.promise
          batch.push(e)
        }
        await this.#upload.append(
          batch.map((e) => e.digest),
          batch.map((e) => e.offset),
        )
      }
    } catch (error) {
      this.#error ??= { error }
      this.#queue.length = 0
    }
  }
  async drain(): Promise<void> {
    while (this.#running) await this.#running
    if (this.#error) throw this.#error.error
  }
}

/**
 * A backup of one snapshot.
 *
 * @example
 * ```ts
 * const w = await BackupWriter.start(client, 'store1', { ns: [], type: 'host', id: 'web', time })
 * await w.uploadArchive('root.pxar.didx', createReadStream('root.pxar'))
 * await w.uploadBlob('notes.conf.blob', new TextEncoder().encode('hello'))
 * const manifest = await w.finish()
 * ```
 */
export class BackupWriter {
  readonly session: PbsBackupSession
  readonly cryptMode: CryptMode
  /** Manifest entries, in upload order. */
  readonly files: ManifestFile[] = []
  /** The previous snapshot's manifest, when it can be reused (same key). */
  readonly previousManifest: BackupManifest | undefined
  /** Digests (hex) the server knows in this session: uploaded, or registered through `previous`. */
  readonly known: Set<string> = new Set()
  readonly #options: BackupWriterOptions

  private constructor(
    session: PbsBackupSession,
    previous: BackupManifest | undefined,
    options: BackupWriterOptions,
  ) {
    this.session = session
    this.previousManifest = previous
    this.#options = options
    this.cryptMode = options.crypt ? 'encrypt' : options.signKey ? 'sign-only' : 'none'
  }

  /** The manifest key (encryption key or signing key), if any. */
  get #key(): ManifestKey | undefined {
    return this.#options.crypt ?? this.#options.signKey
  }

  /**
   * Starts the session: upgrade, `previous_backup_time`, and the previous manifest (reused only
   * when it was made with the same key).
   */
  static async start(
    client: PbsClient,
    store: string,
    snapshot: SnapshotRef,
    options: BackupWriterOptions = {},
  ): Promise<BackupWriter> {
    const session = await PbsBackupSession.start(client, store, snapshot)
    try {
      let previous: BackupManifest | undefined
      if (!options.noPrevious && (await session.previousBackupTime()) !== undefined) {
        const blob = await session.downloadPrevious(MANIFEST_BLOB_NAME)
        if (blob) {
          const key = options.crypt ?? options.signKey
          try {
            const m = parseManifest(decodeBlob(blob), key ? { key } : {})
            checkManifestFingerprint(m, key)
            if (!key && m.unprotected['key-fingerprint'] === undefined) previous = m
            else if (key) previous = m
          } catch {
            previous = undefined
          }
        }
      }
      return new BackupWriter(session, previous, options)
    } catch (err) {
      await session.abort()
      throw err
    }
  }

  /** Downloads the previous index of `name` (if the previous manifest lists it) and marks its chunks known. */
  async #seedKnown(name: string): Promise<void> {
    const prev = this.previousManifest?.files.find((f) => f.filename === name)
    if (!prev) return
    const bytes = await this.session.downloadPrevious(name)
    if (!bytes) return
    const index = name.endsWith('.didx') ? DynamicIndex.parse(bytes) : FixedIndex.parse(bytes)
    const { csum, size } = index.computeCsum()
    if (toHex(csum) !== prev.csum || size !== prev.size) {
      throw new PxarError('ERR_INDEX_CSUM', `previous index '${name}' does not match its manifest`)
    }
    for (let i = 0; i < index.count; i++) this.known.add(toHex(index.digest(i)))
  }

  #sinkFor(
    upload: PbsIndexUpload,
    sizes: Map<string, number>,
    waits: Map<string, Deferred>,
    counter: { uploaded: number },
  ) {
    const waitFor = (hex: string): Deferred => {
      let d = waits.get(hex)
      if (!d) {
        d = deferred()
        if (this.known.has(hex)) d.resolve()
        waits.set(hex, d)
      }
      return d
    }
    return {
      waitFor,
      sink: {
        has: (digest: Uint8Array): boolean => {
          const hex = toHex(digest)
          if (!this.known.has(hex)) return false
          waitFor(hex).resolve()
          return true
        },
        insert: async (digest: Uint8Array, blob: Uint8Array): Promise<boolean> => {
          const hex = toHex(digest)
          const d = waitFor(hex)
          try {
            await upload.uploadChunk(digest, sizes.get(hex) ?? 0, blob)
          } catch (err) {
            d.reject(err)
            throw err
          }
          counter.uploaded++
          this.known.add(hex)
          d.resolve()
          return true
        },
      },
    }
  }

  /**
   * Uploads a byte stream as a dynamic index archive (`<name>` ends in `.didx`): content-defined
   * chunks, only chunks the server does not know are uploaded.
   *
   * @throws PbsHttpError from the server; pipeline errors.
   */
  async uploadArchive(
    name: string,
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options: UploadArchiveOptions = {},
  ): Promise<UploadedArchive> {
    if (!name.endsWith('.didx')) throw new TypeError(`archive name '${name}' must end in .didx`)
    await this.#seedKnown(name)
    const upload = await this.session.createDynamicIndex(name)
    const sizes = new Map<string, number>()
    const waits = new Map<string, Deferred>()
    const counter = { uploaded: 0 }
    const { sink, waitFor } = this.#sinkFor(upload, sizes, waits, counter)
    const appender = new Appender(upload)
    let prevEnd = 0
    let result: Awaited<ReturnType<typeof storeDynamic>>
    try {
      result = await storeDynamic(source, {
        sink,
        ...(this.#options.crypt ? { crypt: this.#options.crypt } : {}),
        ...(this.#options.workers === undefined ? {} : { workers: this.#options.workers }),
        maxInFlight: this.#options.uploadsInFlight ?? 16,
        collectEntries: false,
        ...(options.avgSize === undefined ? {} : { avgSize: options.avgSize }),
        index: {
          add: (end, digest) => {
            const hex = toHex(digest)
            if (!sizes.has(hex)) sizes.set(hex, end - prevEnd)
            appender.push(digest, prevEnd, waitFor(hex))
            prevEnd = end
          },
        },
      })
    } catch (err) {
      for (const d of waits.values()) if (!d.settled) d.reject(err)
      await appender.drain().catch(() => {})
      throw err
    }
    await appender.drain()
    if (result.stats.chunks === 0) throw new PxarError('ERR_INDEX_EMPTY', `archive '${name}' is empty`)
    await upload.close({ chunkCount: result.stats.chunks, size: result.size, csum: result.csum })
    const file: ManifestFile = {
      filename: name,
      cryptMode: this.cryptMode,
      size: result.size,
      csum: toHex(result.csum),
    }
    this.files.push(file)
    return { file, stats: result.stats, uploaded: counter.uploaded }
  }

  /**
   * Uploads a disk image of `size` bytes as a fixed index archive (`.fidx`, 4 MiB chunks).
   */
  async uploadImage(
    name: string,
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    size: number,
  ): Promise<UploadedArchive> {
    if (!name.endsWith('.fidx')) throw new TypeError(`image name '${name}' must end in .fidx`)
    await this.#seedKnown(name)
    const upload = await this.session.createFixedIndex(name, size)
    const sizes = new Map<string, number>()
    const waits = new Map<string, Deferred>()
    const counter = { uploaded: 0 }
    const { sink, waitFor } = this.#sinkFor(upload, sizes, waits, counter)
    const appender = new Appender(upload)
    const chunkSize = 4 * 1024 * 1024
    let result: Awaited<ReturnType<typeof storeFixed>>
    try {
      result = await storeFixed(source, {
        sink,
        chunkSize,
        ...(this.#options.crypt ? { crypt: this.#options.crypt } : {}),
        ...(this.#options.workers === undefined ? {} : { workers: this.#options.workers }),
        maxInFlight: this.#options.uploadsInFlight ?? 16,
        collectEntries: false,
        index: {
          setDigest: (index, digest) => {
            const hex = toHex(digest)
            const offset = index * chunkSize
            if (!sizes.has(hex)) sizes.set(hex, Math.min(chunkSize, size - offset))
            appender.push(digest, offset, waitFor(hex))
          },
        },
      })
    } catch (err) {
      for (const d of waits.values()) if (!d.settled) d.reject(err)
      await appender.drain().catch(() => {})
      throw err
    }
    await appender.drain()
    if (result.size !== size) throw new RangeError(`image has ${result.size} bytes, announced ${size}`)
    await upload.close({ chunkCount: result.stats.chunks, size: result.size, csum: result.csum })
    const file: ManifestFile = { filename: name, cryptMode: this.cryptMode, size, csum: toHex(result.csum) }
    this.files.push(file)
    return { file, stats: result.stats, uploaded: counter.uploaded }
  }

  /** Uploads `data` as a blob archive (compressed; encrypted in `encrypt` mode). */
  async uploadBlob(name: string, data: Uint8Array): Promise<ManifestFile> {
    const blob = encodeBlob(data, { compress: true, crypt: this.#options.crypt })
    await this.session.uploadBlob(name, blob)
    const file: ManifestFile = {
      filename: name,
      cryptMode: this.cryptMode,
      size: blob.length,
      csum: createHash('sha256').update(blob).digest('hex'),
    }
    this.files.push(file)
    return file
  }

  /** Uploads the manifest (signed with the key, if any) and finishes the snapshot. */
  async finish(): Promise<BackupManifest> {
    const s = this.session.snapshot
    const manifest: BackupManifest = {
      backupType: s.type,
      backupId: s.id,
      backupTime: s.time,
      files: this.files,
      unprotected: {},
      signature: null,
    }
    const key = this.#key
    const text = manifestToString(manifest, key ? { key } : {})
    await this.session.uploadBlob(
      MANIFEST_BLOB_NAME,
      encodeBlob(new TextEncoder().encode(text), { compress: true }),
    )
    await this.session.finish()
    return parseManifest(text)
  }

  /** Abandons the backup (the server removes the snapshot). */
  abort(): Promise<void> {
    return this.session.abort()
  }
}
