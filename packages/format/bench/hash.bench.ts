/** Filename hashing and goodbye-table layout: per-entry costs of encoding and lookup. */
import { bench, describe } from 'vitest'
import { bstPermutation, hashFilename, hashFilenameBigInt } from '../src/index.ts'

const names = Array.from({ length: 1000 }, (_, i) =>
  new TextEncoder().encode(`file-${String(i).padStart(6, '0')}.txt`),
)

describe('hashFilename (1000 names of 15 bytes)', () => {
  bench('u32 halves', () => {
    for (const n of names) hashFilename(n)
  })
  bench('bigint', () => {
    for (const n of names) hashFilenameBigInt(n)
  })
})

describe('bstPermutation', () => {
  bench('n = 100000', () => {
    bstPermutation(100_000)
  })
})
