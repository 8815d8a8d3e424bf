import { BUZHASH_TABLE_I32 } from './buzhash-table.ts'

/** Whether u32 views read bytes in little-endian order (true on every common platform). */
const LITTLE_ENDIAN: boolean = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

/** Number of bytes the rolling hash looks at. */
export const BUZHASH_WINDOW_SIZE = 64

/** Default average chunk size of pxar archives (4 MiB). */
export const DEFAULT_AVG_CHUNK_SIZE: number = 4 * 1024 * 1024

/** Average chunk size the Proxmox client uses for the catalog (512 KiB). */
export const CATALOG_AVG_CHUNK_SIZE: number = 512 * 1024

/**
 * Smallest average accepted by {@link Chunker}. Proxmox clients only use 64 KiB … 4 MiB; smaller
 * powers of two are allowed so that tests can produce many chunks from little data.
 */
export const MIN_AVG_CHUNK_SIZE = 64

/** Largest average accepted by {@link Chunker} (64 MiB, so the 4× maximum stays below 2^28). */
export const MAX_AVG_CHUNK_SIZE: number = 64 * 1024 * 1024

/** Options of {@link createChunker}. */
export interface ChunkerOptions {
  /**
   * Average chunk size: a power of two between {@link MIN_AVG_CHUNK_SIZE} and
   * {@link MAX_AVG_CHUNK_SIZE}. Default {@link DEFAULT_AVG_CHUNK_SIZE} (4 MiB).
   */
  readonly avgSize?: number
}

/** The size limits a chunker derives from its average. */
export interface ChunkSizeParams {
  /** Average chunk size (power of two). */
  readonly avgSize: number
  /** Minimum size of every chunk but the last: `avgSize / 4`. */
  readonly minSize: number
  /** Maximum chunk size: `avgSize * 4`. */
  readonly maxSize: number
}

/**
 * A synchronous cutter over a byte stream: {@link ChunkCutter.push} the stream in pieces of any
 * size and receive the chunk ends, then call {@link ChunkCutter.finish}. The cut points depend
 * only on the concatenated stream, never on how it was split into pieces.
 */
export interface ChunkCutter {
  /**
   * Consumes `bytes` and returns the chunk ends found in it, as indexes into `bytes` (each in
   * `1..bytes.length`, ascending; a chunk ends right before the index). Bytes after the last end
   * belong to the chunk that is still open.
   */
  push(bytes: Uint8Array): number[]
  /**
   * Ends the stream: returns the length of the final (open) chunk, 0 if there is none, and
   * resets the cutter so that it can be reused for a new stream.
   */
  finish(): number
  /** Forgets the open chunk and starts over as if newly created. */
  reset(): void
  /** Total number of bytes pushed since creation or the last reset/finish. */
  readonly position: number
  /** Largest chunk this cutter produces (bounds the memory a wrapper needs per chunk). */
  readonly maxSize: number
}

/**
 * Validates an average chunk size and derives the PBS size limits from it.
 *
 * @throws {TypeError} if `avgSize` is not an integer.
 * @throws {RangeError} if `avgSize` is not a power of two in the accepted range.
 * @example
 * ```ts
 * chunkSizeParams(65536) // { avgSize: 65536, minSize: 16384, maxSize: 262144 }
 * ```
 */
export function chunkSizeParams(avgSize: number = DEFAULT_AVG_CHUNK_SIZE): ChunkSizeParams {
  if (!Number.isInteger(avgSize)) throw new TypeError(`chunk size average must be an integer, got ${avgSize}`)
  if (avgSize < MIN_AVG_CHUNK_SIZE || avgSize > MAX_AVG_CHUNK_SIZE || (avgSize & (avgSize - 1)) !== 0) {
    throw new RangeError(
      `chunk size average must be a power of two in ${MIN_AVG_CHUNK_SIZE}..${MAX_AVG_CHUNK_SIZE}, got ${avgSize}`,
    )
  }
  return { avgSize, minSize: avgSize / 4, maxSize: avgSize * 4 }
}

/**
 * The Proxmox Backup content-defined chunker (buzhash over a 64-byte window, upstream
 * `pbs-datastore/src/chunker.rs`), as a synchronous push state machine.
 *
 * Rules (identical cut points to the Rust code): per chunk the hash starts at 0; a chunk ends after
 * the byte at which its length reaches `maxSize`, or, once the length is at least
 * `max(minSize, 65)`, after a byte at which `(h & (2*avg-1)) >= 2*avg-3`. The hash at any position
 * is a function of the last 64 bytes only, so hashing of a chunk starts 64 bytes before the first
 * position where a cut is possible and the bytes before are skipped unread.
 *
 * @example
 * ```ts
 * const chunker = new Chunker({ avgSize: 65536 })
 * const ends = chunker.push(data) // cut points inside `data`
 * const tail = chunker.finish() // length of the last chunk
 * ```
 */
export class Chunker implements ChunkCutter {
  /** Average chunk size (power of two). */
  readonly avgSize: number
  /** Minimum size of every chunk but the last. */
  readonly minSize: number
  /** Maximum chunk size. */
  readonly maxSize: number
  readonly #mask: number
  readonly #threshold: number
  /** Chunk length at which hashing starts (64 bytes before the first possible cut). */
  readonly #hashStart: number
  /** Bytes of the open chunk consumed so far. */
  #len = 0
  /** Rolling hash (int32); meaningful once `#len > #hashStart`. */
  #h = 0
  /** Total bytes pushed. */
  #position = 0
  /** The last up-to-64 bytes of the open chunk, byte `j` of the chunk at slot `j & 63`. */
  readonly #window = new Uint8Array(BUZHASH_WINDOW_SIZE)

