import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { CONSTANT_TAGS } from '../scripts/constants-source.ts'
import * as format from '../src/index.ts'
import { type HType, hashFilename, PXAR_HTYPES } from '../src/index.ts'

const spec = (name: string): HType => (format as unknown as Record<string, HType>)[`PXAR_${name}`]!

describe('PXAR_* constants', () => {
  it('each equals hashFilename of its tag', () => {
    expect(CONSTANT_TAGS.length).toBe(PXAR_HTYPES.length)
    for (const t of CONSTANT_TAGS) {
      const h = hashFilename(new TextEncoder().encode(t.tag))
      const c = spec(t.name)
      expect(c.name).toBe(t.name)
      expect([c.lo, c.hi]).toEqual([h.lo, h.hi])
      expect(c.value).toBe((BigInt(h.hi) << 32n) | BigInt(h.lo))
      const rec = format as unknown as Record<string, number>
      expect(rec[`PXAR_${t.name}_LO`]).toBe(h.lo)
      expect(rec[`PXAR_${t.name}_HI`]).toBe(h.hi)
    }
  })

  it('low 32-bit words are unique (dispatch on the low word)', () => {
    const lows = PXAR_HTYPES.map((h) => h.lo)
    expect(new Set(lows).size).toBe(lows.length)
  })

  it('matches the well-known values', () => {
    expect(format.PXAR_ENTRY.value).toBe(0xd5956474e588acefn)
    expect(format.PXAR_ENTRY_V1.value).toBe(0x11da850a1c1cceffn)
    expect(format.PXAR_GOODBYE_TAIL_MARKER.value).toBe(0xef5eed5b753e1555n)
    expect(format.PXAR_PAYLOAD_START_MARKER.value).toBe(0x834c68c2194a4ed2n)
  })

  it('the generated file is up to date with the generator', async () => {
    const { renderConstants } = await import('../scripts/constants-source.ts')
    const here = dirname(fileURLToPath(import.meta.url))
    const onDisk = readFileSync(resolve(here, '../src/constants.ts'), 'utf8')
    // the generator formats with biome; compare token streams ignoring whitespace and trailing commas
    const norm = (s: string) => s.replace(/\s+/g, '').replace(/,([\])}])/g, '$1')
    expect(norm(onDisk)).toBe(norm(renderConstants(CONSTANT_TAGS)))
  })
})
