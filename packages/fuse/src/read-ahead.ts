/**
 * Read-ahead over a chunked {@link IndexReadAt}: when reads arrive sequentially, the next chunks
 * are fetched and decoded while the current one is being consumed.
 */
import type { ReadAt } from '@pxar/codec'
import type { ChunkIndex, IndexReadAt } from '@pxar/datastore'

/** Options of {@link ReadAheadReadAt}. */
export interface ReadAheadOptions {
  /** Chunks to fetch ahead of a sequential reader (default 4; 0 disables read-ahead). */
  readonly chunks?: number
}

/**
 * A {@link ReadAt} that prefetches the chunks after a sequential read. The reader's chunk cache
 * must hold at least `chunks + 2` chunks, or prefetched chunks are evicted before use.
 */
export class ReadAheadReadAt implements ReadAt {
  readonly size: number
  readonly #reader: IndexReadAt
  readonly #index: ChunkIndex
  readonly #ahead: number
  #lastEnd = -1
  #prefetched = -1

  constructor(reader: IndexReadAt, index: ChunkIndex, options: ReadAheadOptions = {}) {
    this.#reader = reader
    this.#index = index
    this.#ahead = options.chunks ?? 4
    if (!Number.isSafeInteger(this.#ahead) || this.#ahead < 0) throw new RangeError('invalid read-ahead')
    this.size = reader.size
  }

  read(buf: Uint8Array, position: number): Promise<number> {
    if (position !== this.#lastEnd) this.#prefetched = -1
    else if (this.#ahead > 0 && buf.length > 0) {
      const hit = this.#index.chunkFromOffset(Math.min(position + buf.length, this.size - 1))
      if (hit !== undefined) {
        const last = Math.min(hit.index + this.#ahead, this.#index.count - 1)
        for (let i = Math.max(hit.index + 1, this.#prefetched + 1); i <= last; i++) {
          // errors surface when the chunk is really read
          this.#reader.chunk(i).catch(() => {})
        }
        if (last > this.#prefetched) this.#prefetched = last
      }
    }
    this.#lastEnd = position + buf.length
    return this.#reader.read(buf, position)
  }
}