  /**
   * @throws {TypeError} if `avgSize` is not an integer.
   * @throws {RangeError} if `avgSize` is not a power of two in the accepted range.
   */
  constructor(options: ChunkerOptions = {}) {
    const p = chunkSizeParams(options.avgSize ?? DEFAULT_AVG_CHUNK_SIZE)
    this.avgSize = p.avgSize
    this.minSize = p.minSize
    this.maxSize = p.maxSize
    this.#mask = p.avgSize * 2 - 1
    this.#threshold = this.#mask - 2
    // The first cut check happens when the chunk holds `minSize` bytes, but never within the first
    // 64 bytes plus one (upstream only tests while rolling, i.e. from the 65th byte on).
    this.#hashStart = Math.max(p.minSize, BUZHASH_WINDOW_SIZE + 1) - BUZHASH_WINDOW_SIZE
  }

  /** Total number of bytes pushed since creation or the last reset/finish. */
  get position(): number {
    return this.#position
  }

  push(bytes: Uint8Array): number[] {
    const ends: number[] = []
    const n = bytes.length
    // Hot state in locals, written back once per call (about 3x faster than field access).
    const T = BUZHASH_TABLE_I32
    const mask = this.#mask
    const threshold = this.#threshold
    const hashStart = this.#hashStart
    const firstCheck = hashStart + BUZHASH_WINDOW_SIZE
    const max = this.maxSize
    const win = this.#window
    let len = this.#len
    let h = this.#h
    let i = 0
    /** Buffer index where the open chunk starts (0 if it began in an earlier push). */
    let chunkStart = 0

    while (i < n) {
      if (len < hashStart) {
        // Skip-ahead: no tested hash depends on these bytes.
        const skip = Math.min(hashStart - len, n - i)
        i += skip
        len += skip
        if (len < hashStart) break
      }
      if (len < firstCheck) {
        // Window fill: 64 bytes enter a zero hash, nothing leaves yet.
        const stop = Math.min(n, i + (firstCheck - len))
        len += stop - i
        for (; i < stop; i++) h = ((h << 1) | (h >>> 31)) ^ T[bytes[i]!]!
        if (len < firstCheck) break
        // firstCheck <= minSize + 65 < maxSize, so only the hash test applies here.
        if ((h & mask) >= threshold) {
          ends.push(i)
          len = 0
          h = 0
          chunkStart = i
          continue
        }
      }
      // Rolling: the byte 64 positions back leaves (rotating it 64 times is the identity in 32
      // bits, so it is XORed out unrotated).
      const stop = Math.min(n, i + (max - len))
      let k = i
      let cut = false
      // The leaving byte is in an earlier push for the first 64 buffer positions.
      const slowStop = Math.min(stop, BUZHASH_WINDOW_SIZE)
      const toChunkIndex = len - i
      for (; k < slowStop; k++) {
        h = ((h << 1) | (h >>> 31)) ^ T[win[(toChunkIndex + k) & 63]!]! ^ T[bytes[k]!]!
        if ((h & mask) >= threshold) {
          cut = true
          k++
          break
        }
      }
      if (!cut && LITTLE_ENDIAN && stop - k >= 64) {
        // Word loop: read the entering and leaving bytes four at a time through aligned u32
        // views (about 12 % faster than byte reads). The leaving word is 16 words back, with the
        // same alignment as the entering one.
        const off = bytes.byteOffset
        for (; ((off + k) & 3) !== 0; k++) {
          h = ((h << 1) | (h >>> 31)) ^ T[bytes[k - 64]!]! ^ T[bytes[k]!]!
          if ((h & mask) >= threshold) {
            cut = true
            k++
            break
          }
        }
        if (!cut) {
          const words = new Uint32Array(bytes.buffer, 0, (off + stop) >>> 2)
          const wordEnd = words.length
          let w = (off + k) >>> 2
          let hit = 0
          for (; w < wordEnd; w++) {
            const o = words[w - 16]!
            const x = words[w]!
            h = ((h << 1) | (h >>> 31)) ^ T[o & 255]! ^ T[x & 255]!
            if ((h & mask) >= threshold) {
              hit = 1
              break
            }
            h = ((h << 1) | (h >>> 31)) ^ T[(o >>> 8) & 255]! ^ T[(x >>> 8) & 255]!
            if ((h & mask) >= threshold) {
              hit = 2
              break
            }
            h = ((h << 1) | (h >>> 31)) ^ T[(o >>> 16) & 255]! ^ T[(x >>> 16) & 255]!
            if ((h & mask) >= threshold) {
              hit = 3
              break
            }
            h = ((h << 1) | (h >>> 31)) ^ T[o >>> 24]! ^ T[x >>> 24]!
            if ((h & mask) >= threshold) {
              hit = 4
              break
            }
          }
          k = w * 4 - off + hit
          if (hit !== 0) cut = true
        }
      }
      if (!cut) {
        for (; k < stop; k++) {
          h = ((h << 1) | (h >>> 31)) ^ T[bytes[k - 64]!]! ^ T[bytes[k]!]!
          if ((h & mask) >= threshold) {
            cut = true
            k++
            break
          }
        }
      }
      len += k - i
      i = k
      if (cut || len >= max) {
        ends.push(i)
        len = 0
        h = 0
        chunkStart = i
      }
    }

    // Keep the open chunk's last (up to) 64 bytes for the leaving bytes of the next push.
    const keep = Math.min(BUZHASH_WINDOW_SIZE, n - chunkStart)
    for (let t = n - keep; t < n; t++) win[(len - (n - t)) & 63] = bytes[t]!
    this.#len = len
    this.#h = h
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
    this.#h = 0
    this.#position = 0
  }
}
