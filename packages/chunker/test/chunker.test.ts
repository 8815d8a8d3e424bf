import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type ChunkCutter,
  Chunker,
  chunkEnds,
  chunkSizeParams,
  DEFAULT_AVG_CHUNK_SIZE,
} from '../src/index.ts'
import { referenceEnds } from './reference.ts'

/** Absolute chunk ends when `data` is pushed in pieces of the given sizes (cycled). */
function endsWithFeed(cutter: ChunkCutter, data: Uint8Array, sizes: readonly number[]): number[] {
  const ends: number[] = []
  let at = 0
  let k = 0
  while (at < data.length) {
    const n = Math.min(sizes[k++ % sizes.length]!, data.length - at)
    for (const end of cutter.push(data.subarray(at, at + n))) ends.push(at + end)
    at += n
  }
  expect(cutter.position).toBe(data.length)
  const lastCut = ends.at(-1) ?? 0
  const tail = cutter.finish()
  expect(tail).toBe(data.length - lastCut)
  if (tail > 0) ends.push(data.length)
  return ends
}

/** `CTR(len)`: SHA-256(LE32(k)) for k = 0, 1, … concatenated and truncated. */
function ctr(len: number): Uint8Array {
  const out = new Uint8Array(Math.ceil(len / 32) * 32)
  const k32 = new Uint8Array(4)
  const view = new DataView(k32.buffer)
  for (let k = 0; k * 32 < len; k++) {
    view.setUint32(0, k, true)
    out.set(createHash('sha256').update(k32).digest(), k * 32)
  }
  return out.subarray(0, len)
}

/** Pseudo-random bytes with runs of repetition, so that both cut rules get exercised. */
const bytesArb = (maxLength: number): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    fc.uint8Array({ maxLength }),
    fc
      .tuple(fc.uint8Array({ minLength: 1, maxLength: 97 }), fc.integer({ min: 1, max: maxLength }))
      .map(([unit, len]) => Uint8Array.from({ length: len }, (_, i) => unit[i % unit.length]!)),
    fc.tuple(fc.integer(), fc.integer({ min: 0, max: maxLength })).map(([seed, len]) => {
      let s = seed | 0
      return Uint8Array.from({ length: len }, () => {
        s = (Math.imul(s, 1103515245) + 12345) | 0
        return (s >>> 16) & 0xff
      })
    }),
  )

describe('chunkSizeParams', () => {
  it('derives PBS limits', () => {
    expect(chunkSizeParams()).toEqual({ avgSize: DEFAULT_AVG_CHUNK_SIZE, minSize: 1 << 20, maxSize: 1 << 24 })
    expect(chunkSizeParams(65536)).toEqual({ avgSize: 65536, minSize: 16384, maxSize: 262144 })
  })

  it('rejects bad averages', () => {
    expect(() => chunkSizeParams(65535)).toThrow(RangeError)
    expect(() => chunkSizeParams(32)).toThrow(RangeError)
    expect(() => chunkSizeParams(2 ** 27)).toThrow(RangeError)
    expect(() => chunkSizeParams(1.5)).toThrow(TypeError)
    expect(() => new Chunker({ avgSize: 3000 })).toThrow(RangeError)
  })
})

