// Runs the decode / lookups / decoder-errors conformance checks over every pxar vector case folder.
import { describe, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import * as decode from '../../../tools/conformance/src/pxar/decode.ts'
import { listPxarCases } from '../../../tools/conformance/src/run.ts'

const cases = listPxarCases(vectorsDir('pxar'))

describe('pxar vectors: decode', () => {
  for (const c of cases) {
    if (c.files.includes('archive.pxar') && c.files.includes('dump.json')) {
      it(`${c.name} v1`, () => decode.run(c, 'v1'))
    }
    if (c.files.includes('archive.mpxar') && c.files.includes('dump.v2.json')) {
      it(`${c.name} v2`, () => decode.run(c, 'v2'))
    }
  }
})
