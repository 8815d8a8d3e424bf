/**
 * DataBlob encoding off the main thread: a small pool of worker threads running `encodeBlob`
 * (zstd level 1, optional AES-256-GCM), plus an inline encoder with the same interface.
 */
import { availableParallelism } from 'node:os'
import type { Worker } from 'node:worker_threads'
import { PxarError, type PxarErrorCode } from '@pxar/format'
import { encodeBlob } from '../blob.ts'
import type { CryptConfig } from '../crypt-config.ts'
import type { ZstdBackendName } from '../zstd.ts'
import { startSiblingWorker } from './sibling-worker.ts'
import type { BlobEncoder } from './types.ts'

/** Options of {@link createBlobEncoder}. */
export interface BlobEncoderOptions {
  /** zstd-compress chunks (kept only when smaller, like PBS). Default true. */
  readonly compress?: boolean
  /** Encrypt chunks with this key. */
  readonly crypt?: CryptConfig | undefined
  /**
   * Worker threads; 0 encodes on the calling thread. Default: CPUs − 1, at least 1, at most 8
   * (the main thread is busy chunking and hashing, the workers compress).
   */
  readonly workers?: number
  /** zstd backend the workers load (default: the first available, see `initZstd`). */
  readonly zstdBackend?: ZstdBackendName
}

/** @internal Message to a worker. */
export interface EncodeJob {
  readonly id: number
  readonly data: Uint8Array<ArrayBuffer>
}

/** @internal Reply of a worker. */
export type EncodeReply =
  | { readonly id: number; readonly blob: Uint8Array<ArrayBuffer> }
  | { readonly id: number; readonly error: { message: string; name: string; code?: string } }

/** @internal `workerData` of the encode workers. */
export interface EncodeWorkerData {
  readonly compress: boolean
  readonly key?: Uint8Array
  readonly zstdBackend?: ZstdBackendName
}

/**
 * Default number of encode workers for this machine: one less than the CPUs, since the calling
 * thread chunks and hashes (at least 1, at most 8). On two cores a second worker gained nothing
 * and cost some 40 MiB of peak RSS.
 */
export function defaultEncodeWorkers(): number {
  return Math.max(1, Math.min(8, availableParallelism() - 1))
}

/**
 * Encodes on the calling thread (no workers). Useful for tiny inputs and single-core machines.
 *
 * @example
 * ```ts
 * const enc = createInlineEncoder({ compress: true })
 * const blob = await enc.encode(chunk)
 * ```
 */
export function createInlineEncoder(options: Omit<BlobEncoderOptions, 'workers'> = {}): BlobEncoder {
  const compress = options.compress ?? true
  const crypt = options.crypt
  return {
    async encode(data) {
      return encodeBlob(data, crypt ? { compress, crypt } : { compress })
    },
    async close() {},
  }
}

interface Pending {
  readonly resolve: (blob: Uint8Array<ArrayBuffer>) => void
  readonly reject: (err: unknown) => void
  readonly slot: WorkerSlot
}

interface WorkerSlot {
  readonly worker: Worker
  busy: number
  dead: boolean
}

function workerError(reply: { message: string; name: string; code?: string }): Error {
  if (reply.code?.startsWith('ERR_')) return new PxarError(reply.code as PxarErrorCode, reply.message)
  if (reply.name === 'RangeError') return new RangeError(reply.message)
  if (reply.name === 'TypeError') return new TypeError(reply.message)
  return new Error(reply.message)
}

/**
 * Starts the encode worker. From compiled output the worker is the sibling `encode-worker.js`;
 * when running from TypeScript sources (tests, `tsx`), the `.ts` worker is loaded through tsx's
 * loader API, which must then be installed.
 */
function spawnWorker(data: EncodeWorkerData): Worker {
  return startSiblingWorker(import.meta.url, 'encode-worker', data)
}

/**
 * A pool of worker threads encoding DataBlobs. Jobs go to the least busy worker; each call
 * resolves with its own blob, so results keep their association regardless of completion order.
 * Chunk buffers are transferred (not copied) when the chunk owns its whole `ArrayBuffer`.
 *
 * @example
 * ```ts
 * const pool = new EncodePool({ compress: true, workers: 2 })
 * try {
 *   const blob = await pool.encode(chunk)
 * } finally {
 *   await pool.close()
 * }
 * ```
 */
