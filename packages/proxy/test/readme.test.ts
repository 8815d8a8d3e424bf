import { join } from 'node:path'
import { expect, it } from 'vitest'
import { runReadmeExamples } from '../../../scripts/readme-examples.ts'

it('the README examples run and print what the README shows', async () => {
  const runs = await runReadmeExamples(join(import.meta.dirname, '..'))
  expect(runs.length).toBeGreaterThan(0)
  for (const r of runs) {
    expect(r.example.output, `README example at line ${r.example.line} has no output block`).toBeDefined()
    expect(r.stdout, `README example at line ${r.example.line}`).toBe(r.example.output)
  }
}, 180_000)
