/**
 * Worker thread of the {@link DecodePool}: reads a chunk file (or takes an encoded blob),
 * decrypts, decompresses and verifies the digest, and hands the plaintext back (transferred, not
 * copied). Replies `{ id, data, offset, length }` or `{ id, error }`.
 */
import { createHash } from 'node:crypto'
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'
import { CryptConfig, decodeBlob, initZstd, inspectBlob, toHex } from '@pxar/datastore'
import { PxarError } from '@pxar/format'
import type { DecodeJob, DecodeReply, DecodeWorkerData } from './decode-pool.ts'

const options = workerData as DecodeWorkerData
const port = parentPort
if (!port) throw new Error('decode worker must run in a worker thread')

await initZstd()
const crypt = options.key ? new CryptConfig(options.key) : undefined

/**
 * Reads a whole chunk file, into `spare` when it is large enough (a recycled buffer: no fresh
 * pages to fault in and zero).
 */
function readChunkFile(path: string, spare: ArrayBuffer | undefined): Uint8Array<ArrayBuffer> {
  const fd = openSync(path, 'r')
  try {
    const size = fstatSync(fd).size
    const buf =
      spare !== undefined && spare.byteLength >= size
        ? new Uint8Array(spare, 0, size)
        : new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, size)
    let done = 0
    while (done < size) {
      const n = readSync(fd, buf, done, size - done, done)
      if (n === 0) break
      done += n
    }
    return buf.subarray(0, done)
  } finally {
    closeSync(fd)
  }
}

port.on('message', (job: DecodeJob) => {
  let reply: DecodeReply
  const transfer: ArrayBuffer[] = []
  try {
    let bytes: Uint8Array
    if (job.path !== undefined) {
      try {
        bytes = readChunkFile(job.path, job.spare)
      } catch (err) {
        const code = (err as { code?: string }).code
        throw Object.assign(new Error(`${job.path}: ${(err as Error).message}`), {
          code: code === 'ENOENT' ? 'ERR_CHUNK_MISSING' : 'ERR_STORE_IO',
        })
      }
    } else bytes = job.blob!
    // The digest (SHA-256 of the plaintext, keyed for encrypted chunks) is always verified, so
    // the CRC over the encoded bytes would add nothing; a plain chunk is used in place.
    let data: Uint8Array<ArrayBuffer>
    const info = inspectBlob(bytes)
    if (!info.encrypted && !info.compressed) {
      data = bytes.subarray(info.headerSize) as Uint8Array<ArrayBuffer>
      const actual = createHash('sha256').update(data).digest()
      if (!actual.equals(job.digest)) {
        throw new PxarError(
          'ERR_CHUNK_DIGEST',
          `blob digest mismatch (expected ${toHex(job.digest)}, got ${toHex(actual)})`,
        )
      }
    } else data = decodeBlob(bytes, { crypt, digest: job.digest, verifyCrc: false })
    // a view into a small shared (pooled) buffer is copied; a chunk file's own buffer (header
    // before the data) is transferred as it is
    const whole = data.buffer.byteLength
    if (data.byteLength !== whole && whole <= 8192) data = new Uint8Array(data)
    reply = { id: job.id, data: data.buffer, offset: data.byteOffset, length: data.byteLength }
    transfer.push(data.buffer)
    // the recycled buffer goes back when the result is elsewhere
    if (job.spare !== undefined && job.spare !== data.buffer && job.spare.byteLength > 0) {
      reply = { ...reply, spare: job.spare }
      transfer.push(job.spare)
    }
  } catch (err) {
    const e = err as { message?: unknown; code?: unknown; name?: unknown }
    transfer.length = 0
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
