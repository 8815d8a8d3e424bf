/**
 * Chunk decoding off the main thread. A mount answers every FUSE request on the main thread, so
 * reading, CRC-checking, decrypting, decompressing and digest-verifying 4 MiB chunks there caps
 * sequential reads; worker threads do all of it and transfer the plaintext back.
 */
import { availableParallelism } from 'node:os'
import type { Worker } from 'node:worker_threads'
import { startSiblingWorker } from '@pxar/datastore'
import { PxarError, type PxarErrorCode } from '@pxar/format'

/** @internal `workerData` of the decode workers. */
export interface DecodeWorkerData {
  /** Raw encryption key (`CryptConfig.encKey`) of encrypted chunks. */
  readonly key?: Uint8Array | undefined
}

/** @internal A job: a chunk file to read, or an encoded blob, and the digest to verify. */
export interface DecodeJob {
  readonly id: number
  readonly path?: string
  readonly blob?: Uint8Array
  readonly digest: Uint8Array
  /** A recycled buffer to read the chunk file into (transferred). */
  readonly spare?: ArrayBuffer
}

/** @internal Reply of a worker. */
export type DecodeReply =
  | {
      readonly id: number
      readonly data: ArrayBuffer
      readonly offset: number
      readonly length: number
      /** The job's recycled buffer when the result is not in it. */
      readonly spare?: ArrayBuffer
    }
  | { readonly id: number; readonly error: { message: string; name: string; code?: string } }

/** Recycled buffers kept at most. */
const MAX_SPARE = 8

/** Options of {@link DecodePool}. */
export interface DecodePoolOptions {
  /** Raw encryption key for encrypted chunks. */
  readonly key?: Uint8Array | undefined
  /** Worker threads (default: the number of CPUs, at most 4). */
  readonly workers?: number
}

function workerError(e: { message: string; name: string; code?: string }): Error {
  if (e.code?.startsWith('ERR_')) return new PxarError(e.code as PxarErrorCode, e.message)
  return new Error(e.message)
}

/** Starts a worker: the compiled `decode-worker.js`, or the `.ts` source through tsx. */
function spawnWorker(data: DecodeWorkerData): Worker {
  return startSiblingWorker(import.meta.url, 'decode-worker', data)
}

interface Slot {
  readonly worker: Worker
  busy: number
  dead: boolean
}

interface Pending {
  readonly resolve: (data: Uint8Array<ArrayBuffer>) => void
  readonly reject: (err: unknown) => void
  readonly slot: Slot
}

/**
 * A pool of worker threads that decode and verify chunks. Workers start on demand and do not
 * keep the process alive when idle.
 *
 * @example
 * ```ts
 * const pool = new DecodePool()
 * const data = await pool.decode({ path: store.chunkPath(digest), digest })
 * await pool.close()
 * ```
 */
export class DecodePool {
  readonly #slots: Slot[] = []
  readonly #pending = new Map<number, Pending>()
  readonly #count: number
  readonly #data: DecodeWorkerData
  readonly #spare: ArrayBuffer[] = []
  #nextId = 0
  #closed = false

  /** @throws RangeError for a worker count outside 1..64. */
  constructor(options: DecodePoolOptions = {}) {
    const count = options.workers ?? Math.max(1, Math.min(4, availableParallelism()))
    if (!Number.isInteger(count) || count < 1 || count > 64) {
      throw new RangeError(`decode worker count must be in 1..64, got ${count}`)
    }
    this.#count = count
    this.#data = options.key ? { key: options.key } : {}
  }

  #spawn(): Slot {
    const slot: Slot = { worker: spawnWorker(this.#data), busy: 0, dead: false }
    slot.worker.on('message', (reply: DecodeReply) => this.#onReply(reply))
    slot.worker.on('error', (err) => this.#onDeath(slot, err))
    slot.worker.on('exit', (code) => {
      if (!this.#closed) this.#onDeath(slot, new Error(`decode worker exited with code ${code}`))
    })
    slot.worker.unref()
    this.#slots.push(slot)
    return slot
  }

  /**
   * Decodes one chunk: read from `path` (a chunk file) or given as `blob` (copied to the
   * worker), checked against `digest`.
   * @throws PxarError `ERR_CHUNK_MISSING`, `ERR_STORE_IO`, `ERR_BLOB_*`, `ERR_CHUNK_DIGEST`.
   */
  decode(job: {
    readonly path?: string
    readonly blob?: Uint8Array
    readonly digest: Uint8Array
  }): Promise<Uint8Array<ArrayBuffer>> {
    if (this.#closed) return Promise.reject(new Error('decode pool is closed'))
    let slot: Slot | undefined
    for (const s of this.#slots) if (!s.dead && (!slot || s.busy < slot.busy)) slot = s
    if ((!slot || slot.busy > 0) && this.#slots.length < this.#count) slot = this.#spawn()
    if (!slot) return Promise.reject(new Error('all decode workers have died'))
    const id = this.#nextId++
    const chosen = slot
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, slot: chosen })
      if (chosen.busy++ === 0) chosen.worker.ref()
      if (job.path !== undefined) {
        const spare = this.#spare.pop()
        const msg: DecodeJob = { id, digest: job.digest, path: job.path, ...(spare ? { spare } : {}) }
        chosen.worker.postMessage(msg, spare ? [spare] : [])
      } else {
        const msg: DecodeJob = {
          id,
          digest: job.digest,
          ...(job.blob !== undefined ? { blob: job.blob } : {}),
        }
        chosen.worker.postMessage(msg)
      }
    })
  }

  #settle(id: number): Pending | undefined {
    const p = this.#pending.get(id)
    if (!p) return undefined
    this.#pending.delete(id)
    if (--p.slot.busy === 0) p.slot.worker.unref()
    return p
  }

  #onReply(reply: DecodeReply): void {
    const p = this.#settle(reply.id)
    if (!p) return
    if ('error' in reply) p.reject(workerError(reply.error))
    else {
      if (reply.spare !== undefined) this.recycle(reply.spare)
      p.resolve(new Uint8Array(reply.data, reply.offset, reply.length))
    }
  }

  /**
   * Hands back the buffer of a decoded chunk that is no longer used anywhere: the next chunk
   * file is read into it (it is transferred to a worker, which detaches it here).
   */
  recycle(buffer: ArrayBuffer): void {
    if (this.#closed || buffer.byteLength < 65536 || this.#spare.length >= MAX_SPARE) return
    this.#spare.push(buffer)
  }

  #onDeath(slot: Slot, err: unknown): void {
    if (slot.dead) return
    slot.dead = true
    for (const [id, p] of this.#pending) {
      if (p.slot === slot) {
        this.#settle(id)
        p.reject(err)
      }
    }
  }

  /** Stops the workers; pending decodes fail. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#spare.length = 0
    for (const [id, p] of this.#pending) {
      this.#settle(id)
      p.reject(new Error('decode pool is closed'))
    }
    await Promise.all(this.#slots.map((s) => s.worker.terminate()))
  }
}
