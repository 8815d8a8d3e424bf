/**
 * Random access over a chunk index whose chunks are decoded and verified by a
 * {@link DecodePool}: decoded chunks are cached (LRU), and sequential reads fetch the next
 * chunks ahead, so the main thread only copies bytes.
 */
import type { ReadAt } from '@pxar/codec'
import type { ChunkIndex } from '@pxar/datastore'
import { PxarError } from '@pxar/format'
import type { DecodePool } from './decode-pool.ts'
import { SequentialPrefetch } from './sequential-prefetch.ts'

/** Where an encoded chunk is: a file to read in the worker, or its bytes. */
export type ChunkLocation = { readonly path: string } | { readonly blob: Uint8Array }

/** Options of {@link PooledIndexReadAt}. */
export interface PooledIndexReadAtOptions {
  /** The decode workers (shared by the readers of one mount). */
  readonly pool: DecodePool
  /** Finds the encoded chunk with this digest. */
  readonly locate: (digest: Uint8Array) => ChunkLocation | Promise<ChunkLocation>
  /** Decoded chunks kept (default 16; at least `readAhead + 2`). */
  readonly cacheChunks?: number
  /** Chunks fetched ahead of sequential reads (default 4; 0 disables read-ahead). */
  readonly readAhead?: number
}

interface CacheEntry {
  readonly promise: Promise<Uint8Array>
  /** Set once decoded. */
  data?: Uint8Array
}

/**
 * A {@link ReadAt} over a chunk index, decoding in worker threads. The buffers of evicted chunks
 * are recycled for the next chunk files (decoded bytes are only handed out as copies).
 */
export class PooledIndexReadAt implements ReadAt {
  readonly size: number
  readonly #index: ChunkIndex
  readonly #pool: DecodePool
  readonly #locate: PooledIndexReadAtOptions['locate']
  readonly #ahead: number
  readonly #max: number
  readonly #cache = new Map<number, CacheEntry>()
  readonly #prefetch: SequentialPrefetch

  constructor(index: ChunkIndex, options: PooledIndexReadAtOptions) {
    this.#index = index
    this.#pool = options.pool
    this.#locate = options.locate
    this.#ahead = options.readAhead ?? 4
    if (!Number.isSafeInteger(this.#ahead) || this.#ahead < 0) throw new RangeError('invalid read-ahead')
    this.#max = Math.max(options.cacheChunks ?? 16, this.#ahead + 2)
    this.size = index.size
    this.#prefetch = new SequentialPrefetch(index, this.size, this.#ahead, (i) => this.#chunk(i))
  }

  /** The decoded, verified chunk `i` (cached). */
  #chunk(i: number): Promise<Uint8Array> {
    const hit = this.#cache.get(i)
    if (hit !== undefined) {
      this.#cache.delete(i)
      this.#cache.set(i, hit)
      return hit.promise
    }
    const digest = this.#index.digest(i)
    const promise = (async () => {
      const where = await this.#locate(digest)
      return this.#pool.decode({ ...where, digest })
    })()
    const entry: CacheEntry = { promise }
    this.#cache.set(i, entry)
    promise.then(
      (data) => {
        entry.data = data
      },
      // a failed fetch must not stay cached
      () => {
        if (this.#cache.get(i) === entry) this.#cache.delete(i)
      },
    )
    while (this.#cache.size > this.#max) {
      const oldest = this.#cache.keys().next().value as number
      const old = this.#cache.get(oldest)!
      this.#cache.delete(oldest)
      // reads copy right after their await resolves, in the same turn: after this turn no one
      // uses the evicted bytes any more
      const data = old.data
      if (data !== undefined) setImmediate(() => this.#pool.recycle(data.buffer as ArrayBuffer))
    }
    return promise
  }

  async read(buf: Uint8Array, position: number): Promise<number> {
    if (!Number.isSafeInteger(position) || position < 0) throw new RangeError(`bad position ${position}`)
    this.#prefetch.note(position, buf.length)
    let done = 0
    while (done < buf.length) {
      const hit = this.#index.chunkFromOffset(position + done)
      if (hit === undefined) break
      const data = await this.#chunk(hit.index)
      if (hit.offset >= data.length) {
        throw new PxarError('ERR_INDEX_FORMAT', `chunk ${hit.index} is shorter than its index entry`)
      }
      const n = Math.min(buf.length - done, data.length - hit.offset)
      buf.set(data.subarray(hit.offset, hit.offset + n), done)
      done += n
    }
    return done
  }
}
