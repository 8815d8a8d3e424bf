import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  compareU64,
  encodeUtf8,
  i64FromValue,
  i64Value,
  normalizeU64Value,
  u64FromBigInt,
  u64FromValue,
  u64ToBigInt,
  u64ToSafeNumber,
  u64Value,
} from '../src/index.ts'

describe('u64 helpers', () => {
  it('u64 value round-trips canonically', () => {
    fc.assert(
      fc.property(fc.bigInt(0n, 2n ** 64n - 1n), (x) => {
        const { lo, hi } = u64FromBigInt(x)
        expect(u64ToBigInt(lo, hi)).toBe(x)
        const v = u64Value(lo, hi)
        expect(BigInt(v)).toBe(x)
        expect(typeof v).toBe(x <= BigInt(Number.MAX_SAFE_INTEGER) ? 'number' : 'bigint')
        expect(u64FromValue(v)).toEqual({ lo, hi })
      }),
    )
  })
  it('i64 value round-trips canonically', () => {
    fc.assert(
      fc.property(fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n), (x) => {
        const { lo, hi } = i64FromValue(x)
        const v = i64Value(lo, hi)
        expect(BigInt(v)).toBe(x)
        expect(v).toBe(normalizeU64Value(x))
        expect(i64FromValue(v)).toEqual({ lo, hi })
      }),
    )
  })
  it('checks ranges', () => {
    expect(u64ToSafeNumber(0, 0x200000)).toBeUndefined()
    expect(u64ToSafeNumber(5, 0x1fffff)).toBe(0x1fffff * 2 ** 32 + 5)
    expect(() => u64FromValue(-1)).toThrow(RangeError)
    expect(() => u64FromValue(1.5)).toThrow(RangeError)
    expect(() => u64FromValue(2n ** 64n)).toThrow(RangeError)
    expect(() => i64FromValue(2n ** 63n)).toThrow(RangeError)
    expect(compareU64(1, 0, 0, 1)).toBe(-1)
    expect(compareU64(0xffffffff, 0, 1, 0)).toBe(1)
    expect(compareU64(3, 3, 3, 3)).toBe(0)
  })
  it('encodeUtf8 matches TextEncoder', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(encodeUtf8(s)).toEqual(new TextEncoder().encode(s))
      }),
    )
    expect(encodeUtf8('\ud800x')).toEqual(new TextEncoder().encode('\ud800x'))
  })
})
