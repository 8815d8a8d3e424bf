import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { bstPermutation, hashFilename, u64ToHex } from '@pxar/format'
import { fail, type PxarCase } from '../types.ts'

interface HashCase {
  readonly name?: string
  readonly name_b64?: string
  readonly hash: string
}

interface BstCase {
  readonly n: number
  readonly dest_to_src: readonly number[]
}

/** hashes.json: pxar's filename hash of each name; bst.json: goodbye-table BST permutations. */
export async function run(c: PxarCase): Promise<void> {
  let checked = 0
  if (c.files.includes('hashes.json')) {
    const cases = JSON.parse(readFileSync(join(c.dir, 'hashes.json'), 'utf8')) as HashCase[]
    for (const h of cases) {
      const bytes =
        h.name !== undefined
          ? new TextEncoder().encode(h.name)
          : new Uint8Array(Buffer.from(h.name_b64 ?? '', 'base64'))
      const got = hashFilename(bytes)
      const hex = u64ToHex(got.lo, got.hi)
      if (hex !== h.hash.toLowerCase()) fail(`hash of ${h.name ?? h.name_b64}: got ${hex}, want ${h.hash}`)
      checked++
    }
  }
  if (c.files.includes('bst.json')) {
    const cases = JSON.parse(readFileSync(join(c.dir, 'bst.json'), 'utf8')) as BstCase[]
    for (const b of cases) {
      const got = [...bstPermutation(b.n)]
      if (got.length !== b.dest_to_src.length || got.some((v, i) => v !== b.dest_to_src[i]))
        fail(`bst n=${b.n}: got [${got.join(',')}], want [${b.dest_to_src.join(',')}]`)
      checked++
    }
  }
  if (checked === 0) fail('no hash or bst cases found')
}
