/**
 * `decode()`: the async-iterable wrapper around {@link Decoder}, with v2 payload streams.
 */
import {
  PXAR_PAYLOAD,
  PXAR_PAYLOAD_START_MARKER,
  PXAR_PAYLOAD_TAIL_MARKER,
  PxarError,
  PxarFormatError,
} from '@pxar/format'
import { Decoder, type DecoderEvent, type DecoderOptions } from './decoder.ts'
import type { Entry } from './entry.ts'
import { type ReadAt, readExactAt } from './read-at.ts'

/** Options of {@link decode}. */
export interface DecodeOptions {
  /** See {@link DecoderOptions.onWarning}: tolerate (and report) anomalies upstream accepts. */
  readonly onWarning?: DecoderOptions['onWarning']
  /**
   * The payload (.ppxar) of a v2 archive: a sequential stream or random access. Without it a v2
   * archive decodes metadata only (file entries have no content).
   */
  readonly payload?: AsyncIterable<Uint8Array> | ReadAt | undefined
  /** Piece size for content read from a {@link ReadAt} payload (default 64 KiB). */
  readonly pieceSize?: number | undefined
}

/** An entry from {@link decode}, with its content when it has any. */
export interface DecodedEntry extends Entry {
  /**
   * File (or prelude) content as pieces; `undefined` for other kinds and for v2 files without a
   * payload source. Valid until the next entry is requested; unread content is skipped.
   */
  readonly content: AsyncIterable<Uint8Array> | undefined
}

const PIECE = 64 * 1024

function isReadAt(x: AsyncIterable<Uint8Array> | ReadAt): x is ReadAt {
  return typeof (x as ReadAt).read === 'function' && typeof (x as ReadAt).size === 'number'
}

function checkPayloadHeader(h: Uint8Array, offset: number, size: number): void {
  const v = new DataView(h.buffer, h.byteOffset, 16)
  const full = v.getUint32(12, true) * 0x1_0000_0000 + v.getUint32(8, true)
  if (
    v.getUint32(0, true) !== PXAR_PAYLOAD.lo ||
    v.getUint32(4, true) !== PXAR_PAYLOAD.hi ||
    full !== size + 16
  ) {
    throw new PxarFormatError(
      'ERR_PXAR_INVALID_DATA',
      `payload reference does not point at a PAYLOAD item of size ${size}`,
      offset,
    )
  }
}

function checkMarker(h: Uint8Array, marker: { lo: number; hi: number }, offset: number, what: string): void {
  const v = new DataView(h.buffer, h.byteOffset, 16)
  if (
    v.getUint32(0, true) !== marker.lo ||
    v.getUint32(4, true) !== marker.hi ||
    v.getUint32(8, true) !== 16 ||
    v.getUint32(12, true) !== 0
  ) {
    throw new PxarFormatError('ERR_PXAR_INVALID_DATA', `missing payload ${what} marker`, offset)
  }
}

interface PayloadSource {
  /** Content pieces of the payload item at `offset` with `size` data bytes. */
  content(offset: number, size: number): AsyncGenerator<Uint8Array>
  /** Checks a reference against the stream order (sequential sources only). */
  reference(offset: number, size: number): void
  finish(): Promise<void>
  close(): Promise<void>
}

