/**
 * SipHash-2-4 over u32 halves, and pxar's filename hash.
 *
 * pxar hashes directory entry names with SipHash-2-4 keyed by two fixed u64 words (upstream
 * `format::hash_filename`); the goodbye table is a binary search tree over these hashes, and every
 * `PXAR_*` item type is the same hash of a `__PROXMOX_FORMAT_…__` tag.
 */
import { type U64, u64ToBigInt } from './u64.ts'

/** A SipHash key as four u32 words: k0 low, k0 high, k1 low, k1 high. */
export interface SipKey {
  readonly k0lo: number
  readonly k0hi: number
  readonly k1lo: number
  readonly k1hi: number
}

/** pxar's filename-hash key: k0 = 0x83ac3f1cfbb450db, k1 = 0xaa4f1b6879369fbd. */
export const PXAR_HASH_KEY: SipKey = Object.freeze({
  k0lo: 0xfbb450db,
  k0hi: 0x83ac3f1c,
  k1lo: 0x79369fbd,
  k1hi: 0xaa4f1b68,
})

/**
 * SipHash-2-4 of `data` under `key`, as u32 halves.
 *
 * Works on u32 pairs so that no BigInt is allocated; all state lives in locals.
 * @example
 * siphash24(PXAR_HASH_KEY, new TextEncoder().encode('a')) // { lo: 0x7c2c7bcf, hi: 0x0c26e906 }
 */
export function siphash24(key: SipKey, data: Uint8Array): U64 {
  // v0 = k0 ^ "somepseu", v1 = k1 ^ "dorandom", v2 = k0 ^ "lygenera", v3 = k1 ^ "tedbytes"
  let v0l = (key.k0lo ^ 0x70736575) >>> 0
  let v0h = (key.k0hi ^ 0x736f6d65) >>> 0
  let v1l = (key.k1lo ^ 0x6e646f6d) >>> 0
  let v1h = (key.k1hi ^ 0x646f7261) >>> 0
  let v2l = (key.k0lo ^ 0x6e657261) >>> 0
  let v2h = (key.k0hi ^ 0x6c796765) >>> 0
  let v3l = (key.k1lo ^ 0x79746573) >>> 0
  let v3h = (key.k1hi ^ 0x74656462) >>> 0
  let t = 0
  let s = 0

  const len = data.length
  const end = len - (len & 7)
  let ml = 0
  let mh = 0
  let rounds = 0
  let i = 0
  // Each message word runs 2 rounds; after the last word (the length/tail word) we continue into
  // finalisation with 4 more. The loop body below is one SipRound.
  for (;;) {
    let compress: number
    if (i < end) {
      ml = (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)) >>> 0
      mh = (data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24)) >>> 0
      i += 8
      compress = 2
    } else if (rounds === 0) {
      // final block: remaining bytes + (len mod 256) << 56
      ml = 0
      mh = (len & 0xff) << 24
      const rem = len - end
      for (let j = 0; j < rem; j++) {
        const b = data[end + j]!
        if (j < 4) ml |= b << (8 * j)
        else mh |= b << (8 * (j - 4))
      }
      ml >>>= 0
      mh >>>= 0
      compress = 2
      rounds = 1
    } else {
      break
    }
    v3l = (v3l ^ ml) >>> 0
    v3h = (v3h ^ mh) >>> 0
    for (let r = 0; r < compress; r++) {
      // v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
      s = v0l + v1l
      v0h = (v0h + v1h + (s > 0xffffffff ? 1 : 0)) >>> 0
      v0l = s >>> 0
      t = v1h
      v1h = ((v1h << 13) | (v1l >>> 19)) >>> 0
      v1l = ((v1l << 13) | (t >>> 19)) >>> 0
      v1l = (v1l ^ v0l) >>> 0
      v1h = (v1h ^ v0h) >>> 0
      t = v0l
      v0l = v0h
      v0h = t
      // v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
      s = v2l + v3l
      v2h = (v2h + v3h + (s > 0xffffffff ? 1 : 0)) >>> 0
      v2l = s >>> 0
      t = v3h
      v3h = ((v3h << 16) | (v3l >>> 16)) >>> 0
      v3l = ((v3l << 16) | (t >>> 16)) >>> 0
      v3l = (v3l ^ v2l) >>> 0
      v3h = (v3h ^ v2h) >>> 0
      // v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
      s = v0l + v3l
      v0h = (v0h + v3h + (s > 0xffffffff ? 1 : 0)) >>> 0
      v0l = s >>> 0
      t = v3h
      v3h = ((v3h << 21) | (v3l >>> 11)) >>> 0
      v3l = ((v3l << 21) | (t >>> 11)) >>> 0
      v3l = (v3l ^ v0l) >>> 0
      v3h = (v3h ^ v0h) >>> 0
      // v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
      s = v2l + v1l
      v2h = (v2h + v1h + (s > 0xffffffff ? 1 : 0)) >>> 0
      v2l = s >>> 0
      t = v1h
      v1h = ((v1h << 17) | (v1l >>> 15)) >>> 0
      v1l = ((v1l << 17) | (t >>> 15)) >>> 0
      v1l = (v1l ^ v2l) >>> 0
      v1h = (v1h ^ v2h) >>> 0
      t = v2l
      v2l = v2h
      v2h = t
      if (r === 1 && compress === 2) {
        v0l = (v0l ^ ml) >>> 0
        v0h = (v0h ^ mh) >>> 0
        if (rounds === 1) {
          // finalisation: v2 ^= 0xff, then 4 rounds
          v2l = (v2l ^ 0xff) >>> 0
          compress = 6
        }
      }
    }
  }
  return { lo: (v0l ^ v1l ^ v2l ^ v3l) >>> 0, hi: (v0h ^ v1h ^ v2h ^ v3h) >>> 0 }
}

/**
 * pxar's filename hash (SipHash-2-4 with {@link PXAR_HASH_KEY}) of the raw name bytes, no NUL.
 * @example
 * hashFilename(new TextEncoder().encode('hello.txt')) // { lo: 0x4c66190c, hi: 0x9b1ee0b8 }
 */
export function hashFilename(name: Uint8Array): U64 {
  return siphash24(PXAR_HASH_KEY, name)
}

/** {@link hashFilename} as a bigint. */
export function hashFilenameBigInt(name: Uint8Array): bigint {
  const h = siphash24(PXAR_HASH_KEY, name)
  return u64ToBigInt(h.lo, h.hi)
}
