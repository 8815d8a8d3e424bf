/**
 * The 16-byte item header: `htype: u64`, `full_size: u64` (including the header itself).
 */
import {
  PXAR_ACL_DEFAULT_GROUP_HI,
  PXAR_ACL_DEFAULT_GROUP_LO,
  PXAR_ACL_DEFAULT_HI,
  PXAR_ACL_DEFAULT_LO,
  PXAR_ACL_DEFAULT_USER_HI,
  PXAR_ACL_DEFAULT_USER_LO,
  PXAR_ACL_GROUP_HI,
  PXAR_ACL_GROUP_LO,
  PXAR_ACL_GROUP_OBJ_HI,
  PXAR_ACL_GROUP_OBJ_LO,
  PXAR_ACL_USER_HI,
  PXAR_ACL_USER_LO,
  PXAR_DEVICE_HI,
  PXAR_DEVICE_LO,
  PXAR_ENTRY_HI,
  PXAR_ENTRY_LO,
  PXAR_ENTRY_V1_HI,
  PXAR_ENTRY_V1_LO,
  PXAR_FCAPS_HI,
  PXAR_FCAPS_LO,
  PXAR_FILENAME_HI,
  PXAR_FILENAME_LO,
  PXAR_FORMAT_VERSION_HI,
  PXAR_FORMAT_VERSION_LO,
  PXAR_HARDLINK_HI,
  PXAR_HARDLINK_LO,
  PXAR_HTYPES,
  PXAR_PAYLOAD_REF_HI,
  PXAR_PAYLOAD_REF_LO,
  PXAR_QUOTA_PROJID_HI,
  PXAR_QUOTA_PROJID_LO,
  PXAR_SYMLINK_HI,
  PXAR_SYMLINK_LO,
  PXAR_XATTR_HI,
  PXAR_XATTR_LO,
} from './constants.ts'
import { PxarFormatError } from './errors.ts'
import type { HType } from './htype.ts'
import { MAX_FILENAME_LEN, MAX_PATH_LEN, MAX_XATTR_LEN } from './limits.ts'
import { u64ToHex, u64ToSafeNumber } from './u64.ts'

/** Size of an item header in bytes. */
export const HEADER_SIZE = 16

/** A decoded item header. */
export interface Header {
  /** Low word of the item type. */
  readonly htypeLo: number
  /** High word of the item type. */
  readonly htypeHi: number
  /** Full item size including the 16 header bytes. */
  readonly fullSize: number
}

/**
 * Reads the header at `offset` of `view`.
 * @param absOffset absolute stream position of the header, for error messages (default `offset`)
 * @throws {PxarFormatError} `ERR_PXAR_SIZE` when full_size < 16 or ≥ 2^53.
 * @throws {RangeError} when fewer than 16 bytes are available at `offset`.
 */
export function readHeader(view: DataView, offset: number, absOffset: number = offset): Header {
  const htypeLo = view.getUint32(offset, true)
  const htypeHi = view.getUint32(offset + 4, true)
  const sizeLo = view.getUint32(offset + 8, true)
  const sizeHi = view.getUint32(offset + 12, true)
  const fullSize = u64ToSafeNumber(sizeLo, sizeHi)
  if (fullSize === undefined) {
    throw new PxarFormatError('ERR_PXAR_SIZE', `item size too large (${u64ToHex(sizeLo, sizeHi)})`, absOffset)
  }
  if (fullSize < HEADER_SIZE) {
    throw new PxarFormatError(
      'ERR_PXAR_SIZE',
      `invalid header ${u64ToHex(htypeLo, htypeHi)}: too small (${fullSize})`,
      absOffset,
    )
  }
  return { htypeLo, htypeHi, fullSize }
}

/**
 * Writes a header for an item of `htype` with `contentSize` content bytes at `offset`.
 * @throws {RangeError} when contentSize is negative or not a safe integer.
 */
export function writeHeader(view: DataView, offset: number, htype: HType, contentSize: number): void {
  const full = contentSize + HEADER_SIZE
  if (!Number.isSafeInteger(full) || contentSize < 0)
    throw new RangeError(`invalid content size ${contentSize}`)
  view.setUint32(offset, htype.lo, true)
  view.setUint32(offset + 4, htype.hi, true)
  view.setUint32(offset + 8, full >>> 0, true)
  view.setUint32(offset + 12, Math.floor(full / 0x1_0000_0000), true)
}

/**
 * The largest content size pxar allows for an item type, or `Infinity` when unbounded
 * (PRELUDE, PAYLOAD, GOODBYE and unknown types).
 */
