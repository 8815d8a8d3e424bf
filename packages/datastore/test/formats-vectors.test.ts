// Runs the PBS vector cases of the formats categories (keys, blobs, digests, indexes) through the
// conformance handlers, one test per case.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import * as blob from '../../../tools/conformance/src/pbs/blob.ts'
import * as digest from '../../../tools/conformance/src/pbs/digest.ts'
import * as indexFiles from '../../../tools/conformance/src/pbs/index-files.ts'
import * as keys from '../../../tools/conformance/src/pbs/keys.ts'
import type { PbsCase } from '../../../tools/conformance/src/types.ts'

const HANDLERS: Record<string, (c: PbsCase) => Promise<void>> = {
  key: keys.key,
  'key-wrong-password': keys.keyWrongPassword,
  'key-wrong-fingerprint': keys.keyWrongFingerprint,
  'blob-encode': blob.blobEncode,
  'blob-decode': blob.blobDecode,
  digest: digest.digest,
  didx: indexFiles.didx,
  fidx: indexFiles.fidx,
}

const root = vectorsDir('pbs')
const index = JSON.parse(readFileSync(join(root, 'index.json'), 'utf8')) as {
  cases: Record<string, unknown>[]
}
const cases: PbsCase[] = index.cases.map((raw) => ({
  root,
  category: String(raw.category),
  command: (raw.command as string[] | undefined) ?? [],
  inputs: (raw.inputs as string[] | undefined) ?? [],
  outputs: (raw.outputs as string[] | undefined) ?? [],
  expected: String(raw.expected),
  expect_error: raw.expect_error === true,
  raw,
}))

for (const [category, handler] of Object.entries(HANDLERS)) {
  describe(category, () => {
    for (const c of cases.filter((x) => x.category === category)) {
      it(c.expected, () => handler(c))
    }
  })
}
