/**
 * Streams one archive into a {@link IndexUpload}: bytes are chunked, hashed and encoded by the
 * `@pxar/datastore` store pipeline while they are produced; chunks unknown to the store are
 * uploaded and appended in stream order once acknowledged. Known chunks (of a previous snapshot)
 * can be injected between segments of fresh data, which forces a chunk boundary there.
 */
import { createHash } from 'node:crypto'
import { type BlobEncoder, type CryptConfig, EncodePool, storeDynamic } from '@pxar/datastore'
import type { BackupSession, IndexUpload } from './store.ts'

const hex = (d: Uint8Array): string => Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('hex')

/** A byte queue between a producer and the pipeline, with backpressure by queued bytes. */
class ByteChannel implements AsyncIterable<Uint8Array> {
  readonly #limit: number
  #queue: Uint8Array[] = []
  #bytes = 0
  #closed = false
  #error: { error: unknown } | undefined
  #wakeReader: (() => void) | undefined
  #wakeWriter: (() => void) | undefined

  constructor(limit: number) {
    this.#limit = limit
  }

  async push(b: Uint8Array): Promise<void> {
    if (this.#error) throw this.#error.error
    if (b.length === 0) return
    this.#queue.push(b)
    this.#bytes += b.length
    this.#wakeReader?.()
    while (this.#bytes > this.#limit) {
      await new Promise<void>((r) => {
        this.#wakeWriter = r
      })
      this.#throwIfFailed()
    }
  }

  #throwIfFailed(): void {
    if (this.#error) throw this.#error.error
  }

  close(): void {
    this.#closed = true
    this.#wakeReader?.()
  }

  fail(error: unknown): void {
    this.#error ??= { error }
    this.#queue = []
    this.#bytes = 0
    this.#wakeWriter?.()
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const b = this.#queue.shift()
      if (b) {
        this.#bytes -= b.length
        if (this.#bytes <= this.#limit) this.#wakeWriter?.()
        yield b
      } else if (this.#closed) {
        return
      } else {
        await new Promise<void>((r) => {
          this.#wakeReader = r
        })
        this.#wakeReader = undefined
      }
    }
  }
}

/** Options of {@link ArchiveUploader}. */
export interface ArchiveUploaderOptions {
  /** Shared blob encoder (compression/encryption on worker threads). */
  readonly encoder: BlobEncoder
  /** Average chunk size (default 4 MiB). */
  readonly avgSize?: number | undefined
  /** Key for keyed chunk digests (encrypted backups). */
  readonly crypt?: CryptConfig | undefined
  /** Digests (hex) known to the store without upload (previous snapshot's indexes). */
  readonly known: Set<string>
  /** Called with the encoded size of every uploaded chunk. */
  readonly onUpload?: ((encodedBytes: number) => void) | undefined
  /** Chunks being encoded or uploaded at once (default: encode workers + 2). */
  readonly maxInFlight?: number | undefined
}

/** Upload result of one archive. */
export interface ArchiveUploadResult {
  readonly size: number
  readonly chunkCount: number
  readonly csum: Uint8Array
}

/** See the module comment. */
export class ArchiveUploader {
  readonly #session: BackupSession
  readonly #upload: IndexUpload
  readonly #opts: ArchiveUploaderOptions
  readonly #csum = createHash('sha256')
  readonly #entry = new Uint8Array(40)
  readonly #view = new DataView(this.#entry.buffer)
  readonly #ready = new Set<string>()
  readonly #sizes = new Map<string, number>()
  #queue: { digest: Uint8Array; start: number }[] = []
  #appendChain: Promise<void> = Promise.resolve()
  #segment: { channel: ByteChannel; done: Promise<void> } | undefined
  #failure: { error: unknown } | undefined
  #count = 0
  #size = 0

  constructor(session: BackupSession, upload: IndexUpload, options: ArchiveUploaderOptions) {
    this.#session = session
    this.#upload = upload
    this.#opts = options
  }

  /** Bytes in the index so far (complete chunks). */
  get size(): number {
    return this.#size
  }

  #add(end: number, digest: Uint8Array): void {
    this.#view.setUint32(0, end >>> 0, true)
    this.#view.setUint32(4, Math.floor(end / 2 ** 32), true)
    this.#entry.set(digest, 8)
    this.#csum.update(this.#entry)
    this.#queue.push({ digest, start: this.#size })
    this.#size = end
    this.#count++
  }

