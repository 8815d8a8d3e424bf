/**
 * Worker thread entry of the blob encoder pool: receives `{ id, data }`, replies
 * `{ id, blob }` (buffer transferred) or `{ id, error }`. Options come in `workerData`.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { encodeBlob } from '../blob.ts'
import { CryptConfig } from '../crypt-config.ts'
import { initZstd } from '../zstd.ts'
import type { EncodeJob, EncodeReply, EncodeWorkerData } from './encode-pool.ts'

const options = workerData as EncodeWorkerData
const port = parentPort
if (!port) throw new Error('encode worker must run in a worker thread')

// Native zstd backends load synchronously, the wasm fallback needs this await; messages posted
// meanwhile stay queued until the listener below is attached.
await initZstd(options.zstdBackend)
const crypt = options.key ? new CryptConfig(options.key) : undefined

port.on('message', (job: EncodeJob) => {
  let reply: EncodeReply
  let transfer: ArrayBuffer[] = []
  try {
    const blob = encodeBlob(
      job.data,
      crypt ? { compress: options.compress, crypt } : { compress: options.compress },
    )
    reply = { id: job.id, blob }
    if (blob.byteOffset === 0 && blob.byteLength === blob.buffer.byteLength) transfer = [blob.buffer]
  } catch (err) {
    const e = err as { message?: unknown; code?: unknown; name?: unknown }
    reply = {
      id: job.id,
      error: {
        message: String(e?.message ?? err),
        name: typeof e?.name === 'string' ? e.name : 'Error',
        ...(typeof e?.code === 'string' ? { code: e.code } : {}),
      },
    }
  }
  port.postMessage(reply, transfer)
})
