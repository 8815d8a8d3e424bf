/**
 * The pxar encoder: a synchronous push core that writes a v1 archive (one stream) or a v2 split
 * archive (metadata stream + payload stream) to {@link ByteSink}s, byte for byte like upstream
 * pxar's `Encoder` (pxar 1.0 `src/encoder/mod.rs`).
 *
 * Memory: one staging buffer per stream plus, per open directory, its goodbye items (4 numbers per
 * child). File data passes straight through to the sink.
 */
import {
  bstCopy,
  encodedMetadataSize,
  encodeUtf8,
  filenameError,
  GOODBYE_ITEM_SIZE,
  HEADER_SIZE,
  type HType,
  hashFilename,
  isDeviceMode,
  isDirectoryMode,
  isFifoMode,
  isSocketMode,
  MAX_PATH_LEN,
  type Metadata,
  metadataLimitError,
  PXAR_DEVICE,
  PXAR_FILENAME,
  PXAR_FORMAT_VERSION,
  PXAR_GOODBYE,
  PXAR_GOODBYE_TAIL_MARKER,
  PXAR_HARDLINK,
  PXAR_PAYLOAD,
  PXAR_PAYLOAD_REF,
  PXAR_PAYLOAD_START_MARKER,
  PXAR_PAYLOAD_TAIL_MARKER,
  PXAR_PRELUDE,
  PXAR_SYMLINK,
  PxarError,
  type PxarErrorCode,
  type U64Value,
  validateMetadata,
  writeGoodbyeItem,
  writeHeader,
  writeMetadataItems,
  writeU64Value,
} from '@pxar/format'
import { type ByteSink, StreamWriter } from './writers.ts'

/**
 * Position of a file's FILENAME header in the metadata stream, handed out by the encoder's file
 * methods; pass it to {@link Encoder.addHardlink} to link to that file (upstream `LinkOffset`).
 */
export type LinkOffset = number & { readonly __brand: 'LinkOffset' }

/** A file or directory name: raw bytes, or a string (UTF-8 encoded). */
export type NameInput = string | Uint8Array

/** Options of {@link Encoder}. */
export interface EncoderOptions {
  /**
   * Payload sink: when given, the encoder writes a v2 split archive (metadata to the main sink,
   * file data to this one). Without it the archive is v1 (one stream).
   */
  readonly payload?: ByteSink | undefined
  /** v2 only: bytes stored in a PRELUDE item after FORMAT_VERSION. */
  readonly prelude?: Uint8Array | undefined
  /** Staging buffer size per stream (default 64 KiB). */
  readonly bufferSize?: number | undefined
}

/** Device numbers for {@link Encoder.addDevice}. */
export interface DeviceInput {
  readonly major: U64Value
  readonly minor: U64Value
}

function invalid(message: string): never {
  throw new PxarError('ERR_PXAR_ENCODER_INVALID', message)
}
function state(message: string): never {
  throw new PxarError('ERR_PXAR_ENCODER_STATE', message)
}

function toName(name: NameInput): Uint8Array {
  if (typeof name === 'string') return encodeUtf8(name)
  if (!(name instanceof Uint8Array))
    throw new TypeError('names and link targets must be strings or Uint8Arrays')
  return name
}

/** One open directory: where it starts and the goodbye items of its children so far. */
interface DirState {
  /** Offset of its ENTRY header (0 for the root, as upstream). */
  readonly entryOffset: number
  /** Offset of its FILENAME header (undefined for the root). */
  readonly filenameOffset: number | undefined
  readonly hashLo: number
  readonly hashHi: number
  /** Flat goodbye items: hashLo, hashHi, filename offset, size — 4 numbers per child. */
  readonly items: number[]
}

type Phase = 'open' | 'file' | 'finished' | 'closed' | 'failed'

/**
 * Writes a pxar archive. Create it with the root directory's metadata, add entries in the order
 * they should appear (producers add each directory's children sorted bytewise by name; the
 * encoder does not sort), {@link Encoder.finish} every directory including the root, then
 * {@link Encoder.close}.
 *
 * Every method validates its arguments before writing anything, so a rejected call
 * (`ERR_PXAR_ENCODER_INVALID`) leaves the stream untouched and the encoder usable. Calls in the
 * wrong state throw `ERR_PXAR_ENCODER_STATE`.
 * @example
 * const out = new BufferSink()
 * const enc = new Encoder(out, dirMetadata().mtime(1_700_000_000).build())
 * enc.addFile('hello.txt', fileMetadata(0o644).build(), new TextEncoder().encode('hi\n'))
 * enc.finish()
 * enc.close()
 * const archive = out.takeBytes()
 */
