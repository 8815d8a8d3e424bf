import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { readStat, readStatV1, STAT_SIZE, type Stat, writeStat } from '../src/index.ts'

describe('stat', () => {
  it('round-trips negative and huge times', () => {
    const b = new Uint8Array(STAT_SIZE)
    const v = new DataView(b.buffer)
    const cases: Stat[] = [
      { mode: 0o100644, flags: 0, uid: 1000, gid: 1000, mtime: { secs: -1, nanos: 500_000_000 } },
      {
        mode: 0o40755,
        flags: 2n ** 63n,
        uid: 0xffffffff,
        gid: 0,
        mtime: { secs: -(2n ** 63n), nanos: 0xffffffff },
      },
      { mode: 0o120777, flags: 1, uid: 0, gid: 0, mtime: { secs: 2n ** 62n, nanos: 999_999_999 } },
      { mode: 0o100644, flags: 0, uid: 0, gid: 0, mtime: { secs: Number.MIN_SAFE_INTEGER, nanos: 1 } },
    ]
    for (const s of cases) {
      writeStat(v, 0, s)
      expect(readStat(v, 0)).toEqual(s)
    }
    expect(v.getUint32(36, true)).toBe(0)
  })

  it('layout: secs -1 is all-ones i64', () => {
    const b = new Uint8Array(STAT_SIZE)
    writeStat(new DataView(b.buffer), 0, { mode: 0, flags: 0, uid: 0, gid: 0, mtime: { secs: -1, nanos: 5 } })
    expect([...b.subarray(24, 36)]).toEqual([255, 255, 255, 255, 255, 255, 255, 255, 5, 0, 0, 0])
  })

  it('property: any i64 secs round-trips', () => {
    const b = new Uint8Array(STAT_SIZE)
    const v = new DataView(b.buffer)
    fc.assert(
      fc.property(fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n), fc.nat(0xffffffff), (secs, nanos) => {
        writeStat(v, 0, { mode: 0o644, flags: 0, uid: 0, gid: 0, mtime: { secs, nanos } })
        const got = readStat(v, 0).mtime
        expect(BigInt(got.secs)).toBe(secs)
        expect(got.nanos).toBe(nanos)
      }),
    )
  })

  it('rejects out-of-range fields', () => {
    const v = new DataView(new ArrayBuffer(STAT_SIZE))
    expect(() =>
      writeStat(v, 0, { mode: 0, flags: -1, uid: 0, gid: 0, mtime: { secs: 0, nanos: 0 } }),
    ).toThrow(RangeError)
    expect(() =>
      writeStat(v, 0, { mode: 0, flags: 0, uid: 2 ** 32, gid: 0, mtime: { secs: 0, nanos: 0 } }),
    ).toThrow(RangeError)
  })

  it('decodes legacy ENTRY_V1 nanosecond mtimes', () => {
    const b = new Uint8Array(32)
    const v = new DataView(b.buffer)
    v.setUint32(0, 0o100644, true)
    v.setUint32(16, 5, true)
    v.setBigUint64(24, 1_700_000_000_123_456_789n, true)
    expect(readStatV1(v, 0)).toEqual({
      mode: 0o100644,
      flags: 0,
      uid: 5,
      gid: 0,
      mtime: { secs: 1_700_000_000, nanos: 123_456_789 },
    })
  })
})
