import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import { hashFilename, hashFilenameBigInt, PXAR_HASH_KEY, siphash24, u64ToHex } from '../src/index.ts'

interface HashCase {
  name?: string
  name_b64?: string
  hash: string
}

const cases: HashCase[] = JSON.parse(
  readFileSync(join(vectorsDir('pxar'), 'hash-and-bst', 'hashes.json'), 'utf8'),
)

/** Straightforward BigInt SipHash-2-4, as an independent oracle. */
function siphashRef(k0: bigint, k1: bigint, data: Uint8Array): bigint {
  const M = (1n << 64n) - 1n
  const rotl = (x: bigint, b: bigint) => ((x << b) | (x >> (64n - b))) & M
  let v0 = k0 ^ 0x736f6d6570736575n
  let v1 = k1 ^ 0x646f72616e646f6dn
  let v2 = k0 ^ 0x6c7967656e657261n
  let v3 = k1 ^ 0x7465646279746573n
  const round = () => {
    v0 = (v0 + v1) & M
    v1 = rotl(v1, 13n) ^ v0
    v0 = rotl(v0, 32n)
    v2 = (v2 + v3) & M
    v3 = rotl(v3, 16n) ^ v2
    v0 = (v0 + v3) & M
    v3 = rotl(v3, 21n) ^ v0
    v2 = (v2 + v1) & M
    v1 = rotl(v1, 17n) ^ v2
    v2 = rotl(v2, 32n)
  }
  const words = Math.floor(data.length / 8)
  for (let w = 0; w <= words; w++) {
    let m = 0n
    if (w < words) for (let j = 7; j >= 0; j--) m = (m << 8n) | BigInt(data[w * 8 + j]!)
    else {
      m = BigInt(data.length & 0xff) << 56n
      for (let j = 0; j < data.length - words * 8; j++) m |= BigInt(data[w * 8 + j]!) << BigInt(8 * j)
    }
    v3 ^= m
    round()
    round()
    v0 ^= m
  }
  v2 ^= 0xffn
  for (let r = 0; r < 4; r++) round()
  return v0 ^ v1 ^ v2 ^ v3
}

describe('hashFilename', () => {
  for (const c of cases) {
    const label = c.name !== undefined ? JSON.stringify(c.name.slice(0, 40)) : `b64:${c.name_b64}`
    it(`vector ${label}`, () => {
      const bytes =
        c.name !== undefined
          ? new TextEncoder().encode(c.name)
          : new Uint8Array(Buffer.from(c.name_b64!, 'base64'))
      const h = hashFilename(bytes)
      expect(u64ToHex(h.lo, h.hi)).toBe(c.hash)
      expect(hashFilenameBigInt(bytes)).toBe(BigInt(c.hash))
    })
  }

  it('matches a BigInt reference implementation for all lengths and keys', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 80 }),
        fc.bigInt(0n, (1n << 64n) - 1n),
        fc.bigInt(0n, (1n << 64n) - 1n),
        (d, k0, k1) => {
          const key = {
            k0lo: Number(k0 & 0xffffffffn),
            k0hi: Number(k0 >> 32n),
            k1lo: Number(k1 & 0xffffffffn),
            k1hi: Number(k1 >> 32n),
          }
          const h = siphash24(key, d)
          expect((BigInt(h.hi) << 32n) | BigInt(h.lo)).toBe(siphashRef(k0, k1, d))
        },
      ),
    )
  })

  it('uses pxar key', () => {
    expect((BigInt(PXAR_HASH_KEY.k0hi) << 32n) | BigInt(PXAR_HASH_KEY.k0lo)).toBe(0x83ac3f1cfbb450dbn)
    expect((BigInt(PXAR_HASH_KEY.k1hi) << 32n) | BigInt(PXAR_HASH_KEY.k1lo)).toBe(0xaa4f1b6879369fbdn)
  })
})
