/**
 * Dynamic index (`.didx`, upstream `pbs-datastore/src/dynamic_index.rs`): a 4096-byte header,
 * then one 40-byte entry per chunk: `end` (u64 LE, exclusive end offset in the stream) and the
 * 32-byte digest. `index_csum` (header offset 32) = SHA-256 of the entry area.
 */
import { createHash, type Hash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { PxarError, PxarFormatError } from '@pxar/format'
import { toBytes } from './digest.ts'
import {
  checkCsum,
  DYNAMIC_INDEX_MAGIC,
  getU64,
  INDEX_HEADER_SIZE,
  type IndexSummary,
  type IndexWriterOptions,
  openTempIndex,
  readHeaderStart,
  setU64,
  type TempIndexFile,
  writeHeaderStart,
} from './index-common.ts'

/** Size of one `.didx` entry. */
export const DYNAMIC_ENTRY_SIZE = 40

/** One chunk of a dynamic index. */
export interface DynamicEntry {
  /** Start offset in the stream (previous entry's end). */
  readonly start: number
  /** Exclusive end offset. */
  readonly end: number
  readonly digest: Uint8Array<ArrayBuffer>
}

/** Shared state of both dynamic writers: validation, running checksum, entry encoding. */
class DynamicCore {
  readonly header: Uint8Array<ArrayBuffer> = new Uint8Array(INDEX_HEADER_SIZE)
  readonly uuid: Uint8Array<ArrayBuffer>
  readonly ctime: number
  readonly hash: Hash = createHash('sha256')
  readonly entry: Uint8Array<ArrayBuffer> = new Uint8Array(DYNAMIC_ENTRY_SIZE)
  readonly entryView: DataView = new DataView(this.entry.buffer)
  size = 0
  count = 0

  constructor(options: IndexWriterOptions) {
    const h = writeHeaderStart(this.header, DYNAMIC_INDEX_MAGIC, options)
    this.uuid = h.uuid
    this.ctime = h.ctime
  }

  /** Encodes the next entry into `this.entry` and hashes it. */
  push(end: number, digest: Uint8Array): Uint8Array<ArrayBuffer> {
    if (!Number.isSafeInteger(end) || end <= this.size) {
      throw new RangeError(`chunk end ${end} must be an integer greater than the previous end ${this.size}`)
    }
    if (digest.length !== 32) throw new RangeError('chunk digest must be 32 bytes')
    setU64(this.entryView, 0, end)
    this.entry.set(digest, 8)
    this.hash.update(this.entry)
    this.size = end
    this.count++
    return this.entry
  }

  summary(): IndexSummary {
    const csum = toBytes(this.hash.digest())
    this.header.set(csum, 32)
    return { csum, size: this.size, count: this.count }
  }
}

/** Result of {@link DynamicIndexWriter.finish}. */
export interface DynamicIndexBytes extends IndexSummary {
  /** The complete `.didx` file. */
  readonly bytes: Uint8Array<ArrayBuffer>
}

/**
 * In-memory `.didx` writer (synchronous push core).
 *
 * @example
 * ```ts
 * const w = new DynamicIndexWriter()
 * w.addChunk(chunk.length, digest)
 * const { bytes, csum, size } = w.finish()
 * ```
 */
export class DynamicIndexWriter {
  readonly #core: DynamicCore
  #buf: Uint8Array<ArrayBuffer>
  #len = INDEX_HEADER_SIZE
  #done = false

  constructor(options: IndexWriterOptions = {}) {
    this.#core = new DynamicCore(options)
    this.#buf = new Uint8Array(INDEX_HEADER_SIZE + 64 * DYNAMIC_ENTRY_SIZE)
  }

  get uuid(): Uint8Array<ArrayBuffer> {
    return this.#core.uuid
  }
  get ctime(): number {
    return this.#core.ctime
  }
  /** Entries so far. */
  get count(): number {
    return this.#core.count
  }
  /** Stream size so far (last end). */
  get size(): number {
    return this.#core.size
  }

  /**
   * Appends an entry by end offset.
   *
   * @throws RangeError when `end` does not grow or the digest is not 32 bytes.
   */
  add(end: number, digest: Uint8Array): void {
    if (this.#done) throw new Error('writer already finished')
    const entry = this.#core.push(end, digest)
    if (this.#len + DYNAMIC_ENTRY_SIZE > this.#buf.length) {
      const grown = new Uint8Array(this.#buf.length * 2)
      grown.set(this.#buf.subarray(0, this.#len))
      this.#buf = grown
    }
    this.#buf.set(entry, this.#len)
    this.#len += DYNAMIC_ENTRY_SIZE
  }

  /** Appends the next chunk by its size. */
  addChunk(size: number, digest: Uint8Array): void {
    this.add(this.#core.size + size, digest)
  }

  /** Completes the header checksum and returns the file bytes with csum/size/count. */
  finish(): DynamicIndexBytes {
    if (this.#done) throw new Error('writer already finished')
    this.#done = true
    const summary = this.#core.summary()
    this.#buf.set(this.#core.header, 0)
    return { ...summary, bytes: this.#buf.slice(0, this.#len) }
  }
}

/**
 * Streaming `.didx` file writer: entries go to `<name>.tmp_didx` as they come (buffered), the
 * checksum is written on {@link DynamicIndexFileWriter.close}, which renames the file into place.
 *
 * @example
 * ```ts
 * const w = await DynamicIndexFileWriter.create('root.pxar.didx')
 * for (const c of chunks) w.addChunk(c.size, c.digest)
 * const { csum, size } = await w.close()
 * ```
 */
export class DynamicIndexFileWriter {
  readonly #core: DynamicCore
  readonly #file: TempIndexFile
  #pending: Uint8Array<ArrayBuffer>
  #pendingLen = 0
  #position = INDEX_HEADER_SIZE
  #writes: Promise<void> = Promise.resolve()
  #error: unknown
  #closed = false

  private constructor(core: DynamicCore, file: TempIndexFile) {
    this.#core = core
    this.#file = file
    this.#pending = new Uint8Array(64 * 1024)
  }

  /** Creates the temp file and writes the provisional header. */
  static async create(path: string, options: IndexWriterOptions = {}): Promise<DynamicIndexFileWriter> {
    const core = new DynamicCore(options)
    const file = await openTempIndex(path, 'tmp_didx')
    try {
      await file.handle.write(core.header, 0, INDEX_HEADER_SIZE, 0)
    } catch (err) {
      await file.abort()
      throw new PxarError('ERR_STORE_IO', `cannot write index ${file.tmp}`, { cause: err })
    }
    return new DynamicIndexFileWriter(core, file)
  }

  get count(): number {
    return this.#core.count
  }
  get size(): number {
    return this.#core.size
  }

  #flush(): void {
    if (this.#pendingLen === 0) return
    const data = this.#pending.subarray(0, this.#pendingLen)
    const position = this.#position
    this.#position += this.#pendingLen
    this.#pending = new Uint8Array(this.#pending.length)
    this.#pendingLen = 0
    this.#writes = this.#writes.then(async () => {
      if (this.#error) return
      try {
        await this.#file.handle.write(data, 0, data.length, position)
      } catch (err) {
        this.#error = err
      }
    })
  }

  /** Appends an entry by end offset (see {@link DynamicIndexWriter.add}). */
  add(end: number, digest: Uint8Array): void {
    if (this.#closed) throw new Error('writer already closed')
    const entry = this.#core.push(end, digest)
    this.#pending.set(entry, this.#pendingLen)
    this.#pendingLen += DYNAMIC_ENTRY_SIZE
    if (this.#pendingLen + DYNAMIC_ENTRY_SIZE > this.#pending.length) this.#flush()
  }

  /** Appends the next chunk by its size. */
  addChunk(size: number, digest: Uint8Array): void {
    this.add(this.#core.size + size, digest)
  }

  /**
   * Flushes, writes the checksum, syncs and renames the file into place.
   *
   * @throws PxarError `ERR_STORE_IO` when writing failed (the temp file is removed).
   */
  async close(): Promise<IndexSummary> {
    if (this.#closed) throw new Error('writer already closed')
    this.#closed = true
    this.#flush()
    await this.#writes
    const summary = this.#core.summary()
    try {
      if (this.#error) throw this.#error
      await this.#file.handle.write(summary.csum, 0, 32, 32)
      await this.#file.commit()
    } catch (err) {
      await this.#file.abort()
      throw new PxarError('ERR_STORE_IO', `cannot write index ${this.#file.tmp}`, { cause: err })
    }
    return summary
  }

  /** Discards the temp file. */
  async abort(): Promise<void> {
    this.#closed = true
    await this.#writes
    await this.#file.abort()
  }
}

/**
 * A parsed `.didx` file. Like the upstream reader it refuses an index without entries, and it
 * rejects end offsets that do not strictly grow (binary search relies on them).
 *
 * @example
 * ```ts
 * const index = DynamicIndex.parse(bytes)
 * index.verifyCsum(manifestCsum)
 * const hit = index.chunkFromOffset(1_000_000) // { index, offset }
 * ```
 */
export class DynamicIndex {
  readonly uuid: Uint8Array<ArrayBuffer>
  /** Header ctime (epoch seconds). */
  readonly ctime: number
  /** Checksum stored in the header (not verified by parsing; see {@link DynamicIndex.verifyCsum}). */
  readonly indexCsum: Uint8Array<ArrayBuffer>
  readonly count: number
  /** Total stream size (last end offset). */
  readonly size: number
  readonly #bytes: Uint8Array
  readonly #ends: Float64Array

  private constructor(bytes: Uint8Array, header: ReturnType<typeof readHeaderStart>, ends: Float64Array) {
    this.#bytes = bytes
    this.uuid = header.uuid
    this.ctime = header.ctime
    this.indexCsum = header.indexCsum
    this.#ends = ends
    this.count = ends.length
    this.size = ends[ends.length - 1]!
  }

  /**
   * Parses and validates a `.didx` (keeps a reference to `bytes`).
   *
   * @throws PxarFormatError `ERR_INDEX_MAGIC`, `ERR_INDEX_FORMAT` (size, offsets);
   *   PxarError `ERR_INDEX_EMPTY` for a header-only index.
   */
  static parse(bytes: Uint8Array): DynamicIndex {
    const header = readHeaderStart(bytes, DYNAMIC_INDEX_MAGIC, 'dynamic index')
    const area = bytes.length - INDEX_HEADER_SIZE
    if (area % DYNAMIC_ENTRY_SIZE !== 0) {
      throw new PxarFormatError(
        'ERR_INDEX_FORMAT',
        `dynamic index entry area (${area} bytes) is not a multiple of 40`,
        bytes.length,
      )
    }
    const count = area / DYNAMIC_ENTRY_SIZE
    if (count === 0) throw new PxarError('ERR_INDEX_EMPTY', 'dynamic index has no entries')
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const ends = new Float64Array(count)
    let prev = 0
    for (let i = 0; i < count; i++) {
      const off = INDEX_HEADER_SIZE + i * DYNAMIC_ENTRY_SIZE
      const end = getU64(view, off, 'chunk end offset')
      if (end <= prev)
        throw new PxarFormatError('ERR_INDEX_FORMAT', `chunk end offset ${end} does not grow`, off)
      ends[i] = end
      prev = end
    }
    return new DynamicIndex(bytes, header, ends)
  }

  #check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) {
      throw new PxarError('ERR_INDEX_RANGE', `chunk index ${i} out of range (0..${this.count})`)
    }
  }

  /** End offset of chunk `i`. */
  end(i: number): number {
    this.#check(i)
    return this.#ends[i]!
  }

  /** Start offset of chunk `i`. */
  start(i: number): number {
    this.#check(i)
    return i === 0 ? 0 : this.#ends[i - 1]!
  }

  /** Digest of chunk `i` (a view into the index bytes). */
  digest(i: number): Uint8Array {
    this.#check(i)
    const off = INDEX_HEADER_SIZE + i * DYNAMIC_ENTRY_SIZE + 8
    return this.#bytes.subarray(off, off + 32)
  }

  /** Entry `i` (digest copied). */
  entry(i: number): DynamicEntry {
    return { start: this.start(i), end: this.end(i), digest: new Uint8Array(this.digest(i)) }
  }

  /** All entries in order. */
  *entries(): IterableIterator<DynamicEntry> {
    for (let i = 0; i < this.count; i++) yield this.entry(i)
  }

  /**
   * Chunk containing stream `offset` and the offset inside that chunk, or undefined when
   * `offset` is at or beyond the end.
   */
  chunkFromOffset(offset: number): { index: number; offset: number } | undefined {
    if (!(offset >= 0) || offset >= this.size) return undefined
    const ends = this.#ends
    let lo = 0
    let hi = ends.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (ends[mid]! <= offset) lo = mid + 1
      else hi = mid
    }
    return { index: lo, offset: offset - (lo === 0 ? 0 : ends[lo - 1]!) }
  }

  /** SHA-256 of the entry area and the stream size (what the manifest records). */
  computeCsum(): { csum: Uint8Array<ArrayBuffer>; size: number } {
    const csum = toBytes(createHash('sha256').update(this.#bytes.subarray(INDEX_HEADER_SIZE)).digest())
    return { csum, size: this.size }
  }

  /**
   * Compares the computed checksum with `expected` (default: the header's).
   *
   * @throws PxarError `ERR_INDEX_CSUM`.
   */
  verifyCsum(expected: Uint8Array = this.indexCsum): void {
    checkCsum(this.computeCsum().csum, expected)
  }
}

/** Reads and parses a `.didx` file. */
export async function readDynamicIndexFile(path: string): Promise<DynamicIndex> {
  return DynamicIndex.parse(toBytes(await readFile(path)))
}
