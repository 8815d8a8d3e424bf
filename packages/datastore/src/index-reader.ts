import { PxarError } from '@pxar/format'
import { type BlobKey, decodeBlob } from './blob.ts'

/** The part of a `.didx`/`.fidx` reader that chunked reading needs. */
export interface ChunkIndex {
  /** Total stream size in bytes. */
  readonly size: number
  /** Number of chunks. */
  readonly count: number
  /** Digest of chunk `i`. */
  digest(i: number): Uint8Array
  /** Chunk containing `offset` and the offset inside it; undefined at or past the end. */
  chunkFromOffset(offset: number): { index: number; offset: number } | undefined
}

/** Where encoded chunks (DataBlobs) come from: a local chunk store, a PBS reader session, … */
export interface ChunkSource {
  /** The encoded blob of the chunk with this digest. */
  read(digest: Uint8Array): Promise<Uint8Array>
}

/** Options of {@link IndexReadAt}. */
export interface IndexReadAtOptions {
  /** Key for encrypted chunks. */
  readonly crypt?: BlobKey | undefined
  /** Decoded chunks kept in the LRU cache (default 8; 4 MiB chunks → 32 MiB). */
  readonly cacheChunks?: number
  /** Verify every chunk's digest after decoding (default true). */
  readonly verify?: boolean
}

/**
 * Random access (`ReadAt`) over the stream an index describes: chunks are fetched on demand,
 * decoded (decrypted when a key is given), checked against their digest and kept in a small
 * LRU cache. Concurrent reads of the same chunk share one fetch.
 *
 * @example
 * ```ts
 * const index = await readDynamicIndexFile(path)
 * const reader = new IndexReadAt(index, store, { crypt })
 * const buf = new Uint8Array(4096)
 * const n = await reader.read(buf, 0)
 * ```
 */
export class IndexReadAt {
  readonly size: number
  readonly #index: ChunkIndex
  readonly #source: ChunkSource
  readonly #crypt: BlobKey | undefined
  readonly #verify: boolean
  readonly #cacheChunks: number
  readonly #cache = new Map<number, Promise<Uint8Array>>()

  constructor(index: ChunkIndex, source: ChunkSource, options: IndexReadAtOptions = {}) {
    this.#index = index
    this.#source = source
    this.#crypt = options.crypt
    this.#verify = options.verify ?? true
    this.#cacheChunks = Math.max(1, options.cacheChunks ?? 8)
    this.size = index.size
  }

  /**
   * The decoded chunk `i` (cached).
   *
   * @throws PxarError from blob decoding (`ERR_BLOB_*`, `ERR_CHUNK_DIGEST`) or the source.
   */
  chunk(i: number): Promise<Uint8Array> {
    const cached = this.#cache.get(i)
    if (cached) {
      this.#cache.delete(i)
      this.#cache.set(i, cached)
      return cached
    }
    const digest = this.#index.digest(i)
    const p = this.#source
      .read(digest)
      .then((blob) => decodeBlob(blob, { crypt: this.#crypt, digest: this.#verify ? digest : undefined }))
    this.#cache.set(i, p)
    // A failed fetch must not stay cached.
    p.catch(() => {
      if (this.#cache.get(i) === p) this.#cache.delete(i)
    })
    while (this.#cache.size > this.#cacheChunks) {
      const oldest = this.#cache.keys().next().value as number
      this.#cache.delete(oldest)
    }
    return p
  }

  /** Reads up to `buf.length` bytes at `position`; returns the count (0 at the end). */
  async read(buf: Uint8Array, position: number): Promise<number> {
    if (!Number.isSafeInteger(position) || position < 0) throw new RangeError(`bad position ${position}`)
    let done = 0
    while (done < buf.length) {
      const hit = this.#index.chunkFromOffset(position + done)
      if (!hit) break
      const data = await this.chunk(hit.index)
      if (hit.offset >= data.length) {
        throw new PxarError(
          'ERR_INDEX_FORMAT',
          `chunk ${hit.index} decodes to ${data.length} bytes, shorter than its index entry`,
        )
      }
      const n = Math.min(buf.length - done, data.length - hit.offset)
      buf.set(data.subarray(hit.offset, hit.offset + n), done)
      done += n
    }
    return done
  }

  /** Streams the bytes from `start` (default 0) to `end` (default the whole stream), chunk by chunk. */
  async *stream(start = 0, end: number = this.size): AsyncGenerator<Uint8Array> {
    let pos = Math.max(0, start)
    const stop = Math.min(end, this.size)
    while (pos < stop) {
      const hit = this.#index.chunkFromOffset(pos)
      if (!hit) break
      // Start fetching the next chunk while this one is consumed.
      if (hit.index + 1 < this.#index.count) void this.chunk(hit.index + 1).catch(() => {})
      const data = await this.chunk(hit.index)
      const n = Math.min(stop - pos, data.length - hit.offset)
      if (n <= 0) throw new PxarError('ERR_INDEX_FORMAT', `chunk ${hit.index} shorter than its index entry`)
      yield data.subarray(hit.offset, hit.offset + n)
      pos += n
    }
  }
}
