/**
 * Byte sinks the encoder writes to, and the staging writer that batches small items.
 *
 * The encoder core is synchronous: it calls `sink.write(bytes)` and expects the call to take the
 * bytes over (the encoder never touches a buffer again after handing it to a sink). To stream to
 * an async destination with backpressure, use a {@link BufferSink} and drain it between encoder
 * calls (see the package README): the encoder never holds more than one staging buffer (64 KiB by
 * default) plus the goodbye tables of the open directories, and file data is passed through without
 * copying, so memory stays bounded by the pieces the caller feeds in.
 */

/** Destination of an encoded stream. `write` owns the bytes it is given. */
export interface ByteSink {
  write(bytes: Uint8Array): void
}

/**
 * A sink that queues what it receives until {@link BufferSink.take} drains it: the bridge from the
 * synchronous encoder to async writers (files, sockets, a chunker with backpressure).
 * @example
 * const sink = new BufferSink()
 * const enc = new Encoder(sink, dirMetadata().build())
 * enc.addFile('a.txt', fileMetadata().build(), bytes)
 * for (const chunk of sink.take()) await fileHandle.write(chunk)
 */
export class BufferSink implements ByteSink {
  #chunks: Uint8Array[] = []
  #size = 0
  #total = 0

  write(bytes: Uint8Array): void {
    if (bytes.length === 0) return
    this.#chunks.push(bytes)
    this.#size += bytes.length
    this.#total += bytes.length
  }

  /** Bytes queued and not yet taken. */
  get size(): number {
    return this.#size
  }

  /** Bytes ever written. */
  get total(): number {
    return this.#total
  }

  /** Removes and returns the queued chunks, in order. */
  take(): Uint8Array[] {
    const c = this.#chunks
    this.#chunks = []
    this.#size = 0
    return c
  }

  /** Removes the queued chunks and returns them as one buffer. */
  takeBytes(): Uint8Array<ArrayBuffer> {
    const chunks = this.take()
    return concatBytes(chunks)
  }
}

/**
 * Writes everything queued in `buffer` through an async writer, one chunk at a time, awaiting
 * each write: call it between encoder calls to stream an archive with backpressure.
 * @example
 * const fh = await open('out.pxar', 'w')
 * enc.addFile(name, meta, data)
 * await drain(sink, (chunk) => fh.write(chunk))
 */
export async function drain(
  buffer: BufferSink,
  write: (bytes: Uint8Array) => unknown | Promise<unknown>,
): Promise<void> {
  for (;;) {
    const chunks = buffer.take()
    if (chunks.length === 0) return
    for (const c of chunks) await write(c)
  }
}

/** Concatenates byte arrays into a new buffer. */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let n = 0
  for (const c of chunks) n += c.length
  const out = new Uint8Array(n)
  let o = 0
  for (const c of chunks) {
    out.set(c, o)
    o += c.length
  }
  return out
}

/**
 * Batches small writes into a staging buffer and tracks the stream position. Large payloads go
 * through {@link StreamWriter.passThrough} without a copy.
 * @internal
 */
export class StreamWriter {
  readonly sink: ByteSink
  bytes: Uint8Array<ArrayBuffer>
  view: DataView<ArrayBuffer>
  /** Bytes staged in `bytes`. */
  len = 0
  /** Bytes already handed to the sink. */
  flushed = 0
  readonly #capacity: number

  constructor(sink: ByteSink, capacity: number) {
    this.sink = sink
    this.#capacity = capacity
    this.bytes = new Uint8Array(capacity)
    this.view = new DataView(this.bytes.buffer)
  }

  /** Stream position: everything written or staged so far. */
  get position(): number {
    return this.flushed + this.len
  }

  /**
   * Makes room for `n` bytes and returns the offset in `bytes` to write them at; the caller then
   * calls {@link StreamWriter.commit}.
   */
  reserve(n: number): number {
    if (this.len + n > this.bytes.length) {
      this.flush()
      if (n > this.bytes.length) {
        let cap = this.bytes.length * 2
        while (cap < n) cap *= 2
        this.bytes = new Uint8Array(cap)
        this.view = new DataView(this.bytes.buffer)
      }
    }
    return this.len
  }

  commit(n: number): void {
    this.len += n
  }

  /** Hands the staged bytes to the sink (as a buffer the sink may keep). */
  flush(): void {
    const n = this.len
    if (n === 0) return
    this.flushed += n
    this.len = 0
    let out: Uint8Array
    if (n >= this.bytes.length >>> 1) {
      // mostly full: give the buffer away instead of copying it, and start a fresh one
      out = this.bytes.subarray(0, n)
      this.bytes = new Uint8Array(this.#capacity)
      this.view = new DataView(this.bytes.buffer)
    } else {
      out = this.bytes.slice(0, n)
      // an oversized staging buffer (one huge item) goes back to the normal size
      if (this.bytes.length > this.#capacity) {
        this.bytes = new Uint8Array(this.#capacity)
        this.view = new DataView(this.bytes.buffer)
      }
    }
    this.sink.write(out)
  }

  /** Writes caller bytes after the staged ones: small pieces are copied, big ones passed on as is. */
  passThrough(data: Uint8Array): void {
    if (data.length <= 4096 && this.len + data.length <= this.bytes.length) {
      this.bytes.set(data, this.len)
      this.len += data.length
      return
    }
    this.flush()
    this.flushed += data.length
    this.sink.write(data)
  }

  /** Counts `n` bytes the caller wrote to the sink itself (after a {@link StreamWriter.flush}). */
  skip(n: number): void {
    this.flush()
    this.flushed += n
  }
}
