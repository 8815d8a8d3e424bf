import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { getBuzhashTable } from '../src/index.ts'

describe('getBuzhashTable', () => {
  it('matches the upstream table checksum and spot values', () => {
    const table = getBuzhashTable()
    expect(table.length).toBe(256)
    const le = new Uint8Array(table.buffer, table.byteOffset, table.byteLength)
    expect(createHash('sha256').update(le).digest('hex')).toBe(
      '5b52080d38287da9d2e278466e3e0db7ec98e5e8b226f50612a56fa012b1f660',
    )
    expect(table[0x00]).toBe(0x458be752)
    expect(table[0x41]).toBe(0x9891c393)
    expect(table[0xff]).toBe(0xd95ddf11)
  })

  it('hands out copies', () => {
    const a = getBuzhashTable()
    a[0] = 0
    expect(getBuzhashTable()[0]).toBe(0x458be752)
  })
})
