/** Inputs found by the fuzzer (tools/fuzz) that once escaped as untyped errors or over-allocated. */
import { describe, expect, it, vi } from 'vitest'
import { crc32, decodeBlob, encodeBlob, parseKeyConfig, zstd } from '../src/index.ts'

describe('fuzz regressions', () => {
  it('a key file that is not UTF-8 is ERR_KEY_FORMAT, not a TypeError', () => {
    const bytes = new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])
    expect(() => parseKeyConfig(bytes)).toThrow(expect.objectContaining({ code: 'ERR_KEY_FORMAT' }))
  })

  it('a forged zstd content size does not reserve the output limit', () => {
    // a compressed blob whose frame header (no content size) is rewritten to declare 100 MiB
    const b = encodeBlob(new Uint8Array(1000).fill(1), { compress: true })
    expect(b[16]).toBe(0) // frame header descriptor: no content size field
    const forged = new Uint8Array(b.length + 4)
    forged.set(b.subarray(0, 16))
    forged[16] = 0x80 // 4-byte content size, window descriptor present
    forged[17] = b[17]!
    new DataView(forged.buffer).setUint32(18, 100 * 1024 * 1024, true)
    forged.set(b.subarray(18), 22)
    new DataView(forged.buffer).setUint32(8, crc32(forged.subarray(12)), true)
    const sizes: number[] = []
    for (const name of ['alloc', 'allocUnsafe', 'allocUnsafeSlow'] as const) {
      const orig = Buffer[name].bind(Buffer)
      vi.spyOn(Buffer, name).mockImplementation((size: number) => {
        sizes.push(size)
        return orig(size)
      })
    }
    expect(() => decodeBlob(forged)).toThrow(expect.objectContaining({ code: 'ERR_BLOB_DECOMPRESS' }))
    expect(Math.max(0, ...sizes)).toBeLessThan(2 * 1024 * 1024)
  })

  it('frames with a true content size still decode, also far beyond the trusted bound', () => {
    const zeros = new Uint8Array(4 * 1024 * 1024)
    const frame = zstd().compress(zeros, { level: 1, contentSize: true })!
    expect(frame.length).toBeLessThan(4096)
    expect(Buffer.from(zstd().decompress(frame, 16 * 1024 * 1024)).equals(zeros)).toBe(true)
    const text = new TextEncoder().encode('pxar '.repeat(300_000))
    const frame2 = zstd().compress(text, { level: 1, contentSize: true })!
    expect(Buffer.from(zstd().decompress(frame2, 16 * 1024 * 1024)).equals(text)).toBe(true)
  })
})
