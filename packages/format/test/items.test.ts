import { describe, expect, it } from 'vitest'
import {
  filenameError,
  parseXattr,
  readAclDefault,
  readDevice,
  readHardlinkOffset,
  readPayloadRef,
  writeU64Value,
} from '../src/index.ts'

const enc = (s: string) => new TextEncoder().encode(s)

describe('items', () => {
  it('validates file names like pxar', () => {
    expect(filenameError(enc(''))).toBe('illegal path found (empty)')
    expect(filenameError(enc('a/b'))).toMatch(/slashes/)
    expect(filenameError(enc('.'))).toBe("illegal path found: '.'")
    expect(filenameError(enc('..'))).toBe("illegal path found: '..'")
    expect(filenameError(new Uint8Array(4097).fill(0x61))).toBe('filename too long (> 4096)')
    expect(filenameError(new Uint8Array(4096).fill(0x61))).toBeUndefined()
    expect(filenameError(new Uint8Array([0xff, 1, 0x2e]))).toBeUndefined()
    expect(filenameError(enc('...'))).toBeUndefined()
  })

  it('splits xattrs at the first NUL', () => {
    const x = parseXattr(new Uint8Array([0x61, 0, 1, 0, 2]))
    expect(x.name).toEqual(new Uint8Array([0x61]))
    expect(x.value).toEqual(new Uint8Array([1, 0, 2]))
    expect(() => parseXattr(new Uint8Array([0x61]), 7)).toThrow(expect.objectContaining({ offset: 7 }))
  })

  it('reads fixed items with u64 values', () => {
    const b = new Uint8Array(32)
    const v = new DataView(b.buffer)
    writeU64Value(v, 0, 2n ** 64n - 1n)
    writeU64Value(v, 8, 259)
    expect(readDevice(v, 0)).toEqual({ major: 2n ** 64n - 1n, minor: 259 })
    writeU64Value(v, 16, 5)
    writeU64Value(v, 24, 0)
    expect(readAclDefault(v, 0)).toEqual({
      userObjPermissions: 2n ** 64n - 1n,
      groupObjPermissions: 259,
      otherPermissions: 5,
      maskPermissions: 0,
    })
    expect(readPayloadRef(v, 8)).toEqual({ offset: 259, size: 5 })
    expect(() => readPayloadRef(v, 0, 99)).toThrow(
      expect.objectContaining({ code: 'ERR_PXAR_INVALID_DATA', offset: 99 }),
    )
    expect(readHardlinkOffset(v, 16)).toBe(5)
  })
})
