/**
 * Server side of one backup protocol session (PBS `src/api2/backup/environment.rs`): index
 * writers, the set of chunks known to the session, upload statistics, and the final `finish`.
 * The HTTP/2 handlers in `backup-protocol.ts` call into this state.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  type BackupDir,
  crc32,
  type Datastore,
  DynamicIndex,
  DynamicIndexFileWriter,
  decodeBlob,
  FIXED_CHUNK_SIZE,
  FixedIndex,
  FixedIndexWriter,
  inspectBlob,
  MANIFEST_BLOB_NAME,
  parseManifest,
  type SnapshotInfo,
  type SnapshotWriter,
  toHex,
  writeFileAtomic,
} from '@pxar/datastore'
import { badRequest, HttpError } from './http-util.ts'

/** Upload statistics (`chunk_upload_stats` in the manifest). */
export interface UploadStats {
  count: number
  size: number
  compressed_size: number
  duplicates: number
}

function emptyStats(): UploadStats {
  return { count: 0, size: 0, compressed_size: 0, duplicates: 0 }
}
function addStats(a: UploadStats, b: UploadStats): void {
  a.count += b.count
  a.size += b.size
  a.compressed_size += b.compressed_size
  a.duplicates += b.duplicates
}

interface DynamicWriterState {
  readonly kind: 'dynamic'
  readonly name: string
  readonly file: DynamicIndexFileWriter
  readonly csum: ReturnType<typeof createHash>
  offset: number
  chunkCount: number
  readonly stats: UploadStats
}

interface FixedWriterState {
  readonly kind: 'fixed'
  readonly name: string
  readonly index: FixedIndexWriter
  readonly size: number
  readonly chunkSize: number
  readonly incremental: boolean
  chunkCount: number
  smallChunks: number
  readonly stats: UploadStats
}

type WriterState = DynamicWriterState | FixedWriterState

/** Most index writers a session may open (`wid` is 1..256). */
export const MAX_WRITERS = 256

/** State of one backup session. */
export class BackupSessionState {
  readonly datastore: Datastore
  readonly dir: BackupDir
  readonly writer: SnapshotWriter
  readonly previous: SnapshotInfo | undefined
  readonly authId: string
  readonly benchmark: boolean
  /** digest hex → plaintext size, for every chunk uploaded or registered via `previous`. */
  readonly known: Map<string, number> = new Map()
  readonly #writers = new Map<number, WriterState>()
  #nextWid = 1
  #fileCount = 0
  #stats = emptyStats()
  #manifest: Uint8Array | undefined
  #finished = false
  #aborted = false
  /** Appends are applied in the order their requests arrived. */
  #appendChain: Promise<unknown> = Promise.resolve()

  constructor(init: {
    datastore: Datastore
    dir: BackupDir
    writer: SnapshotWriter
    previous: SnapshotInfo | undefined
    authId: string
    benchmark: boolean
  }) {
    this.datastore = init.datastore
    this.dir = init.dir
    this.writer = init.writer
    this.previous = init.previous
    this.authId = init.authId
    this.benchmark = init.benchmark
  }

  get finished(): boolean {
    return this.#finished
  }

  #ensureRunning(): void {
    if (this.#finished) throw badRequest('backup already finished')
    if (this.#aborted) throw badRequest('backup aborted')
  }

  #writerOf<K extends WriterState['kind']>(wid: number, kind: K): Extract<WriterState, { kind: K }> {
    const w = this.#writers.get(wid)
    if (!w || w.kind !== kind) throw badRequest(`${kind} writer '${wid}' not registered`)
    return w as Extract<WriterState, { kind: K }>
  }

  #newWid(): number {
    if (this.#nextWid > MAX_WRITERS) throw badRequest('too many index writers in this session')
    return this.#nextWid++
  }

