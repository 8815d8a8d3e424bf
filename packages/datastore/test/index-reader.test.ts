import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  type ChunkSource,
  CryptConfig,
  DynamicIndex,
  DynamicIndexWriter,
  encodeBlob,
  IndexReadAt,
} from '../src/index.ts'

function pseudoRandom(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

function build(data: Uint8Array, sizes: number[], crypt?: CryptConfig) {
  const blobs = new Map<string, Uint8Array>()
  const w = new DynamicIndexWriter()
  let pos = 0
  for (const size of sizes) {
    const chunk = data.subarray(pos, pos + size)
    pos += size
    const digest = crypt ? crypt.computeDigest(chunk) : createHash('sha256').update(chunk).digest()
    blobs.set(Buffer.from(digest).toString('hex'), encodeBlob(chunk, { compress: true, crypt }))
    w.addChunk(size, digest)
  }
  let fetches = 0
  const source: ChunkSource = {
    async read(digest) {
      fetches++
      const b = blobs.get(Buffer.from(digest).toString('hex'))
      if (!b) throw new Error('missing chunk')
      return b
    },
  }
  return { index: DynamicIndex.parse(w.finish().bytes), source, blobs, fetches: () => fetches }
}

describe('IndexReadAt', () => {
  const data = pseudoRandom(100_000, 7)
  const sizes = [10_000, 1, 39_999, 25_000, 25_000]

  it('reads any range, across chunk boundaries, like the concatenated stream', async () => {
    const { index, source } = build(data, sizes)
    const r = new IndexReadAt(index, source, { cacheChunks: 2 })
    expect(r.size).toBe(data.length)
    for (const [pos, len] of [
      [0, 10],
      [9_995, 10],
      [10_000, 1],
      [9_999, 40_002],
      [99_990, 100],
      [0, 100_000],
    ] as const) {
      const buf = new Uint8Array(len)
      const n = await r.read(buf, pos)
      expect(n).toBe(Math.min(len, data.length - pos))
      expect(buf.subarray(0, n)).toEqual(data.subarray(pos, pos + n))
    }
    expect(await r.read(new Uint8Array(8), 100_000)).toBe(0)
  })

  it('streams a sub-range and decrypts encrypted chunks', async () => {
    const crypt = new CryptConfig(pseudoRandom(32, 3))
    const { index, source } = build(data, sizes, crypt)
    const r = new IndexReadAt(index, source, { crypt })
    const parts: Uint8Array[] = []
    for await (const p of r.stream(5_000, 60_000)) parts.push(p)
    expect(Buffer.concat(parts)).toEqual(Buffer.from(data.subarray(5_000, 60_000)))
  })

  it('caches decoded chunks', async () => {
    const { index, source, fetches } = build(data, sizes)
    const r = new IndexReadAt(index, source, { cacheChunks: 8 })
    const buf = new Uint8Array(100)
    for (let i = 0; i < 10; i++) await r.read(buf, 50_000 + i * 100)
    expect(fetches()).toBe(1)
  })

  it('rejects a chunk whose content does not match its digest, and does not cache the failure', async () => {
    const { index, source, blobs } = build(data, sizes)
    const key = Buffer.from(index.digest(0)).toString('hex')
    const good = blobs.get(key)!
    blobs.set(key, encodeBlob(pseudoRandom(10_000, 99)))
    const r = new IndexReadAt(index, source)
    await expect(r.read(new Uint8Array(10), 0)).rejects.toMatchObject({ code: 'ERR_CHUNK_DIGEST' })
    blobs.set(key, good)
    expect(await r.read(new Uint8Array(10), 0)).toBe(10)
  })

  it('fails without a key on encrypted chunks', async () => {
    const crypt = new CryptConfig(pseudoRandom(32, 5))
    const { index, source } = build(data, sizes, crypt)
    const r = new IndexReadAt(index, source)
    await expect(r.read(new Uint8Array(10), 0)).rejects.toMatchObject({ code: 'ERR_BLOB_NO_KEY' })
  })
})
