import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { fromHex, initZstd, loadZstdBackend, type ZstdBackend, zstd } from '../src/formats.ts'

const AAAA = new Uint8Array(4096).fill(0x41)
// Spec vector B2's payload: one frame without content size and without checksum.
const FRAME_NO_SIZE = fromHex('28b52ffd00484d00001041410100fbf70116')

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).name
  }
  return undefined
}

describe('zstd backend selection', () => {
  it('finds at least the native and the wasm backend', () => {
    expect(available.map((b) => b.name)).toContain('zstd-wasm')
    expect(available.length).toBeGreaterThanOrEqual(2)
  })

  it('picks a native backend synchronously when one exists', async () => {
    const b = zstd()
    expect(['node:zlib', 'zstd-napi']).toContain(b.name)
    expect((await initZstd()).name).toBe(b.name)
  })
})

// Every backend present on this runtime (node:zlib needs Node >= 22.15).
const available: ZstdBackend[] = []
for (const name of ['node:zlib', 'zstd-napi', 'zstd-wasm'] as const) {
  const backend = await loadZstdBackend(name)
  if (backend) available.push(backend)
}

for (const b of available) {
  describe(`zstd backend ${b.name}`, () => {
    it('round-trips, decodes frames without content size and concatenated frames', () => {
      const data = new Uint8Array(200_000).map((_, i) => (i * 7) % 13)
      const frame = b.compress(data, { level: 1 })!
      expect(b.decompress(frame, data.length)).toEqual(data)
      expect(b.decompress(FRAME_NO_SIZE, 4096)).toEqual(AAAA)
      const two = new Uint8Array([...FRAME_NO_SIZE, ...b.compress(AAAA, { level: 1 })!])
      expect(b.decompress(two, 8192)).toEqual(new Uint8Array(8192).fill(0x41))
    })

    it('honours maxSize on compression and the output limit on decompression', () => {
      const random = new Uint8Array(randomBytes(10_000))
      expect(b.compress(random, { level: 1, maxSize: random.length - 1 })).toBeUndefined()
      expect(codeOf(() => b.decompress(FRAME_NO_SIZE, 4095))).toBe('ERR_BLOB_TOO_LARGE')
      const sized = b.compress(new Uint8Array(1 << 20), { level: 1 })!
      expect(codeOf(() => b.decompress(sized, 1000))).toBe('ERR_BLOB_TOO_LARGE')
    })

    it('gives ERR_BLOB_DECOMPRESS for corrupt or truncated frames', () => {
      expect(codeOf(() => b.decompress(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), 1000))).toBe(
        'ERR_BLOB_DECOMPRESS',
      )
      const frame = b.compress(AAAA, { level: 1 })!
      for (let len = 1; len < frame.length; len++) {
        const code = codeOf(() => b.decompress(frame.subarray(0, len), 1 << 16))
        expect(code).toMatch(/^ERR_BLOB_(DECOMPRESS|TOO_LARGE)$/)
      }
    })
  })
}