  /** Queues an append so appends run strictly in request order. */
  serializeAppend<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#appendChain.then(task, task)
    this.#appendChain = run.catch(() => {})
    return run
  }

  /** `GET /previous`: a previous snapshot file; index chunks become known. */
  async downloadPrevious(name: string): Promise<Uint8Array> {
    this.#ensureRunning()
    if (!this.previous) throw badRequest('no valid previous backup')
    let bytes: Uint8Array
    try {
      bytes = await readFile(join(this.previous.path, name))
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT')
        throw new HttpError(404, `file '${name}' not found in previous backup`)
      throw err
    }
    if (name.endsWith('.didx')) {
      const index = DynamicIndex.parse(bytes)
      for (let i = 0; i < index.count; i++)
        this.known.set(toHex(index.digest(i)), index.end(i) - index.start(i))
    } else if (name.endsWith('.fidx')) {
      const index = FixedIndex.parse(bytes)
      for (let i = 0; i < index.count; i++) {
        const start = i * index.chunkSize
        this.known.set(toHex(index.digest(i)), Math.min(index.chunkSize, index.size - start))
      }
    }
    return bytes
  }

  /** `POST /dynamic_index`. */
  async createDynamicIndex(name: string): Promise<number> {
    this.#ensureRunning()
    if (!name.endsWith('.didx')) throw badRequest('wrong archive extension')
    this.#checkNewName(name)
    const wid = this.#newWid()
    const file = await DynamicIndexFileWriter.create(this.writer.filePath(name))
    this.#writers.set(wid, {
      kind: 'dynamic',
      name,
      file,
      csum: createHash('sha256'),
      offset: 0,
      chunkCount: 0,
      stats: emptyStats(),
    })
    return wid
  }

  #checkNewName(name: string): void {
    for (const w of this.#writers.values()) {
      if (w.name === name) throw badRequest(`index '${name}' is already being written`)
    }
  }

  /** `POST /fixed_index`. */
  async createFixedIndex(name: string, size: number, reuseCsum: string | undefined): Promise<number> {
    this.#ensureRunning()
    if (!name.endsWith('.fidx')) throw badRequest('wrong archive extension')
    this.#checkNewName(name)
    let index: FixedIndexWriter
    if (reuseCsum !== undefined) {
      if (!this.previous) throw badRequest('no previous backup for incremental fixed index')
      let prev: FixedIndex
      try {
        prev = FixedIndex.parse(await readFile(join(this.previous.path, name)))
      } catch {
        throw badRequest(`previous index '${name}' not found`)
      }
      if (toHex(prev.computeCsum().csum) !== reuseCsum)
        throw badRequest('expected csum of previous index does not match')
      if (prev.size !== size) throw badRequest('image size of previous index differs')
      index = FixedIndexWriter.reuse(prev)
    } else {
      index = new FixedIndexWriter({ size, chunkSize: FIXED_CHUNK_SIZE })
    }
    const wid = this.#newWid()
    this.#writers.set(wid, {
      kind: 'fixed',
      name,
      index,
      size,
      chunkSize: FIXED_CHUNK_SIZE,
      incremental: reuseCsum !== undefined,
      chunkCount: 0,
      smallChunks: 0,
      stats: emptyStats(),
    })
    return wid
  }

  /**
   * `POST /dynamic_chunk` and `/fixed_chunk`: validates and stores one uploaded chunk.
   * The body must already have been read (at most `encodedSize` bytes).
   */
  async uploadChunk(
    kind: 'dynamic' | 'fixed',
    wid: number,
    digest: string,
    size: number,
    encodedSize: number,
    body: Uint8Array<ArrayBuffer>,
  ): Promise<void> {
    this.#ensureRunning()
    const w = this.#writerOf(wid, kind)
    if (body.length !== encodedSize) throw badRequest('uploaded chunk has unexpected size.')
    let info: ReturnType<typeof inspectBlob>
    try {
      info = inspectBlob(body)
    } catch (err) {
      throw badRequest(`invalid chunk blob: ${(err as Error).message}`)
    }
    if (!info.encrypted) {
      let data: Uint8Array
      try {
        data = decodeBlob(body, { verifyCrc: false, maxSize: size })
      } catch (err) {
        throw badRequest(`chunk decode failed: ${(err as Error).message}`)
      }
      if (data.length !== size)
        throw badRequest(`uploaded chunk has unexpected size (${data.length} != ${size})`)
      if (toHex(createHash('sha256').update(data).digest()) !== digest) {
        throw badRequest('detected chunk with wrong digest.')
      }
    }
    if (w.kind === 'fixed') {
      if (size > w.chunkSize)
        throw badRequest(`fixed writer '${w.name}' - got large chunk (${size} > ${w.chunkSize})`)
      if (size < w.chunkSize) {
        w.smallChunks++
        if (w.smallChunks > 1) throw badRequest(`fixed writer '${w.name}' - detected multiple end chunks`)
      }
    }
    // The server computes the CRC itself (the client's value is not trusted).
    new DataView(body.buffer, body.byteOffset, body.byteLength).setUint32(
      8,
      crc32(body.subarray(info.headerSize)),
      true,
    )
    const { duplicate } = await this.datastore.chunkStore.insert(digest, body)
    w.stats.count++
    w.stats.size += size
    w.stats.compressed_size += encodedSize
    if (duplicate) w.stats.duplicates++
    this.known.set(digest, size)
  }

  #knownSize(digest: string): number {
    const size = this.known.get(digest)
    if (size === undefined) throw badRequest(`no such chunk ${digest}`)
    return size
  }

  /** `PUT /dynamic_index`. */
  appendDynamic(wid: number, digests: readonly string[], offsets: readonly number[]): void {
    this.#ensureRunning()
    const w = this.#writerOf(wid, 'dynamic')
    if (digests.length !== offsets.length) throw badRequest('offset and digest lists have different lengths')
    const entry = new Uint8Array(40)
    const view = new DataView(entry.buffer)
    for (let i = 0; i < digests.length; i++) {
      const digest = digests[i]!
      const offset = offsets[i]!
      const size = this.#knownSize(digest)
      if (offset !== w.offset) {
        throw badRequest(
          `dynamic writer '${w.name}' append chunk failed - got strange chunk offset (${offset} != ${w.offset})`,
        )
      }
      const end = w.offset + size
      const bytes = Buffer.from(digest, 'hex')
      w.file.add(end, bytes)
      view.setUint32(0, end >>> 0, true)
      view.setUint32(4, Math.floor(end / 2 ** 32), true)
      entry.set(bytes, 8)
      w.csum.update(entry)
      w.offset = end
      w.chunkCount++
    }
  }

  /** `PUT /fixed_index`. */
  appendFixed(wid: number, digests: readonly string[], offsets: readonly number[]): void {
    this.#ensureRunning()
    const w = this.#writerOf(wid, 'fixed')
    if (digests.length !== offsets.length) throw badRequest('offset and digest lists have different lengths')
    for (let i = 0; i < digests.length; i++) {
      const digest = digests[i]!
      const offset = offsets[i]!
      const size = this.#knownSize(digest)
      const end = offset + size
      if (end > w.size) throw badRequest(`fixed writer '${w.name}' - write chunk out of range`)
      if (size !== w.chunkSize && end !== w.size)
        throw badRequest(`fixed writer '${w.name}' - got unexpected chunk size`)
      if (size === 0) throw badRequest(`fixed writer '${w.name}' - got empty chunk`)
      if (offset % w.chunkSize !== 0)
        throw badRequest(`fixed writer '${w.name}' - got unaligned chunk offset`)
      w.index.setDigest(offset / w.chunkSize, Buffer.from(digest, 'hex'))
      w.chunkCount++
    }
  }

  /** `POST /dynamic_close`. */
  async closeDynamic(wid: number, chunkCount: number, size: number, csum: string): Promise<void> {
    this.#ensureRunning()
    const w = this.#writerOf(wid, 'dynamic')
    this.#writers.delete(wid)
    try {
      if (w.chunkCount !== chunkCount) {
        throw badRequest(
          `dynamic writer '${w.name}' close failed - unexpected chunk count (${w.chunkCount} != ${chunkCount})`,
        )
      }
      if (w.offset !== size) {
        throw badRequest(
          `dynamic writer '${w.name}' close failed - unexpected file size (${w.offset} != ${size})`,
        )
      }
      if (w.csum.digest('hex') !== csum)
        throw badRequest(`dynamic writer '${w.name}' close failed - got unexpected checksum`)
    } catch (err) {
      await w.file.abort()
      throw err
    }
    await w.file.close()
    this.#fileCount++
    addStats(this.#stats, w.stats)
  }

  /** `POST /fixed_close`. */
  async closeFixed(wid: number, chunkCount: number, size: number, csum: string): Promise<void> {
    this.#ensureRunning()
    const w = this.#writerOf(wid, 'fixed')
    this.#writers.delete(wid)
    if (w.chunkCount !== chunkCount) {
      throw badRequest(
        `fixed writer '${w.name}' close failed - received wrong number of chunk (${w.chunkCount} != ${chunkCount})`,
      )
    }
    if (!w.incremental) {
      const expected = Math.ceil(w.size / w.chunkSize)
      if (chunkCount !== expected) {
        throw badRequest(
          `fixed writer '${w.name}' close failed - unexpected chunk count (${expected} != ${chunkCount})`,
        )
      }
      if (size !== w.size)
        throw badRequest(
          `fixed writer '${w.name}' close failed - unexpected file size (${w.size} != ${size})`,
        )
    }
    const { bytes, csum: actual } = w.index.finish()
    if (toHex(actual) !== csum)
      throw badRequest(`fixed writer '${w.name}' close failed - got unexpected checksum`)
    await writeFileAtomic(this.writer.filePath(w.name), bytes)
    this.#fileCount++
    addStats(this.#stats, w.stats)
  }

  /** `POST /blob`: stores a blob (the manifest is kept until `finish`, so the snapshot stays invisible). */
  async uploadBlob(name: string, body: Uint8Array): Promise<void> {
    this.#ensureRunning()
    let info: ReturnType<typeof inspectBlob>
    try {
      info = inspectBlob(body)
    } catch (err) {
      throw badRequest(`invalid blob: ${(err as Error).message}`)
    }
    if (info.crc !== info.computedCrc) throw badRequest('blob has wrong CRC checksum')
    if (name === MANIFEST_BLOB_NAME) this.#manifest = Uint8Array.from(body)
    else await writeFileAtomic(this.writer.filePath(name), body)
    this.#fileCount++
  }

  /** `POST /finish`: checks, rewrites the manifest with the upload statistics, makes the snapshot visible. */
  async finish(): Promise<void> {
    this.#ensureRunning()
    if (this.#writers.size > 0) throw badRequest('found open index writer - unable to finish backup')
    if (this.#fileCount === 0) throw badRequest('backup does not contain valid files (file count == 0)')
    if (!this.#manifest) throw badRequest('unable to load manifest blob - no manifest uploaded')
    let text: Uint8Array
    try {
      text = decodeBlob(this.#manifest)
    } catch (err) {
      throw badRequest(`unable to load manifest blob - ${(err as Error).message}`)
    }
    const manifest = parseManifest(text)
    if (this.previous) {
      try {
        await this.datastore.snapshotInfo(this.previous.dir)
      } catch {
        throw badRequest('base snapshot was removed during the backup')
      }
    }
    await this.writer.finish({
      manifest: {
        ...manifest,
        unprotected: { ...manifest.unprotected, chunk_upload_stats: { ...this.#stats } },
      },
    })
    this.#finished = true
    if (this.benchmark) await this.datastore.removeSnapshot(this.dir, { force: true }).catch(() => {})
  }

  /** Ends the session: an unfinished snapshot is removed, open index temp files are dropped. */
  async end(): Promise<void> {
    if (this.#finished || this.#aborted) return
    // let a running finish complete first
    await this.#appendChain.catch(() => {})
    if (this.#finished || this.#aborted) return
    this.#aborted = true
    for (const w of this.#writers.values()) {
      if (w.kind === 'dynamic') await w.file.abort().catch(() => {})
    }
    this.#writers.clear()
    await this.writer.abort()
  }
}
