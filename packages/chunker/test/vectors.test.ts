import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import { generate } from '../../../tools/conformance/src/pbs/gen.ts'
import { Chunker, chunkStream } from '../src/index.ts'

interface Case {
  readonly category: string
  readonly command: readonly string[]
  readonly inputs: readonly string[]
  readonly expected: string
  readonly gen?: string
  readonly avg: number
}

const root = vectorsDir('pbs')
const cases = (JSON.parse(readFileSync(join(root, 'index.json'), 'utf8')) as { cases: Case[] }).cases.filter(
  (c) => c.category === 'chunk' || c.category === 'chunk-keyed',
)

function input(c: Case, feed: number): Iterable<Uint8Array> {
  if (c.gen !== undefined) return generate(c.gen, feed)
  const bytes = new Uint8Array(readFileSync(join(root, c.inputs[0]!)))
  const out: Uint8Array[] = []
  for (let at = 0; at < bytes.length; at += feed) out.push(bytes.subarray(at, at + feed))
  return out
}

describe('PBS chunk vectors', () => {
  it('has cases', () => expect(cases.length).toBeGreaterThanOrEqual(26))

  for (const c of cases) {
    it(`${c.category} ${c.expected}`, async () => {
      const exp = JSON.parse(readFileSync(join(root, c.expected), 'utf8'))
      const feedAt = c.command.indexOf('--feed')
      const feed = feedAt >= 0 ? Number(c.command[feedAt + 1]) : 1 << 20
      const chunker = new Chunker({ avgSize: c.avg })
      expect([chunker.minSize, chunker.maxSize]).toEqual([exp.min, exp.max])
      // Cut points through the streaming wrapper; plain digests (keyed ones need the key: datastore).
      const inputHash = createHash('sha256')
      const source = (function* () {
        for (const p of input(c, feed)) {
          inputHash.update(p)
          yield p
        }
      })()
      const ends: number[] = []
      const digests: string[] = []
      let end = 0
      for await (const chunk of chunkStream(source, { avgSize: c.avg })) {
        ends.push((end += chunk.length))
        digests.push(createHash('sha256').update(chunk).digest('hex'))
      }
      expect(end).toBe(exp.size)
      expect(inputHash.digest('hex')).toBe(exp.sha256)
      expect(ends).toEqual(exp.ends)
      if (!exp.keyed_digests) expect(digests).toEqual(exp.digests)
    })
  }
})
