/**
 * The ENTRY item's 40-byte stat and the legacy 32-byte ENTRY_V1 stat.
 *
 * ENTRY: `mode u64, flags u64, uid u32, gid u32, mtime.secs i64, mtime.nanos u32, pad u32`.
 * ENTRY_V1: `mode u64, flags u64, uid u32, gid u32, mtime u64` (nanoseconds since the epoch).
 */
import { PxarFormatError } from './errors.ts'
import { i64FromValue, i64Value, type U64Value, u64FromValue, u64ToSafeNumber, u64Value } from './u64.ts'

/** Size of the ENTRY content. */
export const STAT_SIZE = 40
/** Size of the legacy ENTRY_V1 content. */
export const STAT_V1_SIZE = 32

/**
 * A modification time: `secs` is i64 seconds since the epoch (floor, so -0.5 s is secs -1 with
 * nanos 500000000), `nanos` a u32 (not validated by pxar, so it may exceed 999999999).
 */
export interface Timestamp {
  readonly secs: U64Value
  readonly nanos: number
}

/** The stat part of an entry's metadata. */
export interface Stat {
  /** Full `st_mode` including the file type bits. */
  readonly mode: number
  /** File attribute flags (u64; pxar's `Flags`). */
  readonly flags: U64Value
  readonly uid: number
  readonly gid: number
  readonly mtime: Timestamp
}

/**
 * Reads a 40-byte stat at `offset`.
 * @throws {PxarFormatError} `ERR_PXAR_INVALID_DATA` when the mode is 2^53 or more.
 */
export function readStat(view: DataView, offset: number, absOffset: number = offset): Stat {
  const mode = u64ToSafeNumber(view.getUint32(offset, true), view.getUint32(offset + 4, true))
  if (mode === undefined)
    throw new PxarFormatError('ERR_PXAR_INVALID_DATA', 'file mode out of range', absOffset)
  return {
    mode,
    flags: u64Value(view.getUint32(offset + 8, true), view.getUint32(offset + 12, true)),
    uid: view.getUint32(offset + 16, true),
    gid: view.getUint32(offset + 20, true),
    mtime: {
      secs: i64Value(view.getUint32(offset + 24, true), view.getUint32(offset + 28, true)),
      nanos: view.getUint32(offset + 32, true),
    },
  }
}

/**
 * Reads a legacy 32-byte ENTRY_V1 stat (mtime in nanoseconds) at `offset`.
 * @throws {PxarFormatError} `ERR_PXAR_INVALID_DATA` when the mode is 2^53 or more.
 */
export function readStatV1(view: DataView, offset: number, absOffset: number = offset): Stat {
  const mode = u64ToSafeNumber(view.getUint32(offset, true), view.getUint32(offset + 4, true))
  if (mode === undefined)
    throw new PxarFormatError('ERR_PXAR_INVALID_DATA', 'file mode out of range', absOffset)
  const lo = view.getUint32(offset + 24, true)
  const hi = view.getUint32(offset + 28, true)
  // u64 nanoseconds do not fit a double exactly: split with BigInt.
  const ns = (BigInt(hi) << 32n) | BigInt(lo)
  const secs = ns / 1_000_000_000n
  return {
    mode,
    flags: u64Value(view.getUint32(offset + 8, true), view.getUint32(offset + 12, true)),
    uid: view.getUint32(offset + 16, true),
    gid: view.getUint32(offset + 20, true),
    mtime: { secs: Number(secs), nanos: Number(ns - secs * 1_000_000_000n) },
  }
}

/**
 * Writes a 40-byte stat at `offset`.
 * @throws {RangeError} when a field is out of range for its type.
 */
export function writeStat(view: DataView, offset: number, stat: Stat): void {
  const mode = u64FromValue(stat.mode, 'mode')
  const flags = u64FromValue(stat.flags, 'flags')
  const secs = i64FromValue(stat.mtime.secs, 'mtime.secs')
  checkU32(stat.uid, 'uid')
  checkU32(stat.gid, 'gid')
  checkU32(stat.mtime.nanos, 'mtime.nanos')
  view.setUint32(offset, mode.lo, true)
  view.setUint32(offset + 4, mode.hi, true)
  view.setUint32(offset + 8, flags.lo, true)
  view.setUint32(offset + 12, flags.hi, true)
  view.setUint32(offset + 16, stat.uid, true)
  view.setUint32(offset + 20, stat.gid, true)
  view.setUint32(offset + 24, secs.lo, true)
  view.setUint32(offset + 28, secs.hi, true)
  view.setUint32(offset + 32, stat.mtime.nanos, true)
  view.setUint32(offset + 36, 0, true)
}

/** @throws {RangeError} unless `v` is an integer in 0..2^32-1. */
export function checkU32(v: number, label: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff)
    throw new RangeError(`${label} must be a u32, got ${v}`)
}
