import { type ChunkCutter, Chunker, type ChunkerOptions } from './chunker.ts'
import { FixedChunker, type FixedChunkerOptions } from './fixed.ts'

/**
 * Runs a {@link ChunkCutter} over an async (or sync) iterable byte source and yields the chunks.
 *
 * Every yielded chunk is a fresh `Uint8Array` that owns its memory. Source pieces are referenced
 * (not copied) until the chunk containing them is complete, so the source must not reuse or
 * modify a buffer after yielding it (Node streams and file handles' `readableWebStream` don't).
 * Memory is bounded by the cutter's maximum chunk size plus one source piece.
 *
 * @example
 * ```ts
 * for await (const chunk of cutChunks(createReadStream(path), new Chunker())) store(chunk)
 * ```
 */
export async function* cutChunks(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  cutter: ChunkCutter,
): AsyncGenerator<Uint8Array<ArrayBuffer>, void, undefined> {
  cutter.reset()
  /** Pieces of the open chunk, in order. */
  let pending: Uint8Array[] = []
  let pendingLen = 0
  const assemble = (last: Uint8Array, size: number): Uint8Array<ArrayBuffer> => {
    const out = new Uint8Array(size)
    let at = 0
    for (const piece of pending) {
      out.set(piece, at)
      at += piece.length
    }
    out.set(last, at)
    pending = []
    pendingLen = 0
    return out
  }
  for await (const piece of source) {
    if (!(piece instanceof Uint8Array)) throw new TypeError('chunk source must yield Uint8Array pieces')
    if (piece.length === 0) continue
    const ends = cutter.push(piece)
    let start = 0
    for (const end of ends) {
      yield assemble(piece.subarray(start, end), pendingLen + (end - start))
      start = end
    }
    if (start < piece.length) {
      pending.push(start === 0 ? piece : piece.subarray(start))
      pendingLen += piece.length - start
    }
  }
  const tail = cutter.finish()
  if (tail !== pendingLen) throw new Error(`internal: chunker tail ${tail} != pending ${pendingLen}`)
  if (tail > 0) yield assemble(new Uint8Array(0), tail)
}

/**
 * Splits a byte source into PBS content-defined chunks (dynamic index chunking).
 *
 * @throws {RangeError} for an invalid `avgSize` (see {@link chunkSizeParams}).
 * @example
 * ```ts
 * for await (const chunk of chunkStream(source, { avgSize: 4 << 20 })) console.log(chunk.length)
 * ```
 */
export function chunkStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: ChunkerOptions = {},
): AsyncGenerator<Uint8Array<ArrayBuffer>, void, undefined> {
  return cutChunks(source, new Chunker(options))
}

/**
 * Splits a byte source into fixed-size chunks (fixed index / image chunking), last one shorter.
 *
 * @throws {RangeError} for an invalid `chunkSize`.
 * @example
 * ```ts
 * for await (const chunk of chunkFixed(source, { chunkSize: 4 << 20 })) console.log(chunk.length)
 * ```
 */
export function chunkFixed(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: FixedChunkerOptions = {},
): AsyncGenerator<Uint8Array<ArrayBuffer>, void, undefined> {
  return cutChunks(source, new FixedChunker(options))
}

/**
 * Chunk ends (exclusive, absolute offsets; the last equals `bytes.length`) of a whole buffer.
 *
 * @throws {RangeError} for an invalid `avgSize`.
 * @example
 * ```ts
 * chunkEnds(data, { avgSize: 65536 }) // e.g. [143377, 405521, …, data.length]
 * ```
 */
export function chunkEnds(bytes: Uint8Array, options: ChunkerOptions = {}): number[] {
  const chunker = new Chunker(options)
  const ends = chunker.push(bytes)
  if (chunker.finish() > 0) ends.push(bytes.length)
  return ends
}
