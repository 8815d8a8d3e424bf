// Runs the decode / lookups / decoder-errors conformance checks over every pxar vector case folder.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import * as decode from '../../../tools/conformance/src/pxar/decode.ts'
import { checkCase } from '../../../tools/conformance/src/pxar/decoder-errors.ts'
import * as lookups from '../../../tools/conformance/src/pxar/lookups.ts'
import { listPxarCases } from '../../../tools/conformance/src/run.ts'

const cases = listPxarCases(vectorsDir('pxar'))

describe('pxar vectors: decode and lookups', () => {
  for (const c of cases) {
    for (const [variant, archive, suffix] of [
      ['v1', 'archive.pxar', ''],
      ['v2', 'archive.mpxar', '.v2'],
    ] as const) {
      if (!c.files.includes(archive)) continue
      if (c.files.includes(`dump${suffix}.json`))
        it(`decode ${c.name} ${variant}`, () => decode.run(c, variant))
      if (c.files.includes(`lookups${suffix}.json`))
        it(`lookups ${c.name} ${variant}`, () => lookups.run(c, variant))
    }
  }
})

// The strict decoder's error code for each corruption (upstream only reports text).
const STRICT_CODES: Record<string, string> = {
  'truncated-by-1': 'ERR_PXAR_TRUNCATED',
  'truncated-mid-payload': 'ERR_PXAR_TRUNCATED',
  'bad-tail-marker': 'ERR_PXAR_BAD_GOODBYE',
  'filename-missing-nul': 'ERR_PXAR_BAD_NAME',
  'filename-dotdot': 'ERR_PXAR_BAD_NAME',
  'unknown-item-type': 'ERR_PXAR_UNKNOWN_ITEM',
  'entry-size-too-big': 'ERR_PXAR_SIZE',
  'header-size-below-16': 'ERR_PXAR_BAD_HEADER',
  'trailing-garbage': 'ERR_PXAR_TRAILING_DATA',
}

describe('pxar vectors: decoder-errors', () => {
  for (const c of cases) {
    if (!c.files.includes('cases.json') || !c.files.some((f) => f.endsWith('.pxar'))) continue
    const list = JSON.parse(readFileSync(join(c.dir, 'cases.json'), 'utf8')) as {
      name: string
      file: string
      dump_ok: boolean
      lookup_ok: boolean
    }[]
    for (const k of list) {
      it(k.name, async () => {
        const r = await checkCase(c.dir, k)
        const code = STRICT_CODES[k.name]
        if (code !== undefined) expect(r.strict?.code).toBe(code)
        // lenient mode reports what it tolerated
        if (k.dump_ok) expect(r.warnings.length).toBeGreaterThan(0)
      })
    }
  }
})
