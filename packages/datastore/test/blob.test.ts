import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  BLOB_MAGIC,
  blobCrcOk,
  CryptConfig,
  crc32,
  decodeBlob,
  encodeBlob,
  fromHex,
  inspectBlob,
  MAX_BLOB_SIZE,
  sha256,
  toHex,
} from '../src/formats.ts'

const KEY = Uint8Array.from({ length: 32 }, (_, i) => i)
const IV = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i)
const TEXT = new TextEncoder().encode('The quick brown fox jumps over the lazy dog')
const AAAA = new Uint8Array(4096).fill(0x41)

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).name
  }
  return undefined
}

describe('crc32', () => {
  it('matches the standard check values', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926)
    expect(crc32(new Uint8Array(0))).toBe(0)
    expect(crc32(Uint8Array.of(0, 1))).toBe(0x36de2269)
  })
})

describe('spec blob vectors', () => {
  it('B1: uncompressed blob of TEXT is byte-exact', () => {
    const blob = encodeBlob(TEXT)
    expect(toHex(blob)).toBe(`42ab3807be8370a139a34f41${toHex(TEXT)}`)
    expect(toHex(sha256(blob))).toBe('246cfb51369646ae85aeb34fee6f9444ac6dc4e47201510d705bbe6277369d2d')
  })

  it('B2: compressed blob decodes', () => {
    const blob = fromHex('31b958426fb6a37f9fb86a5228b52ffd00484d00001041410100fbf70116')
    expect(decodeBlob(blob)).toEqual(AAAA)
  })

  it('B3: encrypted blob with fixed IV is byte-exact and decodes with the keyed digest', () => {
    const cc = new CryptConfig(KEY)
    const blob = encodeBlob(TEXT, { crypt: cc, iv: IV })
    expect(toHex(blob)).toBe(
      '7b6785be222d4cf068248357a0a1a2a3a4a5a6a7a8a9aaabacadaeaf6c15f13bff9f5f7fce5e2750fe5844ac7ecb469c69b8a415a8be7dc38263e3b0e42a3b5914413cdc8e3205c07c4706f364f4c60ff4a9c69d8a6657',
    )
    const digest = fromHex('681d4b0b5ee021e3d689cfa54656274abd17f354a213e3b3d78c020374d671ab')
    expect(decodeBlob(blob, { crypt: cc, digest })).toEqual(TEXT)
    // raw key bytes work as well (worker threads)
    expect(decodeBlob(blob, { crypt: KEY, digest })).toEqual(TEXT)
  })

  it('B3 negatives: ciphertext flip fails CRC, IV/tag flips fail GCM', () => {
    const blob = encodeBlob(TEXT, { crypt: KEY, iv: IV })
    const ct = blob.slice()
    ct[50]! ^= 1
    expect(codeOf(() => decodeBlob(ct, { crypt: KEY }))).toBe('ERR_BLOB_CRC')
    for (const at of [12, 27, 28, 43]) {
      const bad = blob.slice()
      bad[at]! ^= 0x80
      expect(blobCrcOk(bad)).toBe(true)
      expect(codeOf(() => decodeBlob(bad, { crypt: KEY }))).toBe('ERR_BLOB_DECRYPT')
    }
  })

  it('B4: encrypted+compressed blob decodes', () => {
    const blob = fromHex(
      'e6591bbf0bbfd80b220c5d94a0a1a2a3a4a5a6a7a8a9aaabacadaeaf079a518fdf8eef8420ba782b50938b9302160c4118858076c38e5ef0ec1476678353',
    )
    const digest = fromHex('70b2a8649708a6ceb6d7e93cc1733946cf0641a5b30c9e233b049ebd5b1b94c0')
    expect(decodeBlob(blob, { crypt: KEY, digest })).toEqual(AAAA)
  })

  it('A4: the four kinds round-trip 100000 bytes with digest checks', () => {
    const data = Uint8Array.from({ length: 100000 }, (_, i) => i % 255)
    const cc = new CryptConfig(new Uint8Array(32).fill(1))
    expect(toHex(cc.idKey)).toBe('421679d8d439d1cbf2a915904a91d1ba20b7e641f9c846378b899864189ff304')
    const plain = fromHex('539a60c3a7cc268ecce082c9184702bc829bb106a2643dee26db3ff0bf8457ee')
    const enc = fromHex('32a2bf5dff84090e7f175c27f666f5cc8268046ab6efda0e501196bceffdc675')
    const cases = [
      [{}, 'uncompressed', plain],
      [{ compress: true }, 'compressed', plain],
      [{ crypt: cc }, 'encrypted', enc],
      [{ crypt: cc, compress: true }, 'encrypted-compressed', enc],
    ] as const
    for (const [opts, kind, digest] of cases) {
      const blob = encodeBlob(data, opts)
      expect(inspectBlob(blob).kind).toBe(kind)
      expect(blobCrcOk(blob)).toBe(true)
      expect(decodeBlob(blob, { crypt: cc, digest })).toEqual(data)
    }
    expect(inspectBlob(encodeBlob(data)).crc).toBe(0x1e2d68e3)
  })
})

