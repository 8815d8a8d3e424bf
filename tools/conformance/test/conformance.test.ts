import { describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import { listPbsCases, listPxarCases, pbsCaseName, runPbsCase, runPxarCase } from '../src/index.ts'

describe('pxar vectors', () => {
  for (const c of listPxarCases(vectorsDir('pxar'))) {
    it(c.name, async () => {
      const r = await runPxarCase(c)
      expect(r.reason ?? 'ok').toBe('ok')
    })
  }
})

describe('pbs vectors', () => {
  for (const c of listPbsCases(vectorsDir('pbs'))) {
    it(pbsCaseName(c), async () => {
      const r = await runPbsCase(c)
      expect(r.reason ?? 'ok').toBe('ok')
    })
  }
})
