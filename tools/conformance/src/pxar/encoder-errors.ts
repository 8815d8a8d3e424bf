import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isPxarError } from '@pxar/format'
import { fail, type PxarCase, type PxarVariant } from '../types.ts'
import { replayOps } from './ops.ts'

interface ErrorCase {
  readonly name: string
  readonly format?: string
  readonly ops: Record<string, unknown>[]
  readonly pxar_error?: string
}

const ENCODER_CODES = new Set(['ERR_PXAR_ENCODER_INVALID', 'ERR_PXAR_ENCODER_STATE'])

/** Outcome of one encoder-error case: the code we threw, or a reason it failed. */
export function checkEncoderErrorCase(
  e: ErrorCase,
): { ok: true; code: string } | { ok: false; reason: string } {
  const variant: PxarVariant = e.format === 'v2' ? 'v2' : 'v1'
  try {
    replayOps(e.ops, variant)
  } catch (err) {
    const cause = err instanceof Error && err.cause !== undefined ? err.cause : err
    if (isPxarError(cause) && ENCODER_CODES.has(cause.code)) return { ok: true, code: cause.code }
    return { ok: false, reason: `threw ${String(err)} instead of an encoder PxarError` }
  }
  return { ok: false, reason: `accepted ops pxar rejects (${e.pxar_error ?? '?'})` }
}

/** cases.json: op lists pxar rejects; our encoder must throw ERR_PXAR_ENCODER_* for each. */
export async function run(c: PxarCase): Promise<void> {
  const cases = JSON.parse(readFileSync(join(c.dir, 'cases.json'), 'utf8')) as ErrorCase[]
  const failures: string[] = []
  for (const e of cases) {
    const r = checkEncoderErrorCase(e)
    if (!r.ok) failures.push(`${e.name}: ${r.reason}`)
  }
  if (failures.length > 0) fail(failures.join('; '))
  if (cases.length === 0) fail('no cases')
}
