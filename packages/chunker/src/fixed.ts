import type { ChunkCutter } from './chunker.ts'

/** Default chunk size of fixed indexes (`.fidx`, images): 4 MiB. */
export const DEFAULT_FIXED_CHUNK_SIZE: number = 4 * 1024 * 1024

/** Options of {@link FixedChunker}. */
export interface FixedChunkerOptions {
  /** Size of every chunk but the last (which may be shorter). Default 4 MiB. */
  readonly chunkSize?: number
}

/**
 * Cuts a stream into consecutive pieces of `chunkSize` bytes, the last one shorter, as used for
 * fixed indexes (`.fidx`). Same push interface as {@link Chunker}.
 *
 * @example
 * ```ts
 * const fixed = new FixedChunker({ chunkSize: 4096 })
 * fixed.push(new Uint8Array(10000)) // [4096, 8192]
 * fixed.finish() // 1808
 * ```
 */
export class FixedChunker implements ChunkCutter {
  /** Size of every chunk but the last. */
  readonly chunkSize: number
  #len = 0
  #position = 0

  /**
   * @throws {TypeError} if `chunkSize` is not an integer.
   * @throws {RangeError} if `chunkSize` is not positive or above 2^30.
   */
  constructor(options: FixedChunkerOptions = {}) {
    const size = options.chunkSize ?? DEFAULT_FIXED_CHUNK_SIZE
    if (!Number.isInteger(size)) throw new TypeError(`chunk size must be an integer, got ${size}`)
    if (size < 1 || size > 2 ** 30) throw new RangeError(`chunk size must be in 1..2^30, got ${size}`)
    this.chunkSize = size
  }

  /** Largest chunk produced: the chunk size. */
  get maxSize(): number {
    return this.chunkSize
  }

  /** Total number of bytes pushed since creation or the last reset/finish. */
  get position(): number {
    return this.#position
  }

  push(bytes: Uint8Array): number[] {
    const ends: number[] = []
    const n = bytes.length
    let next = this.chunkSize - this.#len
    while (next <= n) {
      ends.push(next)
      next += this.chunkSize
    }
    this.#len = n - (next - this.chunkSize)
    this.#position += n
    return ends
  }

  finish(): number {
    const tail = this.#len
    this.reset()
    return tail
  }

  reset(): void {
    this.#len = 0
    this.#position = 0
  }
}
