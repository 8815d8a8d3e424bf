import type { PxarCase, PxarVariant } from '../types.ts'
import * as decode from './decode.ts'
import * as decoderErrors from './decoder-errors.ts'
import * as encode from './encode.ts'
import * as encoderErrors from './encoder-errors.ts'
import * as hashAndBst from './hash-and-bst.ts'
import * as lookups from './lookups.ts'

export interface PxarCheck {
  readonly label: string
  run(c: PxarCase): Promise<void>
}

/** The checks a case folder calls for, decided by the files it holds. */
export function checksFor(c: PxarCase): PxarCheck[] {
  const has = (f: string) => c.files.includes(f)
  const checks: PxarCheck[] = []
  const variants: [PxarVariant, string, string][] = [
    ['v1', 'archive.pxar', ''],
    ['v2', 'archive.mpxar', '.v2'],
  ]
  for (const [variant, archive, suffix] of variants) {
    if (!has(archive)) continue
    if (has('ops.json')) checks.push({ label: `encode ${variant}`, run: (x) => encode.run(x, variant) })
    if (has(`dump${suffix}.json`))
      checks.push({ label: `decode ${variant}`, run: (x) => decode.run(x, variant) })
    if (has(`lookups${suffix}.json`))
      checks.push({ label: `lookups ${variant}`, run: (x) => lookups.run(x, variant) })
  }
  if (has('hashes.json') || has('bst.json')) checks.push({ label: 'hash-and-bst', run: hashAndBst.run })
  if (has('cases.json')) {
    if (c.files.some((f) => f.endsWith('.pxar') || f.endsWith('.mpxar')))
      checks.push({ label: 'decoder-errors', run: decoderErrors.run })
    else checks.push({ label: 'encoder-errors', run: encoderErrors.run })
  }
  return checks
}
