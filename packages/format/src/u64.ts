/**
 * 64-bit integers as two unsigned 32-bit halves, plus the "value" form used for metadata fields.
 *
 * Hot paths (headers, goodbye items, hashes) keep u64 values as `{ lo, hi }` pairs: reading two
 * `getUint32` is an order of magnitude cheaper than `getBigUint64`. Metadata fields that are u64 or
 * i64 in the format but rarely exceed 2^53 use {@link U64Value}: a `number` when the value is a safe
 * integer, otherwise a `bigint` (the canonical form; {@link normalizeU64Value} produces it).
 */

/** An unsigned 64-bit integer as two u32 halves (`lo` = bits 0..31, `hi` = bits 32..63). */
export interface U64 {
  readonly lo: number
  readonly hi: number
}

/**
 * A u64/i64 metadata value: a `number` when it is a safe integer, otherwise a `bigint`.
 * Inputs may use either form; decoded values are always canonical.
 */
export type U64Value = number | bigint

const TWO_32 = 0x1_0000_0000
const MASK_64 = 0xffff_ffff_ffff_ffffn

/** Combines two u32 halves into a bigint. */
export function u64ToBigInt(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)
}

/**
 * Splits a u64 bigint into halves.
 * @throws {RangeError} when `value` is negative or above 2^64-1.
 */
export function u64FromBigInt(value: bigint): U64 {
  if (value < 0n || value > MASK_64) throw new RangeError(`u64 out of range: ${value}`)
  return { lo: Number(value & 0xffff_ffffn), hi: Number(value >> 32n) }
}

/**
 * The halves as a `number` if the value is below 2^53, otherwise `undefined`.
 * Sizes and offsets use this (a `hi < 2**21` check).
 */
export function u64ToSafeNumber(lo: number, hi: number): number | undefined {
  return hi < 0x20_0000 ? hi * TWO_32 + (lo >>> 0) : undefined
}

/** Canonical {@link U64Value} of the u64 halves: a number when safe, else a bigint. */
export function u64Value(lo: number, hi: number): U64Value {
  return hi < 0x20_0000 ? hi * TWO_32 + (lo >>> 0) : u64ToBigInt(lo, hi)
}

/**
 * Canonical {@link U64Value} of the i64 halves (two's complement): a number when safe, else a bigint.
 */
export function i64Value(lo: number, hi: number): U64Value {
  const shi = hi | 0
  // safe when -2^53 < v < 2^53: high word in [-2^21, 2^21), excluding exactly -2^53
  if (shi < 0x20_0000 && shi >= -0x20_0000 && (shi !== -0x20_0000 || lo !== 0))
    return shi * TWO_32 + (lo >>> 0)
  return (BigInt(shi) << 32n) | BigInt(lo >>> 0)
}

/** Returns the canonical form of a value (a safe-integer bigint becomes a number). */
export function normalizeU64Value(value: U64Value): U64Value {
  if (typeof value === 'bigint') {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
      ? Number(value)
      : value
  }
  return value
}

/**
 * Splits a u64 value into halves.
 * @throws {RangeError} when the value is not an integer in 0..2^64-1 (or an unsafe float).
 */
export function u64FromValue(value: U64Value, label = 'value'): U64 {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(`${label} must be a u64, got ${value}`)
    return { lo: value >>> 0, hi: Math.floor(value / TWO_32) }
  }
  if (value < 0n || value > MASK_64) throw new RangeError(`${label} must be a u64, got ${value}`)
  return { lo: Number(value & 0xffff_ffffn), hi: Number(value >> 32n) }
}

/**
 * Splits an i64 value into two's-complement halves.
 * @throws {RangeError} when the value is not an integer in -2^63..2^63-1.
 */
export function i64FromValue(value: U64Value, label = 'value'): U64 {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError(`${label} must be an i64, got ${value}`)
    const hi = Math.floor(value / TWO_32)
    return { lo: (value - hi * TWO_32) >>> 0, hi: hi >>> 0 }
  }
  if (value < -(1n << 63n) || value >= 1n << 63n)
    throw new RangeError(`${label} must be an i64, got ${value}`)
  const v = value & MASK_64
  return { lo: Number(v & 0xffff_ffffn), hi: Number(v >> 32n) }
}

/** Compares two u64 values given as halves: negative, zero or positive like a sort comparator. */
export function compareU64(aLo: number, aHi: number, bLo: number, bHi: number): number {
  if (aHi !== bHi) return aHi >>> 0 < bHi >>> 0 ? -1 : 1
  if (aLo !== bLo) return aLo >>> 0 < bLo >>> 0 ? -1 : 1
  return 0
}

/** `0x`-prefixed 16-digit lowercase hex of the u64 halves (as upstream prints hashes). */
export function u64ToHex(lo: number, hi: number): string {
  return `0x${(hi >>> 0).toString(16).padStart(8, '0')}${(lo >>> 0).toString(16).padStart(8, '0')}`
}
