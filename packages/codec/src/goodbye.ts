/**
 * Goodbye-table helpers private to the codec: the BST permutation and item reading.
 */

/** Size of one goodbye item (hash, offset, size; three u64). */
export const GOODBYE_ITEM_SIZE = 24

/** Compares two u64 values given as halves: negative, zero or positive. */
export function compareU64(aLo: number, aHi: number, bLo: number, bHi: number): number {
  return aHi !== bHi ? (aHi < bHi ? -1 : 1) : aLo !== bLo ? (aLo < bLo ? -1 : 1) : 0
}
