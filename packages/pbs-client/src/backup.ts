/**
 * The client side of the PBS backup protocol (`pbs-client/src/backup_writer.rs`), shaped as the
 * `RemoteStore` / `BackupSession` / `IndexUpload` interfaces of `@pxar/proxy` (structurally; this
 * package does not import it).
 */
import type http2 from 'node:http2'
import { FIXED_CHUNK_SIZE, MANIFEST_BLOB_NAME, toHex } from '@pxar/datastore'
import { PxarError } from '@pxar/format'
import { type PbsClient, PbsHttpError } from './client.ts'
import { h2Json, h2Raw } from './h2.ts'
import { PbsReader } from './reader.ts'

/** Protocol name of the backup upgrade. */
export const BACKUP_PROTOCOL_ID = 'proxmox-backup-protocol-v1'

/** A snapshot address (same shape as `BackupDir` of `@pxar/datastore`). */
export interface SnapshotRef {
  readonly ns: readonly string[]
  readonly type: 'host' | 'ct' | 'vm'
  readonly id: string
  readonly time: number
}

/** Options of {@link PbsRemoteStore.beginBackup}. */
export interface BeginBackupOptions {
  readonly snapshot: SnapshotRef
  /** Ignored: the server records the authenticated user as the owner of a new group. */
  readonly owner?: string
}

/** Most entries per append request (keeps the JSON body well below the server's 64 KiB limit). */
export const APPEND_BATCH = 128

/** Counters of a backup session. */
export interface BackupSessionStats {
  /** Chunk uploads sent (`POST /*_chunk`). */
  chunkUploads: number
  /** Encoded bytes uploaded in chunks. */
  chunkBytes: number
  /** Append requests sent. */
  appends: number
  /** Blob uploads. */
  blobs: number
}

/** Snapshot parameters as the protocol takes them. */
export function snapshotParams(s: SnapshotRef): Record<string, string | number> {
  return {
    ...(s.ns.length > 0 ? { ns: s.ns.join('/') } : {}),
    'backup-type': s.type,
    'backup-id': s.id,
    'backup-time': s.time,
  }
}

/** One index writer (`wid`) of a backup session. */
export class PbsIndexUpload {
  readonly session: PbsBackupSession
  readonly kind: 'dynamic' | 'fixed'
  readonly name: string
  readonly wid: number

  /** @internal use {@link PbsBackupSession.createDynamicIndex} / `createFixedIndex`. */
  constructor(session: PbsBackupSession, kind: 'dynamic' | 'fixed', name: string, wid: number) {
    this.session = session
    this.kind = kind
    this.name = name
    this.wid = wid
  }

  /** `POST /{dynamic,fixed}_chunk`: uploads an encoded chunk; resolves when the server acknowledged it. */
  async uploadChunk(digest: Uint8Array, size: number, blob: Uint8Array): Promise<void> {
    await this.session.call(
      'POST',
      `/${this.kind}_chunk`,
      {
        wid: this.wid,
        digest: toHex(digest),
        size,
        'encoded-size': blob.length,
      },
      { body: blob, contentType: 'application/octet-stream' },
    )
    this.session.stats.chunkUploads++
    this.session.stats.chunkBytes += blob.length
  }

  /** `PUT /{dynamic,fixed}_index`: appends chunks by digest and start offset (batched). */
  async append(digests: readonly Uint8Array[], offsets: readonly number[]): Promise<void> {
    if (digests.length !== offsets.length) throw new RangeError('digest and offset lists differ in length')
    for (let i = 0; i < digests.length; i += APPEND_BATCH) {
      const body = JSON.stringify({
        wid: this.wid,
        'digest-list': digests.slice(i, i + APPEND_BATCH).map((d) => toHex(d)),
        'offset-list': offsets.slice(i, i + APPEND_BATCH),
      })
      await this.session.call('PUT', `/${this.kind}_index`, {}, { body, contentType: 'application/json' })
      this.session.stats.appends++
    }
  }

