import { randomBytes } from 'node:crypto'
import { encodeBlob, sha256 } from '@pxar/datastore'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PbsBackupSession, PbsReader } from '../src/index.ts'
import { type Fixture, startFixture } from './helpers.ts'

let fx: Fixture
beforeAll(async () => {
  fx = await startFixture()
})
afterAll(async () => {
  await fx?.close()
})

/**
 * Node's HTTP/2 default session memory (10 MB) is far below what the PBS windows (32 MiB server,
 * 2 GiB client) let a peer send: several large chunk bodies in flight used to be answered with
 * NGHTTP2_ENHANCE_YOUR_CALM.
 */
describe('many large chunks in flight on one session', () => {
  it('16 concurrent 4 MiB uploads and downloads succeed', async () => {
    const chunks = Array.from({ length: 16 }, () => {
      const data = new Uint8Array(randomBytes(4 << 20))
      return { data, digest: sha256(data), blob: encodeBlob(data, { compress: false }) }
    })
    const dir = { ns: [] as string[], type: 'host' as const, id: 'memory', time: 100 }
    const s = await PbsBackupSession.start(fx.client(), 'store', dir)
    const idx = await s.createDynamicIndex('big.pxar.didx')
    await Promise.all(chunks.map((c) => idx.uploadChunk(c.digest, c.data.length, c.blob)))
    const offsets = chunks.map((_, i) => i * (4 << 20))
    await idx.append(
      chunks.map((c) => c.digest),
      offsets,
    )
    const ends = new Uint8Array(chunks.length * 40)
    const view = new DataView(ends.buffer)
    chunks.forEach((c, i) => {
      view.setBigUint64(i * 40, BigInt((i + 1) * (4 << 20)), true)
      ends.set(c.digest, i * 40 + 8)
    })
    const csum = sha256(ends)
    await idx.close({ chunkCount: chunks.length, size: chunks.length * (4 << 20), csum })
    const manifest = JSON.stringify({
      'backup-type': 'host',
      'backup-id': 'memory',
      'backup-time': 100,
      files: [
        {
          filename: 'big.pxar.didx',
          'crypt-mode': 'none',
          size: chunks.length * (4 << 20),
          csum: Buffer.from(csum).toString('hex'),
        },
      ],
      unprotected: {},
      signature: null,
    })
    await s.uploadBlob('index.json.blob', encodeBlob(new TextEncoder().encode(manifest), { compress: true }))
    await s.finish()

    const reader = await PbsReader.open(fx.client(), 'store', dir, { concurrency: 16 })
    await reader.openIndex('big.pxar.didx')
    const got = await Promise.all(chunks.map((c) => reader.readChunk(c.digest)))
    expect(got.map((b) => b.length)).toEqual(chunks.map((c) => c.blob.length))
    await reader.close()
  })
})
