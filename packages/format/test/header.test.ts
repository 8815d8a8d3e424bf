import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import {
  checkContentSize,
  exactContentSize,
  HEADER_SIZE,
  htypeName,
  htypeOf,
  maxContentSize,
  PXAR_DEVICE,
  PXAR_ENTRY,
  PXAR_FILENAME,
  PXAR_GOODBYE,
  PXAR_HARDLINK,
  PXAR_SYMLINK,
  PXAR_XATTR,
  readHeader,
  u64ToHex,
  writeHeader,
} from '../src/index.ts'

describe('item header', () => {
  it('round-trips', () => {
    const b = new Uint8Array(20)
    const v = new DataView(b.buffer)
    writeHeader(v, 4, PXAR_ENTRY, 40)
    expect(readHeader(v, 4)).toEqual({ htypeLo: PXAR_ENTRY.lo, htypeHi: PXAR_ENTRY.hi, fullSize: 56 })
    expect(htypeOf(PXAR_ENTRY.lo, PXAR_ENTRY.hi)).toBe(PXAR_ENTRY)
    expect(htypeOf(PXAR_ENTRY.lo, 0)).toBeUndefined()
  })

  it('rejects a size below 16 and above 2^53 with the offset', () => {
    const b = new Uint8Array(16)
    const v = new DataView(b.buffer)
    v.setUint32(8, 15, true)
    expect(() => readHeader(v, 0, 1000)).toThrow(
      expect.objectContaining({ code: 'ERR_PXAR_SIZE', offset: 1000 }),
    )
    v.setUint32(12, 0x200000, true)
    expect(() => readHeader(v, 0)).toThrow(expect.objectContaining({ code: 'ERR_PXAR_SIZE' }))
  })

  it('knows the size limits', () => {
    expect(maxContentSize(PXAR_FILENAME.lo, PXAR_FILENAME.hi)).toBe(4097)
    expect(maxContentSize(PXAR_SYMLINK.lo, PXAR_SYMLINK.hi)).toBe(4097)
    expect(maxContentSize(PXAR_HARDLINK.lo, PXAR_HARDLINK.hi)).toBe(4105)
    expect(maxContentSize(PXAR_XATTR.lo, PXAR_XATTR.hi)).toBe(65791)
    expect(maxContentSize(PXAR_GOODBYE.lo, PXAR_GOODBYE.hi)).toBe(Infinity)
    expect(exactContentSize(PXAR_DEVICE.lo, PXAR_DEVICE.hi)).toBe(16)
    expect(() => checkContentSize(PXAR_SYMLINK.lo, PXAR_SYMLINK.hi, 4098)).toThrow(
      'invalid content size (4098 > 4097) of entry with SYMLINK header',
    )
    expect(htypeName(1, 2)).toBe('0x0000000200000001')
  })

  it('walks every vector headers.json item', () => {
    const root = vectorsDir('pxar')
    const dir = join(root, 'many-files-300')
    const headers: { archive: { offset: number; htype: string; full_size: number }[] } = JSON.parse(
      readFileSync(join(dir, 'headers.json'), 'utf8'),
    )
    const bytes = new Uint8Array(readFileSync(join(dir, 'archive.pxar')))
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    let off = 0
    for (const h of headers.archive) {
      expect(off).toBe(h.offset)
      const got = readHeader(v, off)
      expect(u64ToHex(got.htypeLo, got.htypeHi)).toBe(h.htype)
      expect(got.fullSize).toBe(h.full_size)
      expect(htypeOf(got.htypeLo, got.htypeHi)).toBeDefined()
      off += got.fullSize
    }
    expect(off).toBe(bytes.length)
    expect(HEADER_SIZE).toBe(16)
  })
})
