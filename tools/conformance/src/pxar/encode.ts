import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fail, type PxarCase, type PxarVariant } from '../types.ts'
import { opsList, replayOps } from './ops.ts'

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i
  return a.length === b.length ? -1 : n
}

function compare(what: string, got: Uint8Array, want: Uint8Array): void {
  const at = firstDifference(got, want)
  if (at >= 0) fail(`${what}: ${got.length} bytes vs ${want.length} expected, first difference at byte ${at}`)
}

/** Replays ops.json with our encoder and compares the bytes with the archive(s) pxar wrote. */
export async function run(c: PxarCase, variant: PxarVariant): Promise<void> {
  const ops = opsList(JSON.parse(readFileSync(join(c.dir, 'ops.json'), 'utf8')))
  const { archive, payload } = replayOps(ops, variant)
  if (variant === 'v1') {
    compare('archive.pxar', archive, new Uint8Array(readFileSync(join(c.dir, 'archive.pxar'))))
  } else {
    compare('archive.mpxar', archive, new Uint8Array(readFileSync(join(c.dir, 'archive.mpxar'))))
    compare(
      'archive.ppxar',
      payload ?? new Uint8Array(0),
      new Uint8Array(readFileSync(join(c.dir, 'archive.ppxar'))),
    )
  }
}
