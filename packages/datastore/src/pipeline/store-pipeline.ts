/**
 * The store pipeline: byte stream → chunker → digest → DataBlob encode (worker threads) → chunk
 * sink → index entries.
 *
 * The main thread chunks and hashes (the digest decides the index entry and deduplication);
 * encoding runs on worker threads, and at most `maxInFlight` chunks are being encoded or inserted
 * at any time, which bounds memory to about `maxInFlight × 2 × maxChunkSize`. Index entries are
 * produced in stream order as soon as a chunk is hashed; the function resolves only after every
 * referenced chunk has been inserted.
 */
import { createHash, webcrypto } from 'node:crypto'
import { type ChunkCutter, Chunker, cutChunks, FixedChunker } from '@pxar/chunker'
import type { CryptConfig } from '../crypt-config.ts'
import { toBytes, toHex } from '../digest.ts'
import {
  type BlobEncoderOptions,
  createBlobEncoder,
  defaultEncodeWorkers,
  EncodePool,
} from './encode-pool.ts'
import {
  type BlobEncoder,
  type ChunkSink,
  type DynamicIndexSink,
  emptyStats,
  type FixedIndexSink,
  type StoreStats,
} from './types.ts'

/** Options shared by {@link storeDynamic} and {@link storeFixed}. */
export interface StorePipelineOptions {
  /** Where encoded chunks go. */
  readonly sink: ChunkSink
  /** zstd-compress chunks (kept only when smaller). Default true. */
  readonly compress?: boolean
  /** Encrypt chunks; digests become keyed (`SHA-256(data || idKey)`). */
  readonly crypt?: CryptConfig | undefined
  /** Encode worker threads (0 = encode on this thread). Default: CPUs − 1, at least 1, at most 8. */
  readonly workers?: number
  /**
   * A caller-owned encoder (e.g. a long-lived {@link EncodePool}) instead of a pool per run;
   * `compress` and `workers` are then unused, while `crypt` still selects keyed digests, so the
   * encoder must use the same key. It is not closed by the pipeline.
   */
  readonly encoder?: BlobEncoder
  /** Chunks between cutting and the end of their insert. Default `2 × workers + 2`. */
  readonly maxInFlight?: number
  /** Keep the entry list in the result (default true; turn off for huge streams with an index sink). */
  readonly collectEntries?: boolean
  /** Abort: stops reading the source and rejects with the signal's reason. */
  readonly signal?: AbortSignal
}

/** Options of {@link storeDynamic}. */
export interface DynamicStoreOptions extends StorePipelineOptions {
  /** Average chunk size (power of two; default 4 MiB). */
  readonly avgSize?: number
  /** Also feed every entry to this index writer (e.g. a `DynamicIndexWriter`). */
  readonly index?: DynamicIndexSink
}

/** Options of {@link storeFixed}. */
export interface FixedStoreOptions extends StorePipelineOptions {
  /** Chunk size (default 4 MiB). */
  readonly chunkSize?: number
  /** Also feed every digest to this index writer (e.g. a `FixedIndexWriter`). */
  readonly index?: FixedIndexSink
}

/** One dynamic index entry. */
export interface StoredChunk {
  /** Exclusive end offset of the chunk in the stream. */
  readonly end: number
  /** Chunk digest (keyed when encrypting). */
  readonly digest: Uint8Array<ArrayBuffer>
}

/** Result of {@link storeDynamic}. */
export interface DynamicStoreResult {
  /** Entries in stream order (empty when `collectEntries` is false). */
  readonly entries: StoredChunk[]
  /** Index checksum as in the `.didx` header and the manifest: SHA-256 over `end (u64 LE) ‖ digest`. */
  readonly csum: Uint8Array<ArrayBuffer>
  /** Stream size (last end offset). */
  readonly size: number
  readonly stats: StoreStats
}

/** Result of {@link storeFixed}. */
export interface FixedStoreResult {
  /** Chunk digests in order (empty when `collectEntries` is false). */
  readonly digests: Uint8Array<ArrayBuffer>[]
  /** Index checksum as in the `.fidx` header and the manifest: SHA-256 over all digests. */
  readonly csum: Uint8Array<ArrayBuffer>
  /** Image size. */
  readonly size: number
  /** Chunk size used. */
  readonly chunkSize: number
  readonly stats: StoreStats
}

