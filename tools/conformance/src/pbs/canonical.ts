import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseJson, canonicalJson as toCanonical } from '@pxar/datastore'
import { fail, type PbsCase } from '../types.ts'

/** `canonical-json`: canonicalize the input file, compare with the expected string. */
export async function canonicalJson(c: PbsCase): Promise<void> {
  const input = c.inputs[0]
  if (!input) fail('case has no input')
  const got = toCanonical(parseJson(readFileSync(join(c.root, input), 'utf8')))
  const expected = (JSON.parse(readFileSync(join(c.root, c.expected), 'utf8')) as { canonical: string })
    .canonical
  if (got !== expected) fail(`canonical JSON differs:\n  got      ${got}\n  expected ${expected}`)
}