describe('Chunker', () => {
  it('upstream test_chunker1: LE32 counter input, avg 64 KiB, byte-wise and whole feeds agree', () => {
    const data = new Uint8Array(1048576)
    const view = new DataView(data.buffer)
    for (let i = 0; i < 262144; i++) view.setUint32(i * 4, i, true)
    const whole = endsWithFeed(new Chunker({ avgSize: 65536 }), data, [data.length])
    expect(whole).toEqual([143377, 405521, 667665, 929809, 1048576])
    expect(endsWithFeed(new Chunker({ avgSize: 65536 }), data, [1])).toEqual(whole)
  })

  it('CTR(4 MiB) with avg 64 KiB and 512 KiB, CTR(64 MiB) with avg 4 MiB', () => {
    const small = ctr(4194304)
    expect(createHash('sha256').update(small).digest('hex')).toBe(
      '582160ff9d9d8a193186d521503c7c2773bcef85de4d701cd92aa5b892f61812',
    )
    const ends64k = chunkEnds(small, { avgSize: 65536 })
    expect(ends64k.length).toBe(68)
    expect(ends64k.slice(0, 5)).toEqual([22709, 58178, 217903, 239836, 265985])
    expect(ends64k.slice(-3)).toEqual([4153866, 4187764, 4194304])
    expect(chunkEnds(small, { avgSize: 524288 })).toEqual([
      265985, 424125, 922951, 1603659, 2529510, 3638267, 4194304,
    ])
    const big = ctr(67108864)
    expect(chunkEnds(big)).toEqual([
      3638267, 8303790, 14271379, 17713592, 23368198, 25405122, 26480011, 30800068, 34020136, 37855620,
      44922400, 46657061, 52607695, 54970969, 67108864,
    ])
  })

  it('cuts constant input only at the maximum', () => {
    expect(chunkEnds(new Uint8Array(41943040))).toEqual([16777216, 33554432, 41943040])
  })

  it('yields no chunk for an empty stream and one short chunk for tiny input', () => {
    const c = new Chunker()
    expect(c.push(new Uint8Array(0))).toEqual([])
    expect(c.finish()).toBe(0)
    expect(chunkEnds(new Uint8Array(3))).toEqual([3])
    expect(chunkEnds(new Uint8Array(0))).toEqual([])
  })

  it('is reusable after finish()', () => {
    const data = ctr(300000)
    const c = new Chunker({ avgSize: 4096 })
    const first = endsWithFeed(c, data, [777])
    expect(endsWithFeed(c, data, [4096, 1])).toEqual(first)
  })

  it('matches the byte-by-byte reference for any input and average (property)', () => {
    fc.assert(
      fc.property(bytesArb(20000), fc.constantFrom(64, 128, 256, 1024, 4096), (data, avg) => {
        expect(chunkEnds(data, { avgSize: avg })).toEqual(referenceEnds(data, avg))
      }),
      { numRuns: 300 },
    )
  })

  it('does not depend on the byte offset of the input buffer (word-read path)', () => {
    const data = ctr(200000)
    const whole = referenceEnds(data, 1024)
    for (let shift = 0; shift < 8; shift++) {
      const backing = new Uint8Array(data.length + 8)
      backing.set(data, shift)
      const view = backing.subarray(shift, shift + data.length)
      expect(chunkEnds(view, { avgSize: 1024 })).toEqual(whole)
      expect(endsWithFeed(new Chunker({ avgSize: 1024 }), view, [333, 4097, 65])).toEqual(whole)
    }
  })

  it('does not depend on how the input is fed (property)', () => {
    fc.assert(
      fc.property(
        bytesArb(30000),
        fc.constantFrom(64, 256, 1024),
        fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 20 }),
        (data, avg, sizes) => {
          const whole = chunkEnds(data, { avgSize: avg })
          expect(endsWithFeed(new Chunker({ avgSize: avg }), data, sizes)).toEqual(whole)
          expect(endsWithFeed(new Chunker({ avgSize: avg }), data, [1, 63, 64, 65])).toEqual(whole)
        },
      ),
      { numRuns: 200 },
    )
  })

  it('non-final chunks respect min and max; ends cover the input (property)', () => {
    fc.assert(
      fc.property(bytesArb(40000), fc.constantFrom(64, 256, 1024, 4096), (data, avg) => {
        const { minSize, maxSize } = chunkSizeParams(avg)
        const ends = chunkEnds(data, { avgSize: avg })
        let prev = 0
        ends.forEach((end, i) => {
          const size = end - prev
          expect(size).toBeGreaterThan(0)
          expect(size).toBeLessThanOrEqual(maxSize)
          if (i < ends.length - 1) expect(size).toBeGreaterThanOrEqual(Math.max(minSize, 65))
          prev = end
        })
        expect(prev).toBe(data.length)
      }),
      { numRuns: 200 },
    )
  })
})
