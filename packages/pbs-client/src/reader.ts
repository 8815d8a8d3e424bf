/**
 * The client side of the PBS reader protocol (`pbs-client/src/backup_reader.rs`,
 * `remote_chunk_reader.rs`): download the manifest, indexes and blobs of one snapshot, fetch
 * chunks in parallel with an LRU cache, and random access (`ReadAt`) over remote archives.
 */
import { createHash } from 'node:crypto'
import type http2 from 'node:http2'
import {
  type BackupManifest,
  type BlobKey,
  type ChunkSource,
  checkManifestFingerprint,
  DynamicIndex,
  decodeBlob,
  FixedIndex,
  IndexReadAt,
  inspectBlob,
  MANIFEST_BLOB_NAME,
  MAX_ENCODED_BLOB_SIZE,
  type ManifestFile,
  type ManifestKey,
  parseManifest,
  toHex,
} from '@pxar/datastore'
import { PxarError } from '@pxar/format'
import type { PbsClient } from './client.ts'
import { h2Raw } from './h2.ts'

/** Protocol name of the reader upgrade. */
export const READER_PROTOCOL_ID = 'proxmox-backup-reader-protocol-v1'

/** A snapshot address. */
export interface ReaderSnapshotRef {
  readonly ns: readonly string[]
  readonly type: 'host' | 'ct' | 'vm'
  readonly id: string
  readonly time: number
}

/** Options of {@link PbsReader.open}. */
export interface PbsReaderOptions {
  /** Key for encrypted archives; also verifies the manifest signature. */
  readonly crypt?: BlobKey & ManifestKey
  /** Encoded chunks kept in the LRU cache, in bytes (default 64 MiB). */
  readonly cacheBytes?: number
  /** Chunk downloads in flight at most (default 8). */
  readonly concurrency?: number
}

/** Counters of a reader session. */
export interface ReaderStats {
  chunkDownloads: number
  chunkBytes: number
  cacheHits: number
}

/** A small byte-bounded LRU of encoded chunks, with shared in-flight fetches. */
class ChunkCache {
  readonly #max: number
  readonly #map = new Map<string, Uint8Array>()
  #bytes = 0
  constructor(max: number) {
    this.#max = max
  }
  get(key: string): Uint8Array | undefined {
    const v = this.#map.get(key)
    if (v) {
      this.#map.delete(key)
      this.#map.set(key, v)
    }
    return v
  }
  set(key: string, v: Uint8Array): void {
    if (v.length > this.#max) return
    this.#map.set(key, v)
    this.#bytes += v.length
    while (this.#bytes > this.#max) {
      const [k, old] = this.#map.entries().next().value as [string, Uint8Array]
      this.#map.delete(k)
      this.#bytes -= old.length
    }
  }
}

/** Limits concurrent async jobs. */
class Limiter {
  readonly #max: number
  #active = 0
  readonly #queue: (() => void)[] = []
  constructor(max: number) {
    this.#max = max
  }
  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.#active >= this.#max) await new Promise<void>((r) => this.#queue.push(r))
    this.#active++
    try {
      return await job()
    } finally {
      this.#active--
      this.#queue.shift()?.()
    }
  }
}

/**
 * A reader session on one finished snapshot.
 *
 * @example
 * ```ts
 * const reader = await PbsReader.open(client, 'store1', { ns: [], type: 'host', id: 'web', time })
 * const archive = await reader.readAt('root.pxar.didx') // ReadAt for the accessor / FUSE
 * for await (const piece of reader.restore('root.pxar.didx')) out.write(piece)
 * await reader.close()
 * ```
 */
export class PbsReader {
  readonly snapshot: ReaderSnapshotRef
  readonly stats: ReaderStats = { chunkDownloads: 0, chunkBytes: 0, cacheHits: 0 }
  readonly #h2: http2.ClientHttp2Session
  readonly #crypt: (BlobKey & ManifestKey) | undefined
  readonly #cache: ChunkCache
  readonly #inflight = new Map<string, Promise<Uint8Array>>()
  readonly #limiter: Limiter
  #manifest: BackupManifest | undefined

