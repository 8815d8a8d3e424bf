/**
 * Goodbye tables: the per-directory index closing every directory.
 *
 * GOODBYE content is n+1 items of 24 bytes (`hash u64, offset u64, size u64`): one per child,
 * sorted by hash and laid out as an implicit binary search tree (children of slot i at 2i+1 and
 * 2i+2), then a tail item whose hash is PXAR_GOODBYE_TAIL_MARKER.
 */
import { PxarFormatError } from './errors.ts'
import { u64ToSafeNumber } from './u64.ts'

/** Size of one goodbye item. */
export const GOODBYE_ITEM_SIZE = 24

/** A decoded goodbye item. `offset` is the backwards distance from the GOODBYE header. */
export interface GoodbyeItem {
  readonly hashLo: number
  readonly hashHi: number
  readonly offset: number
  readonly size: number
}

/**
 * Calls `copy(src, dest)` for every index of a hash-sorted array of `n` items, where `dest` is the
 * slot of the binary-search-tree layout that receives sorted item `src` (upstream
 * `binary_tree_array::copy`, the casync layout).
 * @throws {RangeError} when n is not a non-negative safe integer.
 */
export function bstCopy(n: number, copy: (src: number, dest: number) => void): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`invalid item count ${n}`)
  if (n === 0) return
  copyInner(copy, n, 0, Math.floor(Math.log2(n)), 0)
}

function copyInner(
  copy: (src: number, dest: number) => void,
  n: number,
  o: number,
  e: number,
  i: number,
): void {
  for (;;) {
    const p = 2 ** e
    const t = p + Math.floor(p / 2) - 1
    const m = n > t ? p - 1 : p - 1 - (t - n)
    copy(o + m, i)
    if (m > 0) copyInner(copy, m, o, e - 1, 2 * i + 1)
    if (m + 1 >= n) return
    // tail call for the right subtree
    n = n - m - 1
    o = o + m + 1
    e = e - 1
    i = 2 * i + 2
  }
}

/**
 * The BST permutation for `n` items: `result[dest] = src`.
 * @example
 * bstPermutation(4) // Uint32Array [2, 1, 3, 0]
 */
export function bstPermutation(n: number): Uint32Array<ArrayBuffer> {
  const out = new Uint32Array(n)
  bstCopy(n, (src, dest) => {
    out[dest] = src
  })
  return out
}

/**
 * Searches an implicit BST of `count` slots (upstream `binary_tree_array::search_by`).
 * `compare(i)` returns the searched key compared with slot i (negative: key is smaller, go left).
 * With `skip` > 0, equal slots are skipped so callers can iterate over hash collisions
 * (call with skip = 0, 1, 2, … until it returns -1).
 * @returns the slot index, or -1
 */
export function bstSearch(count: number, compare: (slot: number) => number, skip = 0, start = 0): number {
  let i = start
  while (i < count) {
    const c = compare(i)
    if (c < 0) i = 2 * i + 1
    else if (c > 0) i = 2 * i + 2
    else if (skip === 0) return i
    else {
      const left = 2 * i + 1
      const found = bstSearch(count, compare, skip - 1, left)
      return found >= 0 ? found : bstSearch(count, compare, skip - 1, left + 1)
    }
  }
  return -1
}

/**
 * Reads goodbye item `index` of a table starting at `offset` in `view`.
 * @throws {PxarFormatError} `ERR_PXAR_BAD_GOODBYE` when offset or size is 2^53 or more.
 */
export function readGoodbyeItem(
  view: DataView,
  offset: number,
  index: number,
  absOffset?: number,
): GoodbyeItem {
  const at = offset + index * GOODBYE_ITEM_SIZE
  const off = u64ToSafeNumber(view.getUint32(at + 8, true), view.getUint32(at + 12, true))
  const size = u64ToSafeNumber(view.getUint32(at + 16, true), view.getUint32(at + 20, true))
  if (off === undefined || size === undefined) {
    throw new PxarFormatError(
      'ERR_PXAR_BAD_GOODBYE',
      'goodbye item offset or size out of range',
      absOffset === undefined ? undefined : absOffset + index * GOODBYE_ITEM_SIZE,
    )
  }
  return { hashLo: view.getUint32(at, true), hashHi: view.getUint32(at + 4, true), offset: off, size }
}

/** Writes one goodbye item at `offset`. */
export function writeGoodbyeItem(
  view: DataView,
  offset: number,
  hashLo: number,
  hashHi: number,
  itemOffset: number,
  size: number,
): void {
  view.setUint32(offset, hashLo, true)
  view.setUint32(offset + 4, hashHi, true)
  view.setUint32(offset + 8, itemOffset >>> 0, true)
  view.setUint32(offset + 12, Math.floor(itemOffset / 0x1_0000_0000), true)
  view.setUint32(offset + 16, size >>> 0, true)
  view.setUint32(offset + 20, Math.floor(size / 0x1_0000_0000), true)
}

/**
 * Finds the slot of `hash` in the goodbye table of `count` child items at `offset` of `view`
 * (the tail item excluded), skipping `skip` earlier matches.
 * @returns the slot, or -1
 */
export function searchGoodbyeTable(
  view: DataView,
  offset: number,
  count: number,
  hashLo: number,
  hashHi: number,
  skip = 0,
): number {
  const lo = hashLo >>> 0
  const hi = hashHi >>> 0
  return bstSearch(
    count,
    (slot) => {
      const at = offset + slot * GOODBYE_ITEM_SIZE
      const h = view.getUint32(at + 4, true)
      if (hi !== h) return hi < h ? -1 : 1
      const l = view.getUint32(at, true)
      return lo === l ? 0 : lo < l ? -1 : 1
    },
    skip,
  )
}
