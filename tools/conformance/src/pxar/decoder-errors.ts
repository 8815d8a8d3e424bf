import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isPxarError, type PxarError } from '@pxar/format'
import { fail, type PxarCase } from '../types.ts'
import { dumpArchive } from './decode.ts'
import { runLookups } from './lookups.ts'

interface ErrorCase {
  readonly name: string
  readonly file: string
  readonly dump_ok: boolean
  readonly lookup_ok: boolean
}

/** Runs `fn`; returns the PxarError it threw, `undefined` when it succeeded; rethrows anything else. */
async function outcome(fn: () => Promise<unknown>): Promise<PxarError | undefined> {
  try {
    await fn()
    return undefined
  } catch (err) {
    if (isPxarError(err)) return err
    throw err
  }
}

/** Per case: what our strict decoder, lenient decoder and accessor did. */
export interface DecoderErrorResult {
  readonly name: string
  readonly strict: PxarError | undefined
  readonly lenient: PxarError | undefined
  readonly warnings: readonly PxarError[]
  readonly lookup: PxarError | undefined
}

export async function checkCase(dir: string, k: ErrorCase): Promise<DecoderErrorResult> {
  const bytes = readFileSync(join(dir, k.file))
  // strict: every corruption is an error
  const strict = await outcome(() => dumpArchive(bytes))
  if (strict === undefined) fail(`${k.name}: strict decoder accepted a corrupted archive`)
  if (typeof (strict as { offset?: unknown }).offset !== 'number')
    fail(`${k.name}: error without offset: ${strict.message}`)
  // lenient (onWarning): accepts exactly what upstream's decoder accepts
  const warnings: PxarError[] = []
  const lenient = await outcome(() => dumpArchive(bytes, undefined, { onWarning: (w) => warnings.push(w) }))
  if ((lenient === undefined) !== k.dump_ok) {
    fail(
      `${k.name}: lenient decode ${lenient ? `failed (${lenient.code}: ${lenient.message})` : 'succeeded'}, upstream dump_ok=${k.dump_ok}`,
    )
  }
  const lookup = await outcome(() => runLookups(bytes, undefined, [{ query: '/' }, { query: '/hello.txt' }]))
  if ((lookup === undefined) !== k.lookup_ok) {
    fail(
      `${k.name}: lookups ${lookup ? `failed (${lookup.code}: ${lookup.message})` : 'succeeded'}, upstream lookup_ok=${k.lookup_ok}`,
    )
  }
  return { name: k.name, strict, lenient, warnings, lookup }
}

export async function run(c: PxarCase): Promise<void> {
  const cases = JSON.parse(readFileSync(join(c.dir, 'cases.json'), 'utf8')) as ErrorCase[]
  for (const k of cases) await checkCase(c.dir, k)
}