  #markReady(key: string): void {
    this.#ready.add(key)
    this.#flushAppends()
  }

  #flushAppends(): void {
    let n = 0
    while (n < this.#queue.length && this.#ready.has(hex((this.#queue[n] as { digest: Uint8Array }).digest)))
      n++
    if (n === 0) return
    const batch = this.#queue.splice(0, n)
    this.#appendChain = this.#appendChain.then(() =>
      this.#failure
        ? undefined
        : this.#upload.append(
            batch.map((e) => e.digest),
            batch.map((e) => e.start),
          ),
    )
    this.#appendChain.catch((err: unknown) => {
      this.#failure ??= { error: err }
    })
  }

  #startSegment(): { channel: ByteChannel; done: Promise<void> } {
    const channel = new ByteChannel(8 << 20)
    const base = this.#size
    const { known, onUpload } = this.#opts
    const encoder = this.#opts.encoder
    const done = storeDynamic(channel, {
      encoder,
      // Chunks being encoded or stored at once: one per encode worker plus two (the one being
      // cut and hashed, the one being written), which bounds memory to a few maximum-size chunks.
      maxInFlight: this.#opts.maxInFlight ?? (encoder instanceof EncodePool ? encoder.size : 1) + 2,
      ...(this.#opts.avgSize === undefined ? {} : { avgSize: this.#opts.avgSize }),
      ...(this.#opts.crypt ? { crypt: this.#opts.crypt } : {}),
      collectEntries: false,
      index: {
        add: (end, digest) => {
          this.#sizes.set(hex(digest), base + end - this.#size)
          this.#add(base + end, digest)
          this.#flushAppends()
        },
      },
      sink: {
        has: async (digest) => {
          const key = hex(digest)
          if (this.#ready.has(key)) return true
          if (known.has(key) || (await this.#session.hasChunk?.(digest))) {
            this.#markReady(key)
            return true
          }
          return false
        },
        insert: async (digest, blob) => {
          const key = hex(digest)
          await this.#upload.uploadChunk(digest, this.#sizes.get(key) ?? 0, blob)
          this.#sizes.delete(key)
          onUpload?.(blob.length)
          this.#markReady(key)
          return true
        },
      },
    }).then(
      () => undefined,
      (err: unknown) => {
        this.#failure ??= { error: err }
        channel.fail(err)
        throw err
      },
    )
    done.catch(() => {})
    return { channel, done }
  }

  /** Feeds archive bytes (the caller must not modify them afterwards). */
  async write(bytes: Uint8Array): Promise<void> {
    if (this.#failure) throw this.#failure.error
    if (bytes.length === 0) return
    this.#segment ??= this.#startSegment()
    await this.#segment.channel.push(bytes)
  }

  async #endSegment(): Promise<void> {
    const seg = this.#segment
    if (!seg) return
    this.#segment = undefined
    seg.channel.close()
    await seg.done
  }

  /**
   * Ends the current chunk at the current position and appends known chunks (digest and size)
   * without reading their data.
   */
  async inject(chunks: readonly { readonly digest: Uint8Array; readonly size: number }[]): Promise<void> {
    await this.#endSegment()
    for (const c of chunks) {
      const key = hex(c.digest)
      this.#ready.add(key)
      this.#add(this.#size + c.size, c.digest)
    }
    this.#flushAppends()
  }

  /** Completes the stream and closes the index. */
  async finish(): Promise<ArchiveUploadResult> {
    await this.#endSegment()
    this.#flushAppends()
    await this.#appendChain
    if (this.#failure) throw this.#failure.error
    if (this.#queue.length > 0) throw new Error('chunks left that were never stored')
    const csum = new Uint8Array(this.#csum.digest())
    await this.#upload.close({ chunkCount: this.#count, size: this.#size, csum })
    return { size: this.#size, chunkCount: this.#count, csum }
  }

  /** Stops the pipeline after a failure elsewhere. */
  async abort(error: unknown): Promise<void> {
    const seg = this.#segment
    this.#segment = undefined
    if (seg) {
      seg.channel.fail(error)
      seg.channel.close()
      await seg.done.catch(() => {})
    }
    await this.#appendChain.catch(() => {})
  }
}
