import { toHex } from '../digest.ts'
import type { ChunkSink } from './types.ts'

/**
 * A {@link ChunkSink} keeping encoded chunks in a `Map` keyed by hex digest: for tests, dry runs
 * and measuring the pipeline without disk I/O.
 *
 * @example
 * ```ts
 * const sink = new MemoryChunkSink()
 * await storeDynamic(source, { sink })
 * console.log(sink.chunks.size)
 * ```
 */
export class MemoryChunkSink implements ChunkSink {
  /** Stored blobs by lowercase hex digest. */
  readonly chunks: Map<string, Uint8Array<ArrayBuffer>> = new Map()
  /** When false, blobs are counted but not kept (`chunks` maps to empty arrays). Default true. */
  readonly keep: boolean

  constructor(options: { keep?: boolean } = {}) {
    this.keep = options.keep ?? true
  }

  has(digest: Uint8Array<ArrayBuffer>): boolean {
    return this.chunks.has(toHex(digest))
  }

  insert(digest: Uint8Array<ArrayBuffer>, blob: Uint8Array<ArrayBuffer>): boolean {
    const key = toHex(digest)
    if (this.chunks.has(key)) return false
    this.chunks.set(key, this.keep ? blob : new Uint8Array(0))
    return true
  }
}