type Source = AsyncIterable<Uint8Array> | Iterable<Uint8Array>

/** Called once per chunk, in order, with its end offset and digest. */
type OnChunk = (index: number, end: number, digest: Uint8Array<ArrayBuffer>) => void

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('aborted')
}

/** Counts chunks between cutting and the end of their insert; the producer waits for a free slot. */
class Slots {
  readonly #max: number
  #used = 0
  #waiters: (() => void)[] = []
  constructor(max: number) {
    this.#max = max
  }
  async acquire(): Promise<void> {
    while (this.#used >= this.#max) await new Promise<void>((resolve) => this.#waiters.push(resolve))
    this.#used++
  }
  release(): void {
    this.#used--
    this.#waiters.shift()?.()
  }
  /** Wakes every waiter (after a failure, so the producer notices it). */
  wakeAll(): void {
    for (const w of this.#waiters.splice(0)) w()
  }
}

/**
 * SHA-256 off the main thread: WebCrypto digests run on the libuv thread pool, so hashing
 * overlaps with chunking (which keeps the main thread busy). Keyed digests hash `data ‖ idKey`.
 */
async function digestOffThread(
  data: Uint8Array<ArrayBuffer>,
  idKey: Uint8Array | undefined,
): Promise<Uint8Array<ArrayBuffer>> {
  let input: Uint8Array<ArrayBuffer> = data
  if (idKey) {
    input = new Uint8Array(data.length + idKey.length)
    input.set(data, 0)
    input.set(idKey, data.length)
  }
  return new Uint8Array(await webcrypto.subtle.digest('SHA-256', input))
}

async function runPipeline(
  source: Source,
  cutter: ChunkCutter,
  options: StorePipelineOptions,
  onChunk: OnChunk,
): Promise<StoreStats> {
  const { sink, crypt, signal } = options
  if (!sink || typeof sink.insert !== 'function')
    throw new TypeError('store pipeline needs a sink with insert()')
  const workers = options.encoder ? 0 : (options.workers ?? defaultEncodeWorkers())
  const parallel = options.encoder instanceof EncodePool ? options.encoder.size : workers
  const maxInFlight = options.maxInFlight ?? 2 * Math.max(parallel, 1) + 2
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
    throw new RangeError(`maxInFlight must be a positive integer, got ${maxInFlight}`)
  }
  signal?.throwIfAborted()
  const encoderOptions: BlobEncoderOptions = {
    compress: options.compress ?? true,
    crypt,
    workers,
  }
  const encoder = options.encoder ?? createBlobEncoder(encoderOptions)
  const ownsEncoder = options.encoder === undefined
  const idKey = crypt?.idKey
  const stats = emptyStats()
  const slots = new Slots(maxInFlight)
  /** Digests (hex) stored or being stored in this run. */
  const seen = new Set<string>()
  /** Encode+insert jobs not yet settled. */
  const inFlight = new Set<Promise<void>>()
  let failure: { error: unknown } | undefined
  const fail = (error: unknown): void => {
    failure ??= { error }
    slots.wakeAll()
  }
  const throwIfFailed = (): void => {
    if (failure) throw failure.error
  }

  const store = async (digest: Uint8Array<ArrayBuffer>, data: Uint8Array<ArrayBuffer>): Promise<void> => {
    const size = data.length
    const blob = await encoder.encode(data)
    stats.encodedInputBytes += size
    stats.encodedBytes += blob.length
    if (await sink.insert(digest, blob)) {
      stats.newChunks++
      stats.writtenBytes += blob.length
    } else {
      stats.knownChunks++
    }
  }

  let end = 0
  /** In-order handling of one hashed chunk: index entry, dedup, existence check, dispatch. */
  const handle = async (
    data: Uint8Array<ArrayBuffer>,
    digestPromise: Promise<Uint8Array<ArrayBuffer>>,
  ): Promise<void> => {
    let dispatched = false
    try {
      const digest = await digestPromise
      if (failure) return
      end += data.length
      onChunk(stats.chunks, end, digest)
      stats.chunks++
      stats.bytes += data.length
      const key = toHex(digest)
      if (seen.has(key)) {
        stats.duplicateChunks++
        return
      }
      seen.add(key)
      if (sink.has && (await sink.has(digest))) {
        stats.knownChunks++
        return
      }
      dispatched = true
      const job: Promise<void> = store(digest, data).then(
        () => {
          inFlight.delete(job)
          slots.release()
        },
        (error: unknown) => {
          inFlight.delete(job)
          slots.release()
          fail(error)
        },
      )
      inFlight.add(job)
    } finally {
      if (!dispatched) slots.release()
    }
  }

  /** Tail of the in-order handling chain. */
  let chain: Promise<void> = Promise.resolve()
  try {
    try {
      for await (const chunk of cutChunks(source, cutter)) {
        throwIfFailed()
        if (signal?.aborted) throw abortReason(signal)
        await slots.acquire()
        throwIfFailed()
        const digest = digestOffThread(chunk, idKey)
        // Keep rejections from being reported as unhandled before the chain reaches them.
        digest.catch(() => {})
        chain = chain.then(() => handle(chunk, digest)).catch(fail)
      }
    } finally {
      await chain
    }
    await Promise.all(inFlight)
    throwIfFailed()
    if (signal?.aborted) throw abortReason(signal)
    return stats
  } finally {
    // On failure, let outstanding inserts settle before tearing the encoder down.
    if (inFlight.size > 0) await Promise.allSettled(inFlight)
    if (ownsEncoder) await encoder.close()
  }
}

/**
 * Stores a byte stream as content-defined chunks (the data of a `.didx` dynamic index): chunk with
 * the PBS buzhash chunker, hash, encode on worker threads, insert new chunks into `sink`.
 *
 * @throws RangeError for invalid `avgSize`, `workers` or `maxInFlight`.
 * @throws whatever the source, the encoder (`ERR_BLOB_*`) or the sink throws; the first error
 *   stops the pipeline after in-flight work settles.
 * @example
 * ```ts
 * const { entries, csum, size, stats } = await storeDynamic(createReadStream('root.pxar'), {
 *   sink: chunkStoreSink,
 *   index: new DynamicIndexWriter(),
 * })
 * ```
 */
export async function storeDynamic(
  source: Source,
  options: DynamicStoreOptions,
): Promise<DynamicStoreResult> {
  const chunker = new Chunker(options.avgSize === undefined ? {} : { avgSize: options.avgSize })
  const collect = options.collectEntries ?? true
  const entries: StoredChunk[] = []
  const csum = createHash('sha256')
  const entry = new Uint8Array(40)
  const view = new DataView(entry.buffer)
  let size = 0
  const stats = await runPipeline(source, chunker, options, (_i, end, digest) => {
    view.setUint32(0, end >>> 0, true)
    view.setUint32(4, Math.floor(end / 2 ** 32), true)
    entry.set(digest, 8)
    csum.update(entry)
    options.index?.add(end, digest)
    if (collect) entries.push({ end, digest })
    size = end
  })
  return { entries, csum: toBytes(csum.digest()), size, stats }
}

/**
 * Stores a byte stream (a disk image) as fixed-size chunks (the data of a `.fidx` fixed index).
 *
 * @throws RangeError for invalid `chunkSize`, `workers` or `maxInFlight`.
 * @throws whatever the source, the encoder or the sink throws.
 * @example
 * ```ts
 * const { digests, csum, size } = await storeFixed(imageStream, { sink, chunkSize: 4 << 20 })
 * ```
 */
export async function storeFixed(source: Source, options: FixedStoreOptions): Promise<FixedStoreResult> {
  const chunker = new FixedChunker(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize })
  const collect = options.collectEntries ?? true
  const digests: Uint8Array<ArrayBuffer>[] = []
  const csum = createHash('sha256')
  let size = 0
  const stats = await runPipeline(source, chunker, options, (index, end, digest) => {
    csum.update(digest)
    options.index?.setDigest(index, digest)
    if (collect) digests.push(digest)
    size = end
  })
  return { digests, csum: toBytes(csum.digest()), size, chunkSize: chunker.chunkSize, stats }
}
