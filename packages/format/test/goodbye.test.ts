import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import {
  bstCopy,
  bstPermutation,
  bstSearch,
  GOODBYE_ITEM_SIZE,
  readGoodbyeItem,
  searchGoodbyeTable,
  writeGoodbyeItem,
} from '../src/index.ts'

const bst: { n: number; dest_to_src: number[] }[] = JSON.parse(
  readFileSync(join(vectorsDir('pxar'), 'hash-and-bst', 'bst.json'), 'utf8'),
)

describe('bstPermutation', () => {
  for (const c of bst) {
    it(`n = ${c.n}`, () => {
      expect([...bstPermutation(c.n)]).toEqual(c.dest_to_src)
    })
  }

  it('is a permutation and a valid search tree for any n', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3000 }), (n) => {
        const p = bstPermutation(n)
        expect(new Set(p).size).toBe(n)
        // in-order traversal of the implicit tree yields 0..n-1
        const order: number[] = []
        const walk = (i: number): void => {
          if (i >= n) return
          walk(2 * i + 1)
          order.push(p[i]!)
          walk(2 * i + 2)
        }
        walk(0)
        expect(order).toEqual([...Array(n).keys()])
      }),
      { numRuns: 50 },
    )
  })

  it('bstCopy rejects bad counts', () => {
    expect(() => bstCopy(-1, () => {})).toThrow(RangeError)
  })
})

describe('bstSearch / searchGoodbyeTable', () => {
  it('finds every key and misses absent ones', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.bigInt(0n, (1n << 64n) - 1n), { maxLength: 200 }),
        fc.bigInt(0n, (1n << 64n) - 1n),
        (keys, probe) => {
          const sorted = [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
          const table = new Uint8Array(sorted.length * GOODBYE_ITEM_SIZE)
          const view = new DataView(table.buffer)
          bstCopy(sorted.length, (src, dest) => {
            const k = sorted[src]!
            writeGoodbyeItem(
              view,
              dest * GOODBYE_ITEM_SIZE,
              Number(k & 0xffffffffn),
              Number(k >> 32n),
              src,
              src * 2,
            )
          })
          for (const k of sorted) {
            const slot = searchGoodbyeTable(view, 0, sorted.length, Number(k & 0xffffffffn), Number(k >> 32n))
            expect(slot).toBeGreaterThanOrEqual(0)
            const item = readGoodbyeItem(view, 0, slot)
            expect((BigInt(item.hashHi) << 32n) | BigInt(item.hashLo)).toBe(k)
            expect(item.size).toBe(item.offset * 2)
          }
          if (!keys.includes(probe)) {
            expect(
              searchGoodbyeTable(view, 0, sorted.length, Number(probe & 0xffffffffn), Number(probe >> 32n)),
            ).toBe(-1)
          }
        },
      ),
      { numRuns: 100 },
    )
  })

  it('skip iterates duplicate keys', () => {
    const keys = [1, 2, 2, 2, 3, 5]
    const tree = new Array<number>(keys.length)
    bstCopy(keys.length, (src, dest) => {
      tree[dest] = keys[src]!
    })
    const found = new Set<number>()
    for (let skip = 0; ; skip++) {
      const slot = bstSearch(tree.length, (i) => 2 - tree[i]!, skip)
      if (slot < 0) break
      expect(tree[slot]).toBe(2)
      found.add(slot)
    }
    expect(found.size).toBeGreaterThanOrEqual(1)
  })

  it('rejects offsets beyond 2^53', () => {
    const b = new Uint8Array(24).fill(0xff)
    expect(() => readGoodbyeItem(new DataView(b.buffer), 0, 0, 100)).toThrow(/out of range/)
  })
})
