/**
 * Async-iterable wrapper of the {@link Encoder}: feed entries as an (async) iterable, consume the
 * archive as an async generator of byte chunks. The consumer pulls, so backpressure is built in:
 * no more than one entry (or one content piece) is encoded ahead of what has been consumed.
 */
import type { Metadata } from '@pxar/format'
import { type DeviceInput, Encoder, type LinkOffset, type NameInput } from './encoder.ts'
import { BufferSink } from './writers.ts'

/** File content: whole bytes or pieces (sync or async). */
export type ContentInput = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>

/** One instruction for {@link encode} / {@link encodeSplit}, in archive order. */
export type EncodeEntry =
  | {
      readonly type: 'file'
      readonly name: NameInput
      readonly metadata: Metadata
      /** Content; with pieces, `size` is required and must match their total. */
      readonly content: ContentInput
      readonly size?: number
      /** Remember this file for hardlinks (`link` of a later `hardlink` entry). */
      readonly id?: string
    }
  | { readonly type: 'directory'; readonly name: NameInput; readonly metadata: Metadata }
  /** Closes the innermost open directory; the root (and any directory still open) closes when the input ends. */
  | { readonly type: 'end' }
  | {
      readonly type: 'symlink'
      readonly name: NameInput
      readonly metadata: Metadata
      readonly target: NameInput
    }
  | {
      readonly type: 'hardlink'
      readonly name: NameInput
      /** Stored target path (informational). */
      readonly target: NameInput
      /** `id` of an earlier file, or a link offset from the encoder. */
      readonly link: string | LinkOffset
    }
  | {
      readonly type: 'device'
      readonly name: NameInput
      readonly metadata: Metadata
      readonly device: DeviceInput
    }
  | { readonly type: 'fifo' | 'socket'; readonly name: NameInput; readonly metadata: Metadata }
  /** v2: a file whose PAYLOAD item is already in the payload stream at `payloadOffset`. */
  | {
      readonly type: 'payloadRef'
      readonly name: NameInput
      readonly metadata: Metadata
      readonly size: number
      readonly payloadOffset: number
      readonly id?: string
    }
  /** v2: raw bytes appended to the payload stream (reused payload). */
  | { readonly type: 'payloadRaw'; readonly data: Uint8Array }

/** Options of {@link encode} and {@link encodeSplit}. */
export interface EncodeStreamOptions {
  /** Staging buffer size per stream (default 64 KiB). */
  readonly bufferSize?: number | undefined
}

/** A chunk of a split archive, tagged with the stream it belongs to. */
export interface SplitChunk {
  readonly stream: 'metadata' | 'payload'
  readonly bytes: Uint8Array
}

/**
 * Encodes a v1 archive. Yielded chunks may alias content pieces the caller supplied: consume each
 * chunk before pulling the next one if the source reuses its buffers.
 * @throws {PxarError} `ERR_PXAR_ENCODER_INVALID` / `ERR_PXAR_ENCODER_STATE` as the {@link Encoder}
 *   methods (e.g. an `end` without an open directory, a `hardlink` to an unknown id).
 * @example
 * for await (const chunk of encode(dirMetadata().build(), entries)) await fh.write(chunk)
 */
export async function* encode(
  root: Metadata,
  entries: Iterable<EncodeEntry> | AsyncIterable<EncodeEntry>,
  options: EncodeStreamOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const out = new BufferSink()
  const enc = new Encoder(out, root, { bufferSize: options.bufferSize })
  for await (const _ of run(enc, entries)) yield* out.take()
  yield* out.take()
}

/**
 * Encodes a v2 split archive: chunks of the metadata (.mpxar) and payload (.ppxar) streams,
 * interleaved in production order and tagged with their stream.
 * @throws {PxarError} as {@link encode}.
 */
export async function* encodeSplit(
  root: Metadata,
  entries: Iterable<EncodeEntry> | AsyncIterable<EncodeEntry>,
  options: EncodeStreamOptions & { readonly prelude?: Uint8Array | undefined } = {},
): AsyncGenerator<SplitChunk, void, undefined> {
  const meta = new BufferSink()
  const payload = new BufferSink()
  const enc = new Encoder(meta, root, { payload, prelude: options.prelude, bufferSize: options.bufferSize })
  const drain = function* (): Generator<SplitChunk> {
    for (const bytes of meta.take()) yield { stream: 'metadata', bytes }
    for (const bytes of payload.take()) yield { stream: 'payload', bytes }
  }
  for await (const _ of run(enc, entries)) yield* drain()
  yield* drain()
}

function isBytes(c: ContentInput): c is Uint8Array {
  return c instanceof Uint8Array
}

/** Drives the encoder; yields after every step so the caller can drain the sinks. */
async function* run(
  enc: Encoder,
  entries: Iterable<EncodeEntry> | AsyncIterable<EncodeEntry>,
): AsyncGenerator<void, void, undefined> {
  const ids = new Map<string, LinkOffset>()
  const remember = (id: string | undefined, link: LinkOffset): void => {
    if (id !== undefined) ids.set(id, link)
  }
  for await (const e of entries) {
    switch (e.type) {
      case 'file': {
        if (isBytes(e.content)) {
          if (e.size !== undefined && e.size !== e.content.length)
            throw new RangeError(`file size ${e.size} does not match content length ${e.content.length}`)
          remember(e.id, enc.addFile(e.name, e.metadata, e.content))
          break
        }
        if (e.size === undefined) throw new TypeError('file entries with streamed content need a size')
        const w = enc.createFile(e.name, e.metadata, e.size)
        for await (const piece of e.content) {
          w.write(piece)
          yield
        }
        remember(e.id, w.close())
        break
      }
      case 'directory':
        enc.createDirectory(e.name, e.metadata)
        break
      case 'end':
        if (enc.depth <= 1)
          throw new RangeError("'end' without an open directory (the root closes at the end of input)")
        enc.finish()
        break
      case 'symlink':
        enc.addSymlink(e.name, e.metadata, e.target)
        break
      case 'hardlink': {
        const link = typeof e.link === 'string' ? ids.get(e.link) : e.link
        if (link === undefined) throw new RangeError(`hardlink to unknown id ${String(e.link)}`)
        enc.addHardlink(e.name, e.target, link)
        break
      }
      case 'device':
        enc.addDevice(e.name, e.metadata, e.device)
        break
      case 'fifo':
        enc.addFifo(e.name, e.metadata)
        break
      case 'socket':
        enc.addSocket(e.name, e.metadata)
        break
      case 'payloadRef':
        remember(e.id, enc.addPayloadRef(e.name, e.metadata, e.size, e.payloadOffset))
        break
      case 'payloadRaw':
        enc.appendPayload(e.data)
        break
    }
    yield
  }
  while (enc.depth > 1) enc.finish()
  enc.finish()
  enc.close()
}