class SequentialPayload implements PayloadSource {
  readonly #it: AsyncIterator<Uint8Array>
  #buf: Uint8Array = new Uint8Array(0)
  #bp = 0
  #pos = 0
  #eof = false
  #started = false
  #refEnd = 16

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]()
  }

  reference(offset: number, size: number): void {
    if (offset < this.#refEnd) {
      throw new PxarFormatError(
        'ERR_PXAR_INVALID_DATA',
        `payload reference ${offset} points behind the previous payload (sequential payload streams need ascending references)`,
        offset,
      )
    }
    this.#refEnd = offset + 16 + size
  }

  async #fill(): Promise<boolean> {
    while (this.#bp >= this.#buf.length) {
      if (this.#eof) return false
      let r: IteratorResult<Uint8Array>
      try {
        r = await this.#it.next()
      } catch (err) {
        throw new PxarError('ERR_PXAR_IO', 'payload stream failed', { cause: err })
      }
      if (r.done) {
        this.#eof = true
        return false
      }
      this.#buf = r.value
      this.#bp = 0
    }
    return true
  }

  async #exact(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n)
    let k = 0
    while (k < n) {
      if (!(await this.#fill()))
        throw new PxarFormatError('ERR_PXAR_TRUNCATED', 'payload stream ended early', this.#pos)
      const m = Math.min(n - k, this.#buf.length - this.#bp)
      out.set(this.#buf.subarray(this.#bp, this.#bp + m), k)
      this.#bp += m
      this.#pos += m
      k += m
    }
    return out
  }

  async #skipTo(offset: number): Promise<void> {
    if (offset < this.#pos) {
      throw new PxarFormatError(
        'ERR_PXAR_INVALID_DATA',
        `payload offset ${offset} is behind the stream position`,
        offset,
      )
    }
    while (this.#pos < offset) {
      if (!(await this.#fill()))
        throw new PxarFormatError('ERR_PXAR_TRUNCATED', 'payload stream ended early', this.#pos)
      const m = Math.min(offset - this.#pos, this.#buf.length - this.#bp)
      this.#bp += m
      this.#pos += m
    }
  }

  async #start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    checkMarker(await this.#exact(16), PXAR_PAYLOAD_START_MARKER, 0, 'start')
  }

  async *content(offset: number, size: number): AsyncGenerator<Uint8Array> {
    await this.#start()
    await this.#skipTo(offset)
    checkPayloadHeader(await this.#exact(16), offset, size)
    let left = size
    while (left > 0) {
      if (!(await this.#fill()))
        throw new PxarFormatError('ERR_PXAR_TRUNCATED', 'payload stream ended early', this.#pos)
      const m = Math.min(left, this.#buf.length - this.#bp)
      const piece = this.#buf.subarray(this.#bp, this.#bp + m)
      this.#bp += m
      this.#pos += m
      left -= m
      yield piece
    }
  }

  async finish(): Promise<void> {
    await this.#start()
    // drain, keeping the last 16 bytes: they must be the tail marker
    const tail = new Uint8Array(16)
    let have = 0
    const startPos = this.#pos
    while (await this.#fill()) {
      const chunk = this.#buf.subarray(this.#bp)
      if (chunk.length >= 16) {
        tail.set(chunk.subarray(chunk.length - 16))
        have = 16
      } else {
        const keep = Math.min(have, 16 - chunk.length)
        tail.copyWithin(0, have - keep, have)
        tail.set(chunk, keep)
        have = keep + chunk.length
      }
      this.#pos += chunk.length
      this.#bp = this.#buf.length
    }
    if (have < 16 || this.#pos - startPos < 16) {
      throw new PxarFormatError('ERR_PXAR_TRUNCATED', 'payload stream lacks its tail marker', this.#pos)
    }
    checkMarker(tail, PXAR_PAYLOAD_TAIL_MARKER, this.#pos - 16, 'tail')
  }

  async close(): Promise<void> {
    await this.#it.return?.()
  }
}

class RandomPayload implements PayloadSource {
  readonly #src: ReadAt
  readonly #piece: number
  #started = false

  constructor(src: ReadAt, piece: number) {
    this.#src = src
    this.#piece = piece
  }

  reference(offset: number, size: number): void {
    if (offset < 16 || offset + 16 + size > this.#src.size) {
      throw new PxarFormatError(
        'ERR_PXAR_INVALID_DATA',
        'payload reference outside the payload archive',
        offset,
      )
    }
  }

  async #start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    const h = new Uint8Array(16)
    await readExactAt(this.#src, h, 0)
    checkMarker(h, PXAR_PAYLOAD_START_MARKER, 0, 'start')
  }

  async *content(offset: number, size: number): AsyncGenerator<Uint8Array> {
    await this.#start()
    yield* readPayloadAt(this.#src, offset, size, this.#piece)
  }

  async finish(): Promise<void> {
    await this.#start()
    const size = this.#src.size
    if (size < 32) throw new PxarFormatError('ERR_PXAR_TRUNCATED', 'payload archive too small', size)
    const h = new Uint8Array(16)
    await readExactAt(this.#src, h, size - 16)
    checkMarker(h, PXAR_PAYLOAD_TAIL_MARKER, size - 16, 'tail')
  }

  async close(): Promise<void> {}
}

/**
 * Checks that a PAYLOAD item of `size` data bytes starts at `offset` of a payload archive.
 * @throws {PxarFormatError} `ERR_PXAR_INVALID_DATA` otherwise.
 */
export async function checkPayloadItem(src: ReadAt, offset: number, size: number): Promise<void> {
  const h = new Uint8Array(16)
  await readExactAt(src, h, offset)
  checkPayloadHeader(h, offset, size)
}

/**
 * Reads the data of the PAYLOAD item at `offset` (its header) of a payload archive, in pieces.
 * @throws {PxarFormatError} when the item there is not a PAYLOAD of `size` bytes.
 */
export async function* readPayloadAt(
  src: ReadAt,
  offset: number,
  size: number,
  pieceSize: number = PIECE,
): AsyncGenerator<Uint8Array> {
  await checkPayloadItem(src, offset, size)
  let pos = offset + 16
  let left = size
  while (left > 0) {
    const piece = new Uint8Array(Math.min(left, pieceSize))
    await readExactAt(src, piece, pos)
    pos += piece.length
    left -= piece.length
    yield piece
  }
}

/**
 * Decodes a pxar archive (v1, or a v2 metadata stream plus its payload) into entries.
 *
 * Content is streamed: a file's `content` yields pieces as they arrive and must be consumed before
 * asking for the next entry (unread content is skipped). Memory stays bounded by the input chunk
 * size plus the largest metadata item.
 * @throws {PxarFormatError} on malformed or truncated input.
 * @example
 * for await (const e of decode(fs.createReadStream('root.pxar'))) {
 *   console.log(e.pathString)
 *   if (e.content) for await (const piece of e.content) hash.update(piece)
 * }
 */
export async function* decode(
  source: AsyncIterable<Uint8Array>,
  options: DecodeOptions = {},
): AsyncGenerator<DecodedEntry, void, undefined> {
  const piece = options.pieceSize ?? PIECE
  if (!Number.isSafeInteger(piece) || piece <= 0) throw new RangeError(`invalid pieceSize ${piece}`)
  const dec = new Decoder({ onWarning: options.onWarning })
  const it = source[Symbol.asyncIterator]()
  let srcDone = false
  const payload: PayloadSource | undefined =
    options.payload === undefined
      ? undefined
      : isReadAt(options.payload)
        ? new RandomPayload(options.payload, piece)
        : new SequentialPayload(options.payload)

  const pullSlow = async (): Promise<DecoderEvent | undefined> => {
    for (;;) {
      const ev = dec.next()
      if (ev !== undefined) return ev
      if (srcDone) return undefined
      let r: IteratorResult<Uint8Array>
      try {
        r = await it.next()
      } catch (err) {
        throw new PxarError('ERR_PXAR_IO', 'archive stream failed', { cause: err })
      }
      if (r.done) {
        srcDone = true
        dec.end()
      } else dec.write(r.value)
    }
  }
  // Synchronous fast path: most events are already decodable from the current chunk, and an
  // await per entry and per content piece is what dominates small-file decoding.
  const pull = (): DecoderEvent | undefined | Promise<DecoderEvent | undefined> => {
    const ev = dec.next()
    if (ev !== undefined || (srcDone && dec.done)) return ev
    return pullSlow()
  }
  const lost = (): Error => new Error('decoder lost track of content')

  let remaining = 0
  let generation = 0
  let activePayload: AsyncGenerator<Uint8Array> | undefined
  const DONE: IteratorResult<Uint8Array> = { value: undefined, done: true }
  const contentIterator = (gen: number): AsyncIterator<Uint8Array> => ({
    next(): Promise<IteratorResult<Uint8Array>> {
      if (gen !== generation)
        return Promise.reject(new TypeError('content read after the next entry was requested'))
      if (remaining === 0) return Promise.resolve(DONE)
      let ev: DecoderEvent | undefined | Promise<DecoderEvent | undefined>
      try {
        ev = pull()
      } catch (err) {
        return Promise.reject(err)
      }
      const take = (e: DecoderEvent | undefined): IteratorResult<Uint8Array> => {
        if (e?.type !== 'content') throw lost()
        remaining -= e.data.length
        return { value: e.data, done: false }
      }
      if (ev instanceof Promise) return ev.then(take)
      try {
        return Promise.resolve(take(ev))
      } catch (err) {
        return Promise.reject(err)
      }
    },
    return(): Promise<IteratorResult<Uint8Array>> {
      return Promise.resolve(DONE)
    },
  })
  try {
    for (;;) {
      while (remaining > 0) {
        let ev = pull()
        if (ev instanceof Promise) ev = await ev
        if (ev?.type !== 'content') throw lost()
        remaining -= ev.data.length
      }
      if (activePayload !== undefined) {
        await activePayload.return(undefined)
        activePayload = undefined
      }
      let ev = pull()
      if (ev instanceof Promise) ev = await ev
      if (ev === undefined) break
      if (ev.type !== 'entry') throw lost()
      const e = ev.entry as Entry & { content: AsyncIterable<Uint8Array> | undefined }
      const gen = ++generation
      let content: AsyncIterable<Uint8Array> | undefined
      if (e.kind === 'prelude' || (e.kind === 'file' && e.payloadOffset === undefined)) {
        remaining = e.fileSize ?? 0
        content = { [Symbol.asyncIterator]: () => contentIterator(gen) }
      } else if (e.kind === 'file' && payload !== undefined) {
        const offset = e.payloadOffset!
        const size = e.fileSize!
        payload.reference(offset, size)
        content = {
          [Symbol.asyncIterator]: () => {
            if (gen !== generation) throw new TypeError('content read after the next entry was requested')
            if (activePayload !== undefined) throw new TypeError('content can be read only once')
            activePayload = payload.content(offset, size)
            return activePayload
          },
        }
      }
      // the decoder's entry objects are fresh and private: attach the content in place
      e.content = content
      yield e
    }
    if (payload !== undefined && dec.version === 2) await payload.finish()
  } finally {
    generation = -1
    await it.return?.()
    await payload?.close()
  }
}
