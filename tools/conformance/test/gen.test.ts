import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import { generate, generateAll, genSize, parseGenSpec, SplitMix64 } from '../src/pbs/gen.ts'

describe('vector input generators', () => {
  it('splitmix64 matches the published reference outputs for seed 0', () => {
    const out = new Uint8Array(16)
    new SplitMix64(0n).fill(out)
    const view = new DataView(out.buffer)
    const first = (BigInt(view.getUint32(4, true)) << 32n) | BigInt(view.getUint32(0, true))
    const second = (BigInt(view.getUint32(12, true)) << 32n) | BigInt(view.getUint32(8, true))
    expect(first).toBe(0xe220a8397b1dcdafn)
    expect(second).toBe(0x6e789e6aa1b965f4n)
  })

  it('parses specs with K/M suffixes', () => {
    expect(parseGenSpec('splitmix64:5:40M')).toEqual({ kind: 'splitmix64', seed: 5n, size: 40 << 20 })
    expect(parseGenSpec('zeros:3K')).toEqual({ kind: 'zeros', size: 3072 })
    expect(genSize(parseGenSpec('repeat:7:1500000:8'))).toBe(12000000)
    expect(() => parseGenSpec('nope:1')).toThrow()
  })

  it('streams the same bytes whatever the piece size; text maps to the alphabet; repeat repeats', () => {
    const whole = generateAll('splitmix64:9:1001')
    expect(whole.length).toBe(1001)
    const pieces = [...generate('splitmix64:9:1001', 24)]
    expect(Math.max(...pieces.map((p) => p.length))).toBe(24)
    expect(Buffer.concat(pieces)).toEqual(Buffer.from(whole))
    const text = generateAll('text:9:1001')
    expect(text).toEqual(whole.map((b) => 'etaoinshrdlu \n.,'.charCodeAt(b & 15)))
    const rep = generateAll('repeat:9:1001:3')
    expect(rep).toEqual(Uint8Array.from([...whole, ...whole, ...whole]))
    expect(generateAll('zeros:100')).toEqual(new Uint8Array(100))
  })

  it('reproduces every generated input of the PBS chunk vectors (sha256 and size)', () => {
    const dir = join(vectorsDir('pbs'), 'chunk')
    const specs = new Map<string, { sha256: string; size: number }>()
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.expected.json'))) {
      const e = JSON.parse(readFileSync(join(dir, f), 'utf8'))
      if (e.input?.gen) specs.set(e.input.gen, { sha256: e.sha256, size: e.size })
    }
    expect(specs.size).toBeGreaterThanOrEqual(8)
    for (const [spec, want] of specs) {
      const h = createHash('sha256')
      let n = 0
      for (const p of generate(spec)) {
        h.update(p)
        n += p.length
      }
      expect({ spec, size: n, sha256: h.digest('hex') }).toEqual({ spec, ...want })
    }
  })
})
