// Test helper: a direct, unoptimised transcription of the PBS chunking rules (ring window, hash
// every byte, no skip-ahead), used as the oracle for property tests of the fast chunker.
import { getBuzhashTable } from '../src/index.ts'

const T = getBuzhashTable()

/** Chunk ends of `data` per the PBS rules, computed byte by byte. */
export function referenceEnds(data: Uint8Array, avg: number): number[] {
  const min = avg / 4
  const max = avg * 4
  const mask = avg * 2 - 1
  const threshold = mask - 2
  const ends: number[] = []
  const window = new Uint8Array(64)
  let h = 0
  let len = 0
  for (let pos = 0; pos < data.length; pos++) {
    const b = data[pos]!
    if (len < 64) {
      h = (((h << 1) | (h >>> 31)) ^ T[b]!) >>> 0
      window[len] = b
      len++
      continue
    }
    const out = window[len % 64]!
    window[len % 64] = b
    h = (((h << 1) | (h >>> 31)) ^ T[out]! ^ T[b]!) >>> 0
    len++
    if (len >= max || (len >= min && (h & mask) >= threshold)) {
      ends.push(pos + 1)
      h = 0
      len = 0
    }
  }
  if (len > 0) ends.push(data.length)
  return ends
}