export class Encoder {
  readonly #out: StreamWriter
  readonly #payload: StreamWriter | undefined
  readonly #dirs: DirState[] = []
  #phase: Phase = 'open'

  /**
   * Starts an archive with the root directory's metadata.
   * @throws {PxarError} `ERR_PXAR_ENCODER_INVALID` when the root metadata is not a directory, or a
   *   prelude is given without a payload sink (v1).
   * @throws {RangeError} when a metadata field is out of range.
   */
  constructor(output: ByteSink, rootMetadata: Metadata, options: EncoderOptions = {}) {
    const bufferSize = options.bufferSize ?? 64 * 1024
    if (!Number.isSafeInteger(bufferSize) || bufferSize < 64)
      throw new RangeError(`invalid bufferSize ${bufferSize}`)
    if (!isDirectoryMode(rootMetadata.stat.mode))
      invalid('directory metadata must contain the directory mode flag')
    if (options.prelude !== undefined && options.payload === undefined)
      invalid('encoding prelude not supported in format version 1')
    checkMetadata(rootMetadata)
    this.#out = new StreamWriter(output, bufferSize)
    if (options.payload !== undefined) {
      this.#payload = new StreamWriter(options.payload, bufferSize)
      this.#header(PXAR_FORMAT_VERSION, 8)
      this.#u64(2)
      if (options.prelude !== undefined) {
        this.#header(PXAR_PRELUDE, options.prelude.length)
        this.#out.passThrough(options.prelude)
      }
    }
    this.#metadata(rootMetadata)
    this.#dirs.push({ entryOffset: 0, filenameOffset: undefined, hashLo: 0, hashHi: 0, items: [] })
    if (this.#payload !== undefined) {
      const p = this.#payload
      const at = p.reserve(HEADER_SIZE)
      writeHeader(p.view, at, PXAR_PAYLOAD_START_MARKER, 0)
      p.commit(HEADER_SIZE)
    }
  }

  /** True when writing a v2 split archive. */
  get split(): boolean {
    return this.#payload !== undefined
  }

  /** Current position in the metadata (v1: the only) stream. */
  get position(): number {
    return this.#out.position
  }

  /**
   * Current position in the payload stream (v2).
   * @throws {PxarError} `ERR_PXAR_ENCODER_INVALID` in a v1 archive.
   */
  get payloadPosition(): number {
    if (this.#payload === undefined) invalid('payload position not available in format version 1')
    return this.#payload.position
  }

  /** Depth of open directories (1 = only the root). */
  get depth(): number {
    return this.#dirs.length
  }

  /**
   * Adds a regular file with all its content.
   * In v1 (and for large data in v2) `data` is handed to the sink without copying: do not modify it
   * afterwards.
   * @returns the file's link offset, for {@link Encoder.addHardlink}
   * @throws {PxarError} `ERR_PXAR_ENCODER_INVALID` for a bad name or oversized metadata items,
   *   `ERR_PXAR_ENCODER_STATE` when a file is open or the root is finished.
   */
  addFile(name: NameInput, metadata: Metadata, data: Uint8Array): LinkOffset {
    const w = this.createFile(name, metadata, data.length)
    w.write(data)
    return w.close()
  }

  /**
   * Starts a regular file of `size` bytes whose content is then written through the returned
   * {@link FileWriter} in any number of pieces; no other encoder call is allowed until it is closed.
   * @throws {PxarError} as {@link Encoder.addFile}.
   * @throws {RangeError} when size is not a non-negative safe integer.
   */
  createFile(name: NameInput, metadata: Metadata, size: number): FileWriter {
    this.#check()
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`invalid file size ${size}`)
    const nameBytes = toName(name)
    checkName(nameBytes)
    checkMetadata(metadata)
    const fileOffset = this.#out.position
    this.#filename(nameBytes)
    this.#metadata(metadata)
    const payload = this.#payload
    if (payload !== undefined) {
      const payloadOffset = payload.position
      const at = payload.reserve(HEADER_SIZE)
      writeHeader(payload.view, at, PXAR_PAYLOAD, size)
      payload.commit(HEADER_SIZE)
      this.#header(PXAR_PAYLOAD_REF, 16)
      this.#u64(payloadOffset)
      this.#u64(size)
    } else {
      this.#header(PXAR_PAYLOAD, size)
    }
    // Upstream records (FILENAME .. end of PAYLOAD/PAYLOAD_REF header) + file size as the goodbye
    // size, also in v2 where the data is in the other stream.
    const metaSize = this.#out.position - fileOffset
    const h = hashFilename(nameBytes)
    this.#phase = 'file'
    return new FileWriter(
      this,
      payload ?? this.#out,
      size,
      fileOffset as LinkOffset,
      h.lo,
      h.hi,
      metaSize + size,
    )
  }

