/**
 * Fixed index (`.fidx`, upstream `pbs-datastore/src/fixed_index.rs`): a 4096-byte header with
 * image `size` (offset 64) and `chunk_size` (offset 72), then `ceil(size / chunk_size)` digests.
 * `index_csum` = SHA-256 of the digest array.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { PxarError, PxarFormatError } from '@pxar/format'
import { toBytes } from './digest.ts'
import {
  checkCsum,
  FIXED_INDEX_MAGIC,
  getU64,
  INDEX_HEADER_SIZE,
  type IndexHeader,
  type IndexSummary,
  type IndexWriterOptions,
  openTempIndex,
  readHeaderStart,
  setU64,
  writeHeaderStart,
} from './index-common.ts'

/** Chunk size the backup protocol uses for images (4 MiB). */
export const FIXED_CHUNK_SIZE: number = 4 * 1024 * 1024

/** Options of the fixed index writers. */
export interface FixedIndexWriterOptions extends IndexWriterOptions {
  /** Image size in bytes (>= 1). */
  readonly size: number
  /** Power of two; default 4 MiB. */
  readonly chunkSize?: number
}

/** Result of {@link FixedIndexWriter.finish}. */
export interface FixedIndexBytes extends IndexSummary {
  readonly bytes: Uint8Array<ArrayBuffer>
}

/**
 * In-memory `.fidx` writer. Digests may be set in any order; unset slots stay zero (like
 * upstream). The whole file is `4096 + 32 * count` bytes, allocated up front.
 *
 * @example
 * ```ts
 * const w = new FixedIndexWriter({ size: imageSize })
 * w.addChunk(0, chunk.length, digest)
 * const { bytes, csum } = w.finish()
 * ```
 */
export class FixedIndexWriter {
  readonly uuid: Uint8Array<ArrayBuffer>
  readonly ctime: number
  readonly size: number
  readonly chunkSize: number
  readonly count: number
  readonly #buf: Uint8Array<ArrayBuffer>
  #done = false

