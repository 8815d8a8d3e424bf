/** SHA-256 helpers and hex conversion shared by blobs, indexes and keys. */
import { createHash } from 'node:crypto'

/** SHA-256 of `data` (optionally of several pieces, hashed as if concatenated). */
export function sha256(...pieces: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const h = createHash('sha256')
  for (const p of pieces) h.update(p)
  return toBytes(h.digest())
}

/**
 * Chunk digest as PBS computes it: plain SHA-256 of the plaintext, or `SHA-256(data || idKey)`
 * for encrypted backups (pass the key's `idKey`, see `CryptConfig`).
 */
export function chunkDigest(data: Uint8Array, idKey?: Uint8Array): Uint8Array<ArrayBuffer> {
  return idKey ? sha256(data, idKey) : sha256(data)
}

/** Copies a Node Buffer (or any view) into a plain `Uint8Array<ArrayBuffer>` without copying data when possible. */
export function toBytes(buf: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(buf.buffer as ArrayBuffer, buf.byteOffset, buf.byteLength)
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let s = ''
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]!]
  return s
}

/**
 * Parses hex (either case) into bytes.
 *
 * @throws TypeError on odd length or a non-hex character; RangeError when `length` is given and differs.
 */
export function fromHex(hex: string, length?: number): Uint8Array<ArrayBuffer> {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new TypeError('invalid hex string')
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  if (length !== undefined && out.length !== length) {
    throw new RangeError(`expected ${length} bytes of hex, got ${out.length}`)
  }
  return out
}

/** Constant-time equality of two byte arrays (false when lengths differ). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let d = 0
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!
  return d === 0
}