describe('encodeBlob rules', () => {
  it('keeps compression only when strictly smaller', () => {
    const random = new Uint8Array(randomBytes(4096))
    expect(inspectBlob(encodeBlob(random, { compress: true })).kind).toBe('uncompressed')
    expect(inspectBlob(encodeBlob(random, { compress: true, crypt: KEY })).kind).toBe('encrypted')
    expect(inspectBlob(encodeBlob(new Uint8Array(0), { compress: true })).kind).toBe('uncompressed')
    expect(inspectBlob(encodeBlob(AAAA, { compress: true })).kind).toBe('compressed')
  })

  it('uses a fresh IV per blob', () => {
    const a = inspectBlob(encodeBlob(TEXT, { crypt: KEY }))
    const b = inspectBlob(encodeBlob(TEXT, { crypt: KEY }))
    expect(toHex(a.iv!)).not.toBe(toHex(b.iv!))
  })

  it('refuses data above 128 MiB', () => {
    const big = new Uint8Array(MAX_BLOB_SIZE + 1)
    expect(codeOf(() => encodeBlob(big))).toBe('ERR_BLOB_TOO_LARGE')
  })

  it('round-trips arbitrary data in every kind', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3000 }),
        fc.boolean(),
        fc.boolean(),
        (data, compress, encrypt) => {
          const blob = encodeBlob(data, { compress, crypt: encrypt ? KEY : undefined })
          expect(decodeBlob(blob, { crypt: KEY })).toEqual(data)
        },
      ),
      { numRuns: 200 },
    )
  })
})

describe('CRC check on demand', () => {
  it('verifyCrc: false skips only the CRC; the digest still catches a damaged payload', () => {
    for (const blob of [encodeBlob(TEXT), encodeBlob(TEXT, { crypt: KEY })]) {
      const info = inspectBlob(blob)
      expect(info.computedCrc).toBe(info.crc)
      const wrongCrc = blob.slice()
      wrongCrc[8]! ^= 0xff
      expect(inspectBlob(wrongCrc).computedCrc).toBe(info.crc)
      expect(codeOf(() => decodeBlob(wrongCrc, { crypt: KEY }))).toBe('ERR_BLOB_CRC')
      const digest = info.encrypted ? new CryptConfig(KEY).computeDigest(TEXT) : sha256(TEXT)
      expect(decodeBlob(wrongCrc, { crypt: KEY, verifyCrc: false, digest })).toEqual(TEXT)
    }
    const damaged = encodeBlob(TEXT)
    damaged[damaged.length - 1]! ^= 1
    expect(codeOf(() => decodeBlob(damaged, { verifyCrc: false, digest: sha256(TEXT) }))).toBe(
      'ERR_CHUNK_DIGEST',
    )
  })
})

describe('decodeBlob on hostile input', () => {
  const samples = [
    encodeBlob(TEXT),
    encodeBlob(AAAA, { compress: true }),
    encodeBlob(TEXT, { crypt: KEY }),
    encodeBlob(AAAA, { compress: true, crypt: KEY }),
  ]
  const allowed = new Set([
    'ERR_BLOB_TRUNCATED',
    'ERR_BLOB_MAGIC',
    'ERR_BLOB_CRC',
    'ERR_BLOB_DECRYPT',
    'ERR_BLOB_DECOMPRESS',
    'ERR_BLOB_NO_KEY',
  ])

  it('typed errors for every truncation', () => {
    for (const blob of samples) {
      for (let len = 0; len < blob.length; len++) {
        const code = codeOf(() => decodeBlob(blob.subarray(0, len), { crypt: KEY }))
        // An unencrypted blob cut right after the header decodes to an empty payload if the CRC matches.
        if (code === undefined) continue
        expect(allowed.has(code), `len ${len}: ${code}`).toBe(true)
      }
    }
  })

  it('typed errors for every single-bit flip', () => {
    for (const blob of samples) {
      for (let i = 0; i < blob.length; i++) {
        const bad = blob.slice()
        bad[i]! ^= 1 << (i % 8)
        const code = codeOf(() => decodeBlob(bad, { crypt: KEY }))
        expect(code !== undefined && allowed.has(code), `byte ${i}: ${code}`).toBe(true)
      }
    }
  })

  it('corrupt zstd payload with a recomputed CRC gives ERR_BLOB_DECOMPRESS', () => {
    const blob = encodeBlob(AAAA, { compress: true })
    for (let i = 12; i < blob.length; i++) {
      const bad = blob.slice()
      bad[i]! ^= 0xff
      new DataView(bad.buffer).setUint32(8, crc32(bad.subarray(12)), true)
      const code = codeOf(() => decodeBlob(bad))
      if (code !== undefined) expect(code).toMatch(/^ERR_BLOB_(DECOMPRESS|TOO_LARGE)$/)
    }
  })

  it('enforces the output limit while decompressing', () => {
    const big = new Uint8Array(1 << 20)
    const blob = encodeBlob(big, { compress: true })
    expect(codeOf(() => decodeBlob(blob, { maxSize: 1000 }))).toBe('ERR_BLOB_TOO_LARGE')
    expect(decodeBlob(blob, { maxSize: 1 << 20 }).length).toBe(1 << 20)
  })

  it('reports missing key, unknown magic and digest mismatch', () => {
    expect(codeOf(() => decodeBlob(encodeBlob(TEXT, { crypt: KEY })))).toBe('ERR_BLOB_NO_KEY')
    const bad = encodeBlob(TEXT)
    bad[0] = 0
    expect(codeOf(() => decodeBlob(bad))).toBe('ERR_BLOB_MAGIC')
    expect(codeOf(() => decodeBlob(encodeBlob(TEXT), { digest: new Uint8Array(32) }))).toBe(
      'ERR_CHUNK_DIGEST',
    )
    expect(BLOB_MAGIC.uncompressed).toEqual(
      sha256(new TextEncoder().encode('Proxmox Backup uncompressed blob v1.0')).subarray(0, 8),
    )
  })
})
