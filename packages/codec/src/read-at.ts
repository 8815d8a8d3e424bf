/**
 * Random-access byte sources.
 */
import { PxarError, PxarFormatError } from '@pxar/format'

/**
 * A random-access byte source of known size (a file handle, an in-memory buffer, a chunked
 * backup index, …).
 */
export interface ReadAt {
  /** Total size in bytes. */
  readonly size: number
  /**
   * Reads up to `buf.length` bytes at `position` into `buf`; returns the number read, which is
   * smaller only at the end of the source (0 at or past the end).
   */
  read(buf: Uint8Array, position: number): Promise<number>
}

/**
 * A {@link ReadAt} over bytes in memory (not copied).
 * @example
 * const acc = await openAccessor(bufferReadAt(archiveBytes))
 */
export function bufferReadAt(bytes: Uint8Array): ReadAt {
  return {
    size: bytes.length,
    read(buf: Uint8Array, position: number): Promise<number> {
      if (position >= bytes.length || position < 0) return Promise.resolve(0)
      const n = Math.min(buf.length, bytes.length - position)
      buf.set(bytes.subarray(position, position + n))
      return Promise.resolve(n)
    },
  }
}

/**
 * Fills `buf` from `position`.
 * @throws {PxarFormatError} `ERR_PXAR_TRUNCATED` when the source ends first.
 * @throws {PxarError} `ERR_PXAR_IO` when the source fails (with `cause`).
 */
export async function readExactAt(source: ReadAt, buf: Uint8Array, position: number): Promise<void> {
  let done = 0
  while (done < buf.length) {
    let n: number
    try {
      n = await source.read(done === 0 ? buf : buf.subarray(done), position + done)
    } catch (err) {
      throw new PxarError('ERR_PXAR_IO', `read failed at ${position + done}`, { cause: err })
    }
    if (n <= 0) throw new PxarFormatError('ERR_PXAR_TRUNCATED', 'unexpected end of data', position + done)
    done += n
  }
}

/** Options of {@link readAtChunks}. */
export interface ReadAtChunksOptions {
  /** First byte (default 0). */
  readonly start?: number | undefined
  /** End offset, exclusive (default the source size). */
  readonly end?: number | undefined
  /** Piece size (default 1 MiB). */
  readonly pieceSize?: number | undefined
}

/**
 * Streams a {@link ReadAt} sequentially, e.g. to feed `decode()` from a random-access source.
 * Each piece is a fresh buffer.
 * @throws {RangeError} on an invalid range or piece size.
 * @throws {PxarFormatError} `ERR_PXAR_TRUNCATED` when the source is shorter than its size.
 * @example
 * for await (const e of decode(readAtChunks(archive), { payload: payloadReadAt })) console.log(e.pathString)
 */
export async function* readAtChunks(
  source: ReadAt,
  options: ReadAtChunksOptions = {},
): AsyncGenerator<Uint8Array> {
  const start = options.start ?? 0
  const end = options.end ?? source.size
  const piece = options.pieceSize ?? 1024 * 1024
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`invalid range ${start}..${end}`)
  }
  if (!Number.isSafeInteger(piece) || piece <= 0) throw new RangeError(`invalid pieceSize ${piece}`)
  for (let pos = start; pos < end; ) {
    const buf = new Uint8Array(Math.min(piece, end - pos))
    await readExactAt(source, buf, pos)
    pos += buf.length
    yield buf
  }
}