  /** `POST /{dynamic,fixed}_close` with the client's count, size and index checksum. */
  async close(summary: {
    readonly chunkCount: number
    readonly size: number
    readonly csum: Uint8Array
  }): Promise<void> {
    await this.session.call('POST', `/${this.kind}_close`, {
      wid: this.wid,
      'chunk-count': summary.chunkCount,
      size: summary.size,
      csum: toHex(summary.csum),
    })
  }
}

/**
 * One backup protocol session (one snapshot). Implements the `BackupSession` interface of
 * `@pxar/proxy`.
 */
export class PbsBackupSession {
  readonly client: PbsClient
  readonly store: string
  readonly snapshot: SnapshotRef
  readonly stats: BackupSessionStats = { chunkUploads: 0, chunkBytes: 0, appends: 0, blobs: 0 }
  readonly #h2: http2.ClientHttp2Session
  #previousTime: number | null | undefined
  #previousReader: Promise<PbsReader> | undefined
  #done = false

  /** @internal use {@link PbsRemoteStore.beginBackup} or {@link PbsBackupSession.start}. */
  constructor(client: PbsClient, store: string, snapshot: SnapshotRef, h2: http2.ClientHttp2Session) {
    this.client = client
    this.store = store
    this.snapshot = snapshot
    this.#h2 = h2
  }

  /**
   * Upgrades a connection to the backup protocol for `snapshot`.
   *
   * @throws PbsHttpError when the server refuses (auth, owner, time, running backup, …).
   */
  static async start(
    client: PbsClient,
    store: string,
    snapshot: SnapshotRef,
    options: { benchmark?: boolean } = {},
  ): Promise<PbsBackupSession> {
    const h2 = await client.upgrade(
      '/backup',
      { store, ...snapshotParams(snapshot), debug: true, benchmark: options.benchmark ?? false },
      BACKUP_PROTOCOL_ID,
    )
    return new PbsBackupSession(client, store, snapshot, h2)
  }

  /** The HTTP/2 session (for tests and extensions). */
  get h2(): http2.ClientHttp2Session {
    return this.#h2
  }