export function maxContentSize(htypeLo: number, htypeHi: number): number {
  switch (htypeLo) {
    case PXAR_FILENAME_LO:
      return htypeHi === PXAR_FILENAME_HI ? MAX_FILENAME_LEN + 1 : Infinity
    case PXAR_SYMLINK_LO:
      return htypeHi === PXAR_SYMLINK_HI ? MAX_PATH_LEN + 1 : Infinity
    case PXAR_HARDLINK_LO:
      return htypeHi === PXAR_HARDLINK_HI ? 8 + MAX_PATH_LEN + 1 : Infinity
    case PXAR_XATTR_LO:
      return htypeHi === PXAR_XATTR_HI ? MAX_XATTR_LEN : Infinity
    case PXAR_FCAPS_LO:
      return htypeHi === PXAR_FCAPS_HI ? MAX_XATTR_LEN : Infinity
    case PXAR_ENTRY_LO:
      return htypeHi === PXAR_ENTRY_HI ? 40 : Infinity
    case PXAR_PAYLOAD_REF_LO:
      return htypeHi === PXAR_PAYLOAD_REF_HI ? 16 : Infinity
    default:
      return Infinity
  }
}

/**
 * The exact content size the decoder requires for fixed-size item types, or `undefined`.
 * (DEVICE 16, ACL_USER/GROUP/DEFAULT_USER/DEFAULT_GROUP 16, ACL_GROUP_OBJ 8, ACL_DEFAULT 32,
 * QUOTA_PROJID 8, FORMAT_VERSION 8, ENTRY_V1 32.)
 */
export function exactContentSize(htypeLo: number, htypeHi: number): number | undefined {
  switch (htypeLo) {
    case PXAR_DEVICE_LO:
      return htypeHi === PXAR_DEVICE_HI ? 16 : undefined
    case PXAR_ACL_USER_LO:
      return htypeHi === PXAR_ACL_USER_HI ? 16 : undefined
    case PXAR_ACL_GROUP_LO:
      return htypeHi === PXAR_ACL_GROUP_HI ? 16 : undefined
    case PXAR_ACL_DEFAULT_USER_LO:
      return htypeHi === PXAR_ACL_DEFAULT_USER_HI ? 16 : undefined
    case PXAR_ACL_DEFAULT_GROUP_LO:
      return htypeHi === PXAR_ACL_DEFAULT_GROUP_HI ? 16 : undefined
    case PXAR_ACL_GROUP_OBJ_LO:
      return htypeHi === PXAR_ACL_GROUP_OBJ_HI ? 8 : undefined
    case PXAR_ACL_DEFAULT_LO:
      return htypeHi === PXAR_ACL_DEFAULT_HI ? 32 : undefined
    case PXAR_QUOTA_PROJID_LO:
      return htypeHi === PXAR_QUOTA_PROJID_HI ? 8 : undefined
    case PXAR_FORMAT_VERSION_LO:
      return htypeHi === PXAR_FORMAT_VERSION_HI ? 8 : undefined
    case PXAR_ENTRY_V1_LO:
      return htypeHi === PXAR_ENTRY_V1_HI ? 32 : undefined
    default:
      return undefined
  }
}

const BY_LO = new Map<number, HType>(PXAR_HTYPES.map((h) => [h.lo, h]))

/** The known item type with these words, or `undefined`. */
export function htypeOf(htypeLo: number, htypeHi: number): HType | undefined {
  const h = BY_LO.get(htypeLo >>> 0)
  return h !== undefined && h.hi === htypeHi >>> 0 ? h : undefined
}

/** Upstream-style name of an item type for messages: `SYMLINK` or the hex value. */
export function htypeName(htypeLo: number, htypeHi: number): string {
  return htypeOf(htypeLo, htypeHi)?.name ?? u64ToHex(htypeLo, htypeHi)
}

/**
 * Checks a content size against {@link maxContentSize}.
 * @throws {PxarFormatError} `ERR_PXAR_SIZE` with upstream's wording when too large.
 */
export function checkContentSize(
  htypeLo: number,
  htypeHi: number,
  contentSize: number,
  absOffset?: number,
): void {
  const max = maxContentSize(htypeLo, htypeHi)
  if (contentSize > max) {
    throw new PxarFormatError(
      'ERR_PXAR_SIZE',
      `invalid content size (${contentSize} > ${max}) of entry with ${htypeName(htypeLo, htypeHi)} header`,
      absOffset,
    )
  }
}
