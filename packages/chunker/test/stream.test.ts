import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { chunkEnds, chunkFixed, chunkStream } from '../src/index.ts'

async function collect(gen: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const c of gen) out.push(c)
  return out
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

async function* pieces(data: Uint8Array, sizes: readonly number[]): AsyncGenerator<Uint8Array> {
  let at = 0
  let k = 0
  while (at < data.length) {
    const n = sizes[k++ % sizes.length]!
    yield data.subarray(at, at + n)
    at += n
  }
}

describe('chunkStream', () => {
  it('yields chunks that concatenate to the input with the sync cut points (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 40000 }),
        fc.array(fc.integer({ min: 0, max: 9000 }), { minLength: 1, maxLength: 8 }),
        async (data, sizes) => {
          const feed = sizes.map((s) => s || 1)
          const chunks = await collect(chunkStream(pieces(data, feed), { avgSize: 256 }))
          expect(concat(chunks)).toEqual(data)
          let end = 0
          expect(chunks.map((c) => (end += c.length))).toEqual(chunkEnds(data, { avgSize: 256 }))
        },
      ),
      { numRuns: 100 },
    )
  })

  it('yields fresh buffers and skips empty pieces', async () => {
    const data = new Uint8Array(5000).map((_, i) => (i * 7919) & 0xff)
    const src = [data.subarray(0, 10), new Uint8Array(0), data.subarray(10)]
    const chunks = await collect(chunkStream(src, { avgSize: 256 }))
    expect(concat(chunks)).toEqual(data)
    for (const c of chunks) expect(c.buffer).not.toBe(data.buffer)
  })

  it('rejects non-byte pieces', async () => {
    await expect(collect(chunkStream(['x' as unknown as Uint8Array]))).rejects.toThrow(TypeError)
  })
})

describe('chunkFixed', () => {
  it('cuts fixed pieces across source boundaries', async () => {
    const data = new Uint8Array(10000).map((_, i) => i & 0xff)
    const chunks = await collect(chunkFixed(pieces(data, [333, 4000]), { chunkSize: 4096 }))
    expect(chunks.map((c) => c.length)).toEqual([4096, 4096, 1808])
    expect(concat(chunks)).toEqual(data)
  })
})