  /** A JSON call on the session. */
  call(
    method: string,
    path: string,
    params: Record<string, string | number | boolean> = {},
    options: { body?: Uint8Array | string; contentType?: string } = {},
  ): Promise<unknown> {
    return h2Json(this.#h2, method, path, params, options)
  }

  /** `GET /previous_backup_time`: the newest finished snapshot's time, or undefined. */
  async previousBackupTime(): Promise<number | undefined> {
    if (this.#previousTime === undefined) {
      const t = await this.call('GET', '/previous_backup_time')
      if (t !== null && typeof t !== 'number')
        throw new PxarError('ERR_PBS_PROTOCOL', 'bad previous_backup_time')
      this.#previousTime = t
    }
    return this.#previousTime ?? undefined
  }

  /**
   * `GET /previous`: a raw file of the previous snapshot (indexes register their chunks as
   * known on the server); undefined without a previous snapshot or file.
   */
  async downloadPrevious(name: string): Promise<Uint8Array | undefined> {
    if ((await this.previousBackupTime()) === undefined) return undefined
    try {
      return await h2Raw(this.#h2, 'GET', '/previous', { 'archive-name': name })
    } catch (err) {
      if (err instanceof PbsHttpError && (err.status === 404 || err.status === 400)) return undefined
      throw err
    }
  }

  /**
   * An encoded chunk of the previous snapshot, read through a reader session opened on demand
   * (every index of the previous snapshot is registered there first).
   */
  async readChunk(digest: Uint8Array): Promise<Uint8Array> {
    const time = await this.previousBackupTime()
    if (time === undefined)
      throw new PxarError('ERR_CHUNK_MISSING', 'no previous snapshot to read chunks from')
    this.#previousReader ??= (async () => {
      const reader = await PbsReader.open(this.client, this.store, { ...this.snapshot, time })
      const manifest = await reader.manifest()
      for (const f of manifest.files) if (/\.[fd]idx$/.test(f.filename)) await reader.download(f.filename)
      return reader
    })()
    return (await this.#previousReader).readChunk(digest)
  }

  /** `POST /dynamic_index`. */
  async createDynamicIndex(name: string): Promise<PbsIndexUpload> {
    const wid = await this.call('POST', '/dynamic_index', { 'archive-name': name })
    if (typeof wid !== 'number') throw new PxarError('ERR_PBS_PROTOCOL', 'bad writer id')
    return new PbsIndexUpload(this, 'dynamic', name, wid)
  }

  /**
   * `POST /fixed_index` for an image of `size` bytes. The server always uses 4 MiB chunks.
   *
   * @throws RangeError for another `chunkSize`.
   */
  async createFixedIndex(
    name: string,
    size: number,
    chunkSize: number = FIXED_CHUNK_SIZE,
    options: { reuseCsum?: Uint8Array } = {},
  ): Promise<PbsIndexUpload> {
    if (chunkSize !== FIXED_CHUNK_SIZE) throw new RangeError('a PBS server only takes 4 MiB fixed chunks')
    const wid = await this.call('POST', '/fixed_index', {
      'archive-name': name,
      size,
      ...(options.reuseCsum ? { 'reuse-csum': toHex(options.reuseCsum) } : {}),
    })
    if (typeof wid !== 'number') throw new PxarError('ERR_PBS_PROTOCOL', 'bad writer id')
    return new PbsIndexUpload(this, 'fixed', name, wid)
  }

  /** `POST /blob`: stores an encoded DataBlob (`index.json.blob` is the manifest). */
  async uploadBlob(name: string, blob: Uint8Array): Promise<void> {
    await this.call(
      'POST',
      '/blob',
      { 'file-name': name, 'encoded-size': blob.length },
      {
        body: blob,
        contentType: 'application/octet-stream',
      },
    )
    this.stats.blobs++
  }

  /** `POST /finish`, then closes the connection. */
  async finish(): Promise<void> {
    await this.call('POST', '/finish')
    this.#done = true
    await this.#close()
  }

  /** Abandons the backup: closes the connection, so the server removes the snapshot. Idempotent. */
  async abort(): Promise<void> {
    this.#done = true
    await this.#close(true)
  }

  async #close(destroy = false): Promise<void> {
    const reader = this.#previousReader
    this.#previousReader = undefined
    if (reader) await reader.then((r) => r.close()).catch(() => {})
    if (this.#h2.destroyed) return
    if (destroy) {
      this.#h2.destroy()
      return
    }
    await new Promise<void>((resolve) => this.#h2.close(() => resolve()))
  }

  /** True after finish or abort. */
  get done(): boolean {
    return this.#done
  }
}

/**
 * A PBS datastore as a backup target (the `RemoteStore` interface of `@pxar/proxy`).
 *
 * @example
 * ```ts
 * const store = new PbsRemoteStore(PbsClient.fromRepository(repo), 'store1')
 * const session = await store.beginBackup({ snapshot: { ns: [], type: 'host', id: 'web', time } })
 * ```
 */
export class PbsRemoteStore {
  readonly client: PbsClient
  readonly store: string
  constructor(client: PbsClient, store: string) {
    this.client = client
    this.store = store
  }

  /** Starts a backup session (protocol upgrade). */
  beginBackup(options: BeginBackupOptions): Promise<PbsBackupSession> {
    return PbsBackupSession.start(this.client, this.store, options.snapshot)
  }

  /** Opens a reader session on a finished snapshot. */
  openReader(snapshot: SnapshotRef): Promise<PbsReader> {
    return PbsReader.open(this.client, this.store, snapshot)
  }
}

export { MANIFEST_BLOB_NAME }