  private constructor(h2: http2.ClientHttp2Session, snapshot: ReaderSnapshotRef, options: PbsReaderOptions) {
    this.#h2 = h2
    this.snapshot = snapshot
    this.#crypt = options.crypt
    this.#cache = new ChunkCache(options.cacheBytes ?? 64 * 1024 * 1024)
    this.#limiter = new Limiter(Math.max(1, options.concurrency ?? 8))
  }

  /**
   * Upgrades a connection to the reader protocol for `snapshot`.
   *
   * @throws PbsHttpError when the server refuses (auth, missing or unfinished snapshot).
   */
  static async open(
    client: PbsClient,
    store: string,
    snapshot: ReaderSnapshotRef,
    options: PbsReaderOptions = {},
  ): Promise<PbsReader> {
    const h2 = await client.upgrade(
      '/reader',
      {
        store,
        ...(snapshot.ns.length > 0 ? { ns: snapshot.ns.join('/') } : {}),
        'backup-type': snapshot.type,
        'backup-id': snapshot.id,
        'backup-time': snapshot.time,
        debug: true,
      },
      READER_PROTOCOL_ID,
    )
    return new PbsReader(h2, snapshot, options)
  }

  /** `GET /download`: a raw file of the snapshot (an index download allows its chunks). */
  download(name: string): Promise<Uint8Array<ArrayBuffer>> {
    return h2Raw(this.#h2, 'GET', '/download', { 'file-name': name })
  }

  /**
   * The manifest (downloaded once): CRC checked, signature verified with the key, and a manifest
   * made with a key requires that key.
   *
   * @throws PxarError `ERR_MANIFEST_*`, `ERR_BLOB_*`.
   */
  async manifest(): Promise<BackupManifest> {
    if (!this.#manifest) {
      const blob = await this.download(MANIFEST_BLOB_NAME)
      const m = parseManifest(decodeBlob(blob), this.#crypt ? { key: this.#crypt } : {})
      checkManifestFingerprint(m, this.#crypt)
      this.#manifest = m
    }
    return this.#manifest
  }

  async #fileInfo(name: string): Promise<ManifestFile> {
    const f = (await this.manifest()).files.find((x) => x.filename === name)
    if (!f) throw new PxarError('ERR_SNAPSHOT_NOT_FOUND', `archive '${name}' is not in the manifest`)
    return f
  }

  /**
   * A blob archive, checked against the manifest (size, SHA-256) and decoded.
   *
   * @throws PxarError `ERR_INDEX_CSUM` on a mismatch, blob errors.
   */
  async downloadBlob(name: string): Promise<Uint8Array<ArrayBuffer>> {
    const info = await this.#fileInfo(name)
    const blob = await this.download(name)
    if (blob.length !== info.size || createHash('sha256').update(blob).digest('hex') !== info.csum) {
      throw new PxarError('ERR_INDEX_CSUM', `blob '${name}' does not match the manifest`)
    }
    return decodeBlob(blob, { crypt: info.cryptMode === 'encrypt' ? this.#crypt : undefined })
  }

  /**
   * An index archive, checked against the manifest (recomputed checksum and size).
   *
   * @throws PxarError `ERR_INDEX_CSUM`, `ERR_INDEX_*`.
   */
  async openIndex(name: string): Promise<{ index: DynamicIndex | FixedIndex; file: ManifestFile }> {
    const file = await this.#fileInfo(name)
    const bytes = await this.download(name)
    let index: DynamicIndex | FixedIndex
    if (name.endsWith('.didx')) index = DynamicIndex.parse(bytes)
    else if (name.endsWith('.fidx')) index = FixedIndex.parse(bytes)
    else throw new TypeError(`'${name}' is not an index`)
    const { csum, size } = index.computeCsum()
    if (toHex(csum) !== file.csum || size !== file.size) {
      throw new PxarError('ERR_INDEX_CSUM', `index '${name}' does not match the manifest`)
    }
    return { index, file }
  }

  /** `GET /chunk`: an encoded chunk (cached; concurrent requests for one digest share a fetch). */
  readChunk(digest: Uint8Array | string): Promise<Uint8Array> {
    const key = typeof digest === 'string' ? digest : toHex(digest)
    const hit = this.#cache.get(key)
    if (hit) {
      this.stats.cacheHits++
      return Promise.resolve(hit)
    }
    let p = this.#inflight.get(key)
    if (!p) {
      p = this.#limiter
        .run(() => h2Raw(this.#h2, 'GET', '/chunk', { digest: key }, { maxBytes: MAX_ENCODED_BLOB_SIZE }))
        .then((blob) => {
          this.stats.chunkDownloads++
          this.stats.chunkBytes += blob.length
          this.#cache.set(key, blob)
          return blob
        })
        .finally(() => this.#inflight.delete(key))
      this.#inflight.set(key, p)
    }
    return p
  }

  /** A chunk source for `IndexReadAt` that also checks the crypt mode of every chunk. */
  chunkSource(encrypted: boolean): ChunkSource {
    return {
      read: async (digest) => {
        const blob = await this.readChunk(digest)
        if (inspectBlob(blob).encrypted !== encrypted) {
          throw new PxarError('ERR_BLOB_MAGIC', `chunk ${toHex(digest)} has the wrong crypt mode`)
        }
        return blob
      },
    }
  }

  /**
   * Random access over an index archive (`ReadAt`): chunks are fetched on demand, so the
   * accessor, restore of single files and FUSE work without downloading the whole archive.
   */
  async readAt(name: string, options: { cacheChunks?: number } = {}): Promise<IndexReadAt> {
    const { index, file } = await this.openIndex(name)
    const encrypted = file.cryptMode === 'encrypt'
    if (encrypted && !this.#crypt) throw new PxarError('ERR_BLOB_NO_KEY', `archive '${name}' is encrypted`)
    return new IndexReadAt(index, this.chunkSource(encrypted), {
      ...(encrypted ? { crypt: this.#crypt } : {}),
      ...(options.cacheChunks === undefined ? {} : { cacheChunks: options.cacheChunks }),
    })
  }

  /**
   * Streams a whole index archive in order, fetching up to `concurrency` chunks ahead.
   * Every chunk is decoded and checked against its digest.
   */
  async *restore(name: string, options: { ahead?: number } = {}): AsyncGenerator<Uint8Array> {
    const { index, file } = await this.openIndex(name)
    const encrypted = file.cryptMode === 'encrypt'
    if (encrypted && !this.#crypt) throw new PxarError('ERR_BLOB_NO_KEY', `archive '${name}' is encrypted`)
    const source = this.chunkSource(encrypted)
    const crypt = encrypted ? this.#crypt : undefined
    const ahead = Math.max(1, options.ahead ?? 8)
    const fetch = (i: number): Promise<Uint8Array> => {
      const digest = index.digest(i)
      return source.read(digest).then((blob) => decodeBlob(blob, { crypt, digest }))
    }
    const queue: Promise<Uint8Array>[] = []
    let next = 0
    try {
      while (next < index.count || queue.length > 0) {
        while (queue.length < ahead && next < index.count) {
          const p = fetch(next++)
          p.catch(() => {})
          queue.push(p)
        }
        yield await queue.shift()!
      }
    } finally {
      for (const p of queue) p.catch(() => {})
    }
  }

  /** Closes the session. */
  async close(): Promise<void> {
    if (this.#h2.destroyed || this.#h2.closed) return
    await new Promise<void>((resolve) => this.#h2.close(() => resolve()))
  }
}