  /** @internal called by FileWriter.close */
  _endFile(hashLo: number, hashHi: number, fileOffset: number, size: number): void {
    this.#phase = 'open'
    this.#dirs[this.#dirs.length - 1]!.items.push(hashLo, hashHi, fileOffset, size)
  }

  /** @internal called by FileWriter on a failed write */
  _failFile(): void {
    this.#phase = 'failed'
  }

  /**
   * Opens a subdirectory; its children follow until the matching {@link Encoder.finish}.
   * @throws {PxarError} `ERR_PXAR_ENCODER_INVALID` when the metadata is not a directory or the name
   *   is invalid; `ERR_PXAR_ENCODER_STATE` as {@link Encoder.addFile}.
   */
  createDirectory(name: NameInput, metadata: Metadata): void {
    this.#check()
    if (!isDirectoryMode(metadata.stat.mode))
      invalid('directory metadata must contain the directory mode flag')
    const nameBytes = toName(name)
    checkName(nameBytes)
    checkMetadata(metadata)
    const h = hashFilename(nameBytes)
    const filenameOffset = this.#out.position
    this.#filename(nameBytes)
    const entryOffset = this.#out.position
    this.#metadata(metadata)
    this.#dirs.push({ entryOffset, filenameOffset, hashLo: h.lo, hashHi: h.hi, items: [] })
  }

  /**
   * Closes the current directory by writing its goodbye table; closing the root ends the archive
   * (then call {@link Encoder.close}).
   * @throws {PxarError} `ERR_PXAR_ENCODER_STATE` when a file is open or everything is finished.
   */
  finish(): void {
    this.#check()
    const dir = this.#dirs.pop()!
    const items = dir.items
    const n = items.length / 4
    const goodbyeOffset = this.#out.position
    const contentSize = (n + 1) * GOODBYE_ITEM_SIZE
    const out = this.#out
    const at = out.reserve(HEADER_SIZE + contentSize)
    const view = out.view
    writeHeader(view, at, PXAR_GOODBYE, contentSize)
    // sort child indexes by hash (stable), then lay them out as a binary search tree
    const order = new Array<number>(n)
    for (let i = 0; i < n; i++) order[i] = i * 4
    order.sort((a, b) => {
      const ah = items[a + 1]!
      const bh = items[b + 1]!
      if (ah !== bh) return ah < bh ? -1 : 1
      const al = items[a]!
      const bl = items[b]!
      return al === bl ? 0 : al < bl ? -1 : 1
    })
    const base = at + HEADER_SIZE
    bstCopy(n, (src, dest) => {
      const k = order[src]!
      writeGoodbyeItem(
        view,
        base + dest * GOODBYE_ITEM_SIZE,
        items[k]!,
        items[k + 1]!,
        goodbyeOffset - items[k + 2]!,
        items[k + 3]!,
      )
    })
    writeGoodbyeItem(
      view,
      base + n * GOODBYE_ITEM_SIZE,
      PXAR_GOODBYE_TAIL_MARKER.lo,
      PXAR_GOODBYE_TAIL_MARKER.hi,
      goodbyeOffset - dir.entryOffset,
      HEADER_SIZE + contentSize,
    )
    out.commit(HEADER_SIZE + contentSize)
    const parent = this.#dirs[this.#dirs.length - 1]
    if (parent === undefined) {
      this.#phase = 'finished'
      return
    }
    const fo = dir.filenameOffset!
    parent.items.push(dir.hashLo, dir.hashHi, fo, out.position - fo)
  }