export class EncodePool implements BlobEncoder {
  readonly #slots: WorkerSlot[] = []
  readonly #pending = new Map<number, Pending>()
  readonly #count: number
  readonly #data: EncodeWorkerData
  #nextId = 0
  #closed = false

  /**
   * Workers start on demand: the first job starts one, and another starts only when every
   * running worker is busy (so short runs that encode little do not pay for idle threads).
   *
   * @throws RangeError for a worker count below 1 or above 64.
   */
  constructor(options: BlobEncoderOptions = {}) {
    const count = options.workers ?? defaultEncodeWorkers()
    if (!Number.isInteger(count) || count < 1 || count > 64) {
      throw new RangeError(`encode worker count must be in 1..64, got ${count}`)
    }
    this.#count = count
    this.#data = {
      compress: options.compress ?? true,
      ...(options.crypt ? { key: options.crypt.encKey } : {}),
      ...(options.zstdBackend ? { zstdBackend: options.zstdBackend } : {}),
    }
  }

  #spawn(): WorkerSlot {
    const slot: WorkerSlot = { worker: spawnWorker(this.#data), busy: 0, dead: false }
    slot.worker.on('message', (reply: EncodeReply) => this.#onReply(reply))
    slot.worker.on('error', (err) => this.#onDeath(slot, err))
    slot.worker.on('exit', (code) => {
      if (!this.#closed) this.#onDeath(slot, new Error(`encode worker exited with code ${code}`))
    })
    // Idle workers must not keep the process alive; busy ones are awaited by their callers.
    slot.worker.unref()
    this.#slots.push(slot)
    return slot
  }

  /** Number of worker threads at most (they start on demand). */
  get size(): number {
    return this.#count
  }

  /** Number of worker threads started so far. */
  get started(): number {
    return this.#slots.length
  }

  encode(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
    if (this.#closed) return Promise.reject(new Error('encode pool is closed'))
    let slot: WorkerSlot | undefined
    for (const s of this.#slots) if (!s.dead && (!slot || s.busy < slot.busy)) slot = s
    if ((!slot || slot.busy > 0) && this.#slots.length < this.#count) slot = this.#spawn()
    if (!slot) return Promise.reject(new Error('all encode workers have died'))
    const id = this.#nextId++
    const chosen = slot
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, slot: chosen })
      chosen.busy++
      if (chosen.busy === 1) chosen.worker.ref()
      // Structured cloning a view would copy its whole ArrayBuffer: copy just the view instead,
      // then transfer.
      const owned = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength
      const bytes = owned ? data : data.slice()
      const job: EncodeJob = { id, data: bytes }
      chosen.worker.postMessage(job, [bytes.buffer])
    })
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id)
      p.reject(new Error('encode pool closed'))
    }
    await Promise.all(this.#slots.map((s) => s.worker.terminate()))
  }

  #settle(id: number): Pending | undefined {
    const p = this.#pending.get(id)
    if (!p) return undefined
    this.#pending.delete(id)
    p.slot.busy--
    if (p.slot.busy === 0) p.slot.worker.unref()
    return p
  }

  #onReply(reply: EncodeReply): void {
    const p = this.#settle(reply.id)
    if (!p) return
    if ('blob' in reply) p.resolve(reply.blob)
    else p.reject(workerError(reply.error))
  }

  #onDeath(slot: WorkerSlot, err: unknown): void {
    if (slot.dead) return
    slot.dead = true
    for (const [id, p] of this.#pending) {
      if (p.slot !== slot) continue
      this.#settle(id)
      p.reject(err)
    }
  }
}

/**
 * Creates the encoder the pipeline uses by default: an {@link EncodePool} with `workers` threads,
 * or an inline encoder for `workers: 0`.
 *
 * @throws RangeError for an invalid worker count.
 */
export function createBlobEncoder(options: BlobEncoderOptions = {}): BlobEncoder {
  if (options.workers === 0) return createInlineEncoder(options)
  return new EncodePool(options)
}
