import type { ChunkIndex } from '@pxar/datastore'

/**
 * Detects sequential reads over a chunked index and starts fetching the next `ahead` chunks
 * once, as a read continues where the previous one ended; a jump elsewhere resets it.
 */
export class SequentialPrefetch {
  readonly #index: ChunkIndex
  readonly #size: number
  readonly #ahead: number
  readonly #fetch: (chunk: number) => Promise<unknown>
  #lastEnd = -1
  #prefetched = -1

  constructor(index: ChunkIndex, size: number, ahead: number, fetch: (chunk: number) => Promise<unknown>) {
    this.#index = index
    this.#size = size
    this.#ahead = ahead
    this.#fetch = fetch
  }

  /** Called before a read of `length` bytes at `position`. */
  note(position: number, length: number): void {
    if (position !== this.#lastEnd) this.#prefetched = -1
    else if (this.#ahead > 0 && length > 0) {
      const hit = this.#index.chunkFromOffset(Math.min(position + length, this.#size - 1))
      if (hit !== undefined) {
        const last = Math.min(hit.index + this.#ahead, this.#index.count - 1)
        for (let i = Math.max(hit.index + 1, this.#prefetched + 1); i <= last; i++) {
          // errors surface when the chunk is really read
          this.#fetch(i).catch(() => {})
        }
        if (last > this.#prefetched) this.#prefetched = last
      }
    }
    this.#lastEnd = position + length
  }
}
