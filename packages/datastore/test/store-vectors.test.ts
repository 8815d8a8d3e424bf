// Runs the PBS vector cases of the store categories through the conformance handlers.
import { describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import { listPbsCases, pbsCaseName, runPbsCase } from '../../../tools/conformance/src/run.ts'

const STORE_CATEGORIES = new Set([
  'canonical-json',
  'catalog',
  'manifest-sign',
  'manifest-verify',
  'datastore-manifest',
  'datastore',
])

describe('PBS store vectors', () => {
  const cases = listPbsCases(vectorsDir('pbs')).filter((c) => STORE_CATEGORIES.has(c.category))
  it('has cases', () => expect(cases.length).toBeGreaterThan(0))
  for (const c of cases) {
    it(pbsCaseName(c), async () => {
      const r = await runPbsCase(c)
      expect(r.reason ?? 'ok').toBe('ok')
    })
  }
})
