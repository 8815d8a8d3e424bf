import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CryptConfig, DynamicIndex, DynamicIndexWriter, encodeBlob, sha256, toHex } from '@pxar/datastore'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DecodePool, PooledIndexReadAt } from '../src/index.ts'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pxar-pooled-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Pseudo-random bytes (xorshift). */
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/**
 * Splits `data` into chunks of the given sizes, writes each as a chunk file (compressed or not,
 * encrypted with `key`), and returns the index and where each chunk lives.
 */
async function store(
  data: Uint8Array,
  sizes: number[],
  options: { compress: boolean; key?: CryptConfig },
): Promise<{ index: DynamicIndex; paths: Map<string, string> }> {
  const w = new DynamicIndexWriter()
  const paths = new Map<string, string>()
  let pos = 0
  for (const size of sizes) {
    const chunk = data.subarray(pos, pos + size)
    pos += size
    const digest = options.key ? options.key.computeDigest(chunk) : sha256(chunk)
    const path = join(dir, `${toHex(digest)}-${options.compress}-${options.key ? 'k' : 'p'}`)
    await writeFile(
      path,
      encodeBlob(chunk, { compress: options.compress, ...(options.key ? { crypt: options.key } : {}) }),
    )
    paths.set(toHex(digest), path)
    w.add(pos, digest)
  }
  return { index: DynamicIndex.parse(w.finish().bytes), paths }
}

describe('PooledIndexReadAt (decoding in worker threads)', () => {
  it('reads plain, compressed and encrypted chunks, sequentially and at random', async () => {
    const data = bytes(700_000, 7)
    // large and tiny chunks (tiny ones come back from a shared buffer pool in the worker)
    data.fill(0x41, 300_000, 400_000)
    const sizes = [250_000, 100, 3, 49_897, 100_000, 300_000]
    const key = new CryptConfig(new Uint8Array(32).fill(3))
    for (const options of [{ compress: false }, { compress: true }, { compress: true, key }]) {
      const { index, paths } = await store(data, sizes, options)
      const pool = new DecodePool({ workers: 2, ...(options.key ? { key: options.key.encKey } : {}) })
      try {
        const r = new PooledIndexReadAt(index, {
          pool,
          locate: (d) => ({ path: paths.get(toHex(d))! }),
          readAhead: 2,
          cacheChunks: 3,
        })
        expect(r.size).toBe(data.length)
        const out = new Uint8Array(data.length)
        for (let pos = 0; pos < data.length; pos += 65536) {
          const n = await r.read(out.subarray(pos, Math.min(data.length, pos + 65536)), pos)
          expect(n).toBe(Math.min(65536, data.length - pos))
        }
        expect(out).toEqual(data)
        for (const [pos, len] of [
          [249_990, 30],
          [250_099, 5],
          [699_990, 100],
          [12, 600_000],
        ] as const) {
          const buf = new Uint8Array(len)
          const n = await r.read(buf, pos)
          expect(n).toBe(Math.min(len, data.length - pos))
          expect(buf.subarray(0, n)).toEqual(data.subarray(pos, pos + n))
        }
        // the chunks also arrive as bytes (a remote chunk source) instead of files
        const remote = new PooledIndexReadAt(index, {
          pool,
          locate: async (d) => ({ blob: await readFile(paths.get(toHex(d))!) }),
        })
        const buf = new Uint8Array(1000)
        expect(await remote.read(buf, 249_500)).toBe(1000)
        expect(buf).toEqual(data.subarray(249_500, 250_500))
      } finally {
        await pool.close()
      }
    }
  })

  it('concurrent random and sequential reads stay correct while evicted buffers are recycled', async () => {
    const sizes = Array.from({ length: 40 }, (_, i) => 70_000 + ((i * 7919) % 50_000))
    const total = sizes.reduce((a, b) => a + b, 0)
    const data = bytes(total, 11)
    const { index, paths } = await store(data, sizes, { compress: false })
    const pool = new DecodePool({ workers: 2 })
    try {
      const r = new PooledIndexReadAt(index, {
        pool,
        locate: (d) => ({ path: paths.get(toHex(d))! }),
        cacheChunks: 3,
        readAhead: 1,
      })
      let x = 12345
      const rnd = (n: number): number => {
        x = (x * 1103515245 + 12345) % 2147483648
        return x % n
      }
      for (let round = 0; round < 30; round++) {
        const jobs = Array.from({ length: 8 }, (_, k) => {
          const pos = k % 2 === 0 ? rnd(total) : ((round * 8 + k) * 65_536) % total
          const len = 1 + rnd(200_000)
          return (async () => {
            const buf = new Uint8Array(len)
            const n = await r.read(buf, pos)
            expect(n).toBe(Math.min(len, total - pos))
            expect(toHex(buf.subarray(0, n))).toBe(toHex(data.subarray(pos, pos + n)))
          })()
        })
        await Promise.all(jobs)
        // let the deferred recycling run between rounds
        await new Promise((resolve) => setImmediate(resolve))
      }
    } finally {
      await pool.close()
    }
  })

  it('rejects damaged, missing and undecryptable chunks with typed errors, then recovers', async () => {
    const data = bytes(20_000, 9)
    const { index, paths } = await store(data, [10_000, 10_000], { compress: false })
    const pool = new DecodePool({ workers: 1 })
    try {
      const [first, second] = [...paths.values()]
      const good = await readFile(first!)
      const bad = new Uint8Array(good)
      bad[bad.length - 1]! ^= 1
      await writeFile(first!, bad)
      const r = new PooledIndexReadAt(index, { pool, locate: (d) => ({ path: paths.get(toHex(d))! }) })
      const buf = new Uint8Array(100)
      await expect(r.read(buf, 0)).rejects.toMatchObject({ code: 'ERR_CHUNK_DIGEST' })
      // a failure is not cached: the repaired chunk reads
      await writeFile(first!, good)
      expect(await r.read(buf, 0)).toBe(100)
      expect(buf).toEqual(data.subarray(0, 100))
      await rm(second!)
      await expect(r.read(buf, 15_000)).rejects.toMatchObject({ code: 'ERR_CHUNK_MISSING' })
      // an encrypted chunk with the wrong key
      const key = new CryptConfig(new Uint8Array(32).fill(1))
      const enc = await store(data, [20_000], { compress: true, key })
      const wrong = new DecodePool({ workers: 1, key: new Uint8Array(32).fill(2) })
      try {
        const e = new PooledIndexReadAt(enc.index, {
          pool: wrong,
          locate: (d) => ({ path: enc.paths.get(toHex(d))! }),
        })
        await expect(e.read(buf, 0)).rejects.toMatchObject({
          code: expect.stringMatching(/^ERR_(BLOB_DECRYPT|CHUNK_DIGEST)$/),
        })
        const none = new PooledIndexReadAt(enc.index, {
          pool,
          locate: (d) => ({ path: enc.paths.get(toHex(d))! }),
        })
        await expect(none.read(buf, 0)).rejects.toMatchObject({ code: 'ERR_BLOB_NO_KEY' })
      } finally {
        await wrong.close()
      }
    } finally {
      await pool.close()
    }
    await expect(pool.decode({ path: '/nonexistent', digest: new Uint8Array(32) })).rejects.toThrow(/closed/)
    expect(() => new DecodePool({ workers: 0 })).toThrow(RangeError)
  })
})