  /**
   * Adds a symbolic link.
   * @throws {PxarError} `ERR_PXAR_ENCODER_INVALID` for a bad name, or a target over 4096 bytes or
   *   containing a NUL byte.
   */
  addSymlink(name: NameInput, metadata: Metadata, target: NameInput): void {
    this.#check()
    const nameBytes = toName(name)
    checkName(nameBytes)
    checkMetadata(metadata)
    const t = toName(target)
    checkSize(PXAR_SYMLINK, t.length + 1, MAX_PATH_LEN + 1)
    checkNoNul(t, 'symlink target')
    this.#entry(nameBytes, metadata, PXAR_SYMLINK, t, true)
  }

  /**
   * Adds a hardlink to a file added earlier. `target` is the stored path string (informational;
   * readers follow the offset), `link` what the target file's method returned.
   * @throws {PxarError} `ERR_PXAR_ENCODER_INVALID` for a bad name, an over-long target or a link that
   *   does not point backwards.
   */
  addHardlink(name: NameInput, target: NameInput, link: LinkOffset): void {
    this.#check()
    const nameBytes = toName(name)
    checkName(nameBytes)
    const t = toName(target)
    checkSize(PXAR_HARDLINK, 8 + t.length + 1, 8 + MAX_PATH_LEN + 1)
    checkNoNul(t, 'hardlink target')
    const here = this.#out.position
    if (!Number.isSafeInteger(link) || here <= link)
      invalid('invalid hardlink offset, can only point to prior files')
    const fileOffset = here
    this.#filename(nameBytes)
    this.#header(PXAR_HARDLINK, 8 + t.length + 1)
    this.#u64(here - link)
    this.#bytesZ(t)
    this.#pushItem(nameBytes, fileOffset)
  }

  /**
   * Adds a character or block device.
   * @throws {PxarError} `ERR_PXAR_ENCODER_INVALID` when the mode is not a device or the name is bad.
   */
  addDevice(name: NameInput, metadata: Metadata, device: DeviceInput): void {
    this.#check()
    if (!isDeviceMode(metadata.stat.mode))
      invalid('entry added via add_device must have a device mode in its metadata')
    const nameBytes = toName(name)
    checkName(nameBytes)
    checkMetadata(metadata)
    const data = new Uint8Array(16)
    const v = new DataView(data.buffer)
    writeU64Value(v, 0, device.major, 'device.major')
    writeU64Value(v, 8, device.minor, 'device.minor')
    this.#entry(nameBytes, metadata, PXAR_DEVICE, data, false)
  }

  /**
   * Adds a FIFO.
   * @throws {PxarError} `ERR_PXAR_ENCODER_INVALID` when the mode is not a FIFO or the name is bad.
   */
  addFifo(name: NameInput, metadata: Metadata): void {
    this.#check()
    if (!isFifoMode(metadata.stat.mode))
      invalid('entry added via add_device must be of type fifo in its metadata')
    this.#special(name, metadata)
  }

  /**
   * Adds a Unix socket.
   * @throws {PxarError} `ERR_PXAR_ENCODER_INVALID` when the mode is not a socket or the name is bad.
   */
  addSocket(name: NameInput, metadata: Metadata): void {
    this.#check()
    if (!isSocketMode(metadata.stat.mode))
      invalid('entry added via add_device must be of type socket in its metadata')
    this.#special(name, metadata)
  }

  /**
   * v2: adds a regular file whose data already sits in the payload stream at `payloadOffset` (the
   * position of its PAYLOAD header), as PBS does for unchanged files. The offset must not lie
   * behind the current payload position.
   * @returns the file's link offset
   * @throws {PxarError} `ERR_PXAR_ENCODER_INVALID` in v1, for an offset behind the payload position
   *   or a bad name.
   */
  addPayloadRef(name: NameInput, metadata: Metadata, size: number, payloadOffset: number): LinkOffset {
    this.#check()
    if (this.#payload === undefined) invalid('payload references not supported in format version 1')
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`invalid file size ${size}`)
    if (!Number.isSafeInteger(payloadOffset) || payloadOffset < 0)
      throw new RangeError(`invalid payload offset ${payloadOffset}`)
    const pos = this.#payload.position
    if (payloadOffset < pos) invalid(`offset smaller than current position: ${payloadOffset} < ${pos}`)
    const nameBytes = toName(name)
    checkName(nameBytes)
    checkMetadata(metadata)
    const data = new Uint8Array(16)
    const v = new DataView(data.buffer)
    writeU64Value(v, 0, payloadOffset)
    writeU64Value(v, 8, size)
    return this.#entry(nameBytes, metadata, PXAR_PAYLOAD_REF, data, false)
  }