  /** @throws RangeError for size 0 ("invalid index size") or a chunk size that is not a power of two. */
  constructor(options: FixedIndexWriterOptions) {
    const { size } = options
    const chunkSize = options.chunkSize ?? FIXED_CHUNK_SIZE
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError('invalid index size')
    if (
      !Number.isSafeInteger(chunkSize) ||
      chunkSize < 1 ||
      2 ** Math.round(Math.log2(chunkSize)) !== chunkSize
    ) {
      throw new RangeError('chunk size must be a power of two')
    }
    this.size = size
    this.chunkSize = chunkSize
    this.count = Math.ceil(size / chunkSize)
    this.#buf = new Uint8Array(INDEX_HEADER_SIZE + 32 * this.count)
    const h = writeHeaderStart(this.#buf, FIXED_INDEX_MAGIC, options)
    this.uuid = h.uuid
    this.ctime = h.ctime
    const view = new DataView(this.#buf.buffer)
    setU64(view, 64, size)
    setU64(view, 72, chunkSize)
  }

  /**
   * A writer pre-filled with the digests of `previous` (incremental backups: the backup
   * protocol's `reuse-csum`), for an image of the same size and chunk size.
   *
   * @throws RangeError when size or chunk size differ.
   */
  static reuse(previous: FixedIndex, options: IndexWriterOptions = {}): FixedIndexWriter {
    const w = new FixedIndexWriter({ ...options, size: previous.size, chunkSize: previous.chunkSize })
    for (let i = 0; i < previous.count; i++) w.setDigest(i, previous.digest(i))
    return w
  }

  /**
   * Sets the digest of slot `index`.
   *
   * @throws RangeError for an index out of range or a digest that is not 32 bytes.
   */
  setDigest(index: number, digest: Uint8Array): void {
    if (this.#done) throw new Error('writer already finished')
    if (!Number.isInteger(index) || index < 0 || index >= this.count) {
      throw new RangeError(`chunk index ${index} out of range (0..${this.count})`)
    }
    if (digest.length !== 32) throw new RangeError('chunk digest must be 32 bytes')
    this.#buf.set(digest, INDEX_HEADER_SIZE + 32 * index)
  }

  /**
   * Sets the digest of the chunk at `offset` with length `size`, checking alignment like
   * upstream `add_chunk`: `offset` a multiple of the chunk size, `size` the full chunk size
   * except for the last chunk, which must end at the image size.
   *
   * @throws RangeError on misalignment.
   */
  addChunk(offset: number, size: number, digest: Uint8Array): void {
    const end = offset + size
    if (!Number.isSafeInteger(offset) || offset < 0 || offset % this.chunkSize !== 0) {
      throw new RangeError(`chunk offset ${offset} is not aligned to ${this.chunkSize}`)
    }
    const expected = Math.min(this.chunkSize, this.size - offset)
    if (end > this.size || size !== expected) {
      throw new RangeError(`chunk at ${offset} has size ${size}, expected ${expected}`)
    }
    this.setDigest(offset / this.chunkSize, digest)
  }

  #summary(): IndexSummary {
    const csum = toBytes(createHash('sha256').update(this.#buf.subarray(INDEX_HEADER_SIZE)).digest())
    this.#buf.set(csum, 32)
    return { csum, size: this.size, count: this.count }
  }

  /** Completes the checksum and returns the file bytes with csum/size/count. */
  finish(): FixedIndexBytes {
    if (this.#done) throw new Error('writer already finished')
    this.#done = true
    return { ...this.#summary(), bytes: this.#buf }
  }

  /**
   * Writes the index to `path` atomically (`<name>.tmp_fidx`, fsync, rename).
   *
   * @throws PxarError `ERR_STORE_IO`.
   */
  async writeFile(path: string): Promise<IndexSummary> {
    const { bytes, ...summary } = this.finish()
    const file = await openTempIndex(path, 'tmp_fidx')
    try {
      await file.handle.write(bytes, 0, bytes.length, 0)
      await file.commit()
    } catch (err) {
      await file.abort()
      throw new PxarError('ERR_STORE_IO', `cannot write index ${file.tmp}`, { cause: err })
    }
    return summary
  }
}

/**
 * A parsed `.fidx` file.
 *
 * @example
 * ```ts
 * const index = FixedIndex.parse(bytes)
 * const { index: i, offset } = index.chunkFromOffset(pos)!
 * ```
 */
export class FixedIndex {
  readonly uuid: Uint8Array<ArrayBuffer>
  readonly ctime: number
  readonly indexCsum: Uint8Array<ArrayBuffer>
  /** Image size. */
  readonly size: number
  readonly chunkSize: number
  readonly count: number
  readonly #bytes: Uint8Array

  private constructor(
    bytes: Uint8Array,
    header: IndexHeader,
    size: number,
    chunkSize: number,
    count: number,
  ) {
    this.#bytes = bytes
    this.uuid = header.uuid
    this.ctime = header.ctime
    this.indexCsum = header.indexCsum
    this.size = size
    this.chunkSize = chunkSize
    this.count = count
  }

  /**
   * Parses and validates a `.fidx` (keeps a reference to `bytes`).
   *
   * @throws PxarFormatError `ERR_INDEX_MAGIC`, `ERR_INDEX_FORMAT` (size 0, chunk size, file length).
   */
  static parse(bytes: Uint8Array): FixedIndex {
    const header = readHeaderStart(bytes, FIXED_INDEX_MAGIC, 'fixed index')
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const size = getU64(view, 64, 'image size')
    const chunkSize = getU64(view, 72, 'chunk size')
    if (size === 0) throw new PxarFormatError('ERR_INDEX_FORMAT', 'fixed index has image size 0', 64)
    if (chunkSize === 0 || 2 ** Math.round(Math.log2(chunkSize)) !== chunkSize) {
      throw new PxarFormatError('ERR_INDEX_FORMAT', `chunk size ${chunkSize} is not a power of two`, 72)
    }
    const count = Math.ceil(size / chunkSize)
    const expected = INDEX_HEADER_SIZE + 32 * count
    if (bytes.length !== expected) {
      throw new PxarFormatError(
        'ERR_INDEX_FORMAT',
        `fixed index has ${bytes.length} bytes, expected ${expected} for ${count} chunks`,
        Math.min(bytes.length, expected),
      )
    }
    return new FixedIndex(bytes, header, size, chunkSize, count)
  }

  #check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) {
      throw new PxarError('ERR_INDEX_RANGE', `chunk index ${i} out of range (0..${this.count})`)
    }
  }

  /** Digest of chunk `i` (a view into the index bytes). */
  digest(i: number): Uint8Array {
    this.#check(i)
    const off = INDEX_HEADER_SIZE + 32 * i
    return this.#bytes.subarray(off, off + 32)
  }

  /** Byte range `[start, end)` of chunk `i` in the image. */
  chunkRange(i: number): { start: number; end: number } {
    this.#check(i)
    const start = i * this.chunkSize
    return { start, end: Math.min(start + this.chunkSize, this.size) }
  }

  /** All digests in order (copies). */
  *digests(): IterableIterator<Uint8Array<ArrayBuffer>> {
    for (let i = 0; i < this.count; i++) yield new Uint8Array(this.digest(i))
  }

  /** Chunk containing image `offset` and the offset inside it, or undefined beyond the end. */
  chunkFromOffset(offset: number): { index: number; offset: number } | undefined {
    if (!(offset >= 0) || offset >= this.size) return undefined
    const index = Math.floor(offset / this.chunkSize)
    return { index, offset: offset - index * this.chunkSize }
  }

  /** SHA-256 of the digest array and the image size. */
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

/** Reads and parses a `.fidx` file. */
export async function readFixedIndexFile(path: string): Promise<FixedIndex> {
  return FixedIndex.parse(toBytes(await readFile(path)))
}
