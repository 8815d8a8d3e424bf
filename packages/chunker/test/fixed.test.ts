import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DEFAULT_FIXED_CHUNK_SIZE, FixedChunker } from '../src/index.ts'

describe('FixedChunker', () => {
  it('cuts every chunkSize bytes, last piece shorter', () => {
    const f = new FixedChunker({ chunkSize: 4096 })
    expect(f.push(new Uint8Array(10000))).toEqual([4096, 8192])
    expect(f.push(new Uint8Array(100))).toEqual([])
    expect(f.position).toBe(10100)
    expect(f.finish()).toBe(10100 - 8192)
    expect(f.finish()).toBe(0)
  })

  it('defaults to 4 MiB and validates its option', () => {
    expect(new FixedChunker().chunkSize).toBe(DEFAULT_FIXED_CHUNK_SIZE)
    expect(DEFAULT_FIXED_CHUNK_SIZE).toBe(4194304)
    expect(() => new FixedChunker({ chunkSize: 0 })).toThrow(RangeError)
    expect(() => new FixedChunker({ chunkSize: 1.5 })).toThrow(TypeError)
  })

  it('does not depend on how the input is fed (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 50000 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 10 }),
        (total, chunkSize, sizes) => {
          const f = new FixedChunker({ chunkSize })
          const ends: number[] = []
          let at = 0
          let k = 0
          while (at < total) {
            const n = Math.min(sizes[k++ % sizes.length]! || 1, total - at)
            for (const e of f.push(new Uint8Array(n))) ends.push(at + e)
            at += n
          }
          if (f.finish() > 0) ends.push(total)
          const expected: number[] = []
          for (let e = chunkSize; e < total; e += chunkSize) expected.push(e)
          if (total > 0) expected.push(total)
          expect(ends).toEqual(expected)
        },
      ),
    )
  })
})