  /**
   * v2: appends raw bytes to the payload stream and advances the payload position past them
   * (reusing already-encoded payload, e.g. chunks of a previous backup).
   * @throws {PxarError} `ERR_PXAR_ENCODER_INVALID` in v1; `ERR_PXAR_ENCODER_STATE` as usual.
   */
  appendPayload(bytes: Uint8Array): void {
    this.#check()
    if (this.#payload === undefined) invalid('payload output not available in format version 1')
    this.#payload.passThrough(bytes)
  }

  /**
   * v2: advances the payload position by `n` bytes that the caller wrote to the payload sink
   * itself. Staged payload bytes are flushed first, so write your bytes to the sink only after
   * {@link Encoder.flush} (or use {@link Encoder.appendPayload}).
   * @throws {PxarError} `ERR_PXAR_ENCODER_INVALID` in v1.
   */
  advancePayload(n: number): void {
    this.#check()
    if (this.#payload === undefined) invalid('payload output not available in format version 1')
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`invalid advance ${n}`)
    this.#payload.skip(n)
  }

  /** Hands all staged bytes to the sinks. */
  flush(): void {
    this.#out.flush()
    this.#payload?.flush()
  }

  /**
   * Ends the archive after the root was finished: writes the payload tail marker (v2) and flushes.
   * @throws {PxarError} `ERR_PXAR_ENCODER_STATE` while directories (or a file) are still open.
   */
  close(): void {
    if (this.#phase === 'closed') return
    if (this.#phase === 'file') state('cannot close the encoder while a file is open')
    if (this.#phase === 'failed') state('encoder failed earlier')
    if (this.#phase !== 'finished') state('unclosed directory: finish() every directory including the root')
    const p = this.#payload
    if (p !== undefined) {
      const at = p.reserve(HEADER_SIZE)
      writeHeader(p.view, at, PXAR_PAYLOAD_TAIL_MARKER, 0)
      p.commit(HEADER_SIZE)
    }
    this.flush()
    this.#phase = 'closed'
  }

  #check(): void {
    const phase = this.#phase
    if (phase === 'open') return
    if (phase === 'file') state('a file is still being written: close its FileWriter first')
    if (phase === 'failed') state('encoder failed earlier')
    state('the archive is already finished')
  }

  #special(name: NameInput, metadata: Metadata): void {
    const nameBytes = toName(name)
    checkName(nameBytes)
    checkMetadata(metadata)
    this.#entry(nameBytes, metadata, undefined, undefined, false)
  }

  /** FILENAME + metadata + optional item, then the goodbye item with the exact size. */
  #entry(
    name: Uint8Array,
    metadata: Metadata,
    htype: HType | undefined,
    data: Uint8Array | undefined,
    nulTerminated: boolean,
  ): LinkOffset {
    const fileOffset = this.#out.position
    this.#filename(name)
    this.#metadata(metadata)
    if (htype !== undefined && data !== undefined) {
      this.#header(htype, data.length + (nulTerminated ? 1 : 0))
      if (nulTerminated) this.#bytesZ(data)
      else this.#bytes(data)
    }
    this.#pushItem(name, fileOffset)
    return fileOffset as LinkOffset
  }

  #pushItem(name: Uint8Array, fileOffset: number): void {
    const h = hashFilename(name)
    this.#dirs[this.#dirs.length - 1]!.items.push(h.lo, h.hi, fileOffset, this.#out.position - fileOffset)
  }

  #header(htype: HType, contentSize: number): void {
    const out = this.#out
    const at = out.reserve(HEADER_SIZE)
    writeHeader(out.view, at, htype, contentSize)
    out.commit(HEADER_SIZE)
  }

  #u64(v: number): void {
    const out = this.#out
    const at = out.reserve(8)
    out.view.setUint32(at, v >>> 0, true)
    out.view.setUint32(at + 4, Math.floor(v / 0x1_0000_0000), true)
    out.commit(8)
  }

  #bytes(b: Uint8Array): void {
    const out = this.#out
    const at = out.reserve(b.length)
    out.bytes.set(b, at)
    out.commit(b.length)
  }

  #bytesZ(b: Uint8Array): void {
    const out = this.#out
    const at = out.reserve(b.length + 1)
    out.bytes.set(b, at)
    out.bytes[at + b.length] = 0
    out.commit(b.length + 1)
  }

  #filename(name: Uint8Array): void {
    this.#header(PXAR_FILENAME, name.length + 1)
    this.#bytesZ(name)
  }

  #metadata(metadata: Metadata): void {
    const out = this.#out
    const size = encodedMetadataSize(metadata)
    const at = out.reserve(size)
    const end = writeMetadataItems(out.bytes, out.view, at, metadata)
    out.commit(end - at)
  }
}

/**
 * Streams one regular file's content into the archive; returned by {@link Encoder.createFile}.
 * Write exactly the announced number of bytes, then {@link FileWriter.close}.
 */
export class FileWriter {
  readonly #enc: Encoder
  readonly #sink: StreamWriter
  readonly #hashLo: number
  readonly #hashHi: number
  readonly #itemSize: number
  #remaining: number
  #closed = false
  /** The file's link offset (for hardlinks). */
  readonly offset: LinkOffset

  /** @internal */
  constructor(
    enc: Encoder,
    sink: StreamWriter,
    size: number,
    offset: LinkOffset,
    hashLo: number,
    hashHi: number,
    itemSize: number,
  ) {
    this.#enc = enc
    this.#sink = sink
    this.#remaining = size
    this.offset = offset
    this.#hashLo = hashLo
    this.#hashHi = hashHi
    this.#itemSize = itemSize
  }

  /** Bytes still expected. */
  get remaining(): number {
    return this.#remaining
  }

  /**
   * Appends content. The bytes may be handed to the sink without copying: do not modify them later.
   * @throws {PxarError} `ERR_PXAR_ENCODER_INVALID` when writing more than the announced size (the
   *   encoder is unusable afterwards), `ERR_PXAR_ENCODER_STATE` after close.
   */
  write(bytes: Uint8Array): void {
    if (this.#closed) state('file writer already closed')
    if (bytes.length > this.#remaining) {
      this.#closed = true
      this.#enc._failFile()
      invalid(`attempted to write more than previously allocated (${bytes.length} > ${this.#remaining})`)
    }
    if (bytes.length === 0) return
    this.#remaining -= bytes.length
    this.#sink.passThrough(bytes)
  }

  /**
   * Completes the file.
   * @returns the file's link offset
   * @throws {PxarError} `ERR_PXAR_ENCODER_STATE` when bytes are still missing.
   */
  close(): LinkOffset {
    if (this.#closed) state('file writer already closed')
    if (this.#remaining !== 0) state(`incomplete file: ${this.#remaining} bytes missing`)
    this.#closed = true
    this.#enc._endFile(this.#hashLo, this.#hashHi, this.offset, this.#itemSize)
    return this.offset
  }
}

function checkName(name: Uint8Array): void {
  const err = filenameError(name)
  if (err !== undefined) invalid(err)
}

// A NUL inside a NUL-terminated string would not decode back (and cannot occur in a Linux path).
function checkNoNul(b: Uint8Array, what: string): void {
  if (b.includes(0)) invalid(`${what} contains a NUL byte`)
}

function checkSize(h: HType, size: number, max: number): void {
  if (size > max) invalid(`invalid content size (${size} > ${max}) of entry with ${h.name} header`)
}

function checkMetadata(meta: Metadata): void {
  const err = metadataLimitError(meta)
  if (err !== undefined) invalid(err)
  validateMetadata(meta)
}

/** The error codes the encoder throws. */
export const ENCODER_ERROR_CODES: readonly PxarErrorCode[] = [
  'ERR_PXAR_ENCODER_INVALID',
  'ERR_PXAR_ENCODER_STATE',
]
