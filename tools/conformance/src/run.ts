import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { PBS_HANDLERS } from './pbs/index.ts'
import { checksFor } from './pxar/index.ts'
import type { PbsCase, PxarCase } from './types.ts'

export interface CaseResult {
  readonly name: string
  readonly ok: boolean
  readonly reason?: string
}

function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name === 'CheckFailure' ? '' : `${err.name}: `}${err.message}`
  return String(err)
}

/** Lists the case folders of a pxar vector directory, sorted by name. */
export function listPxarCases(dir: string): PxarCase[] {
  const root = resolve(dir)
  return readdirSync(root)
    .filter((name) => statSync(join(root, name)).isDirectory())
    .sort()
    .map((name) => {
      const caseDir = join(root, name)
      const files = readdirSync(caseDir).sort()
      let meta: Record<string, unknown> | undefined
      if (files.includes('case.json')) meta = JSON.parse(readFileSync(join(caseDir, 'case.json'), 'utf8'))
      return { dir: caseDir, name, files, meta }
    })
}

/** Runs every check a pxar case folder calls for. */
export async function runPxarCase(c: PxarCase): Promise<CaseResult> {
  const checks = checksFor(c)
  if (checks.length === 0) return { name: c.name, ok: false, reason: 'no recognised vector files in folder' }
  for (const check of checks) {
    try {
      await check.run(c)
    } catch (err) {
      return { name: c.name, ok: false, reason: `${check.label}: ${describeError(err)}` }
    }
  }
  return { name: c.name, ok: true }
}

/** Reads `<dir>/index.json` of a PBS vector directory. */
export function listPbsCases(dir: string): PbsCase[] {
  const root = resolve(dir)
  const index = JSON.parse(readFileSync(join(root, 'index.json'), 'utf8')) as { cases?: unknown }
  if (!Array.isArray(index.cases)) throw new Error(`${join(root, 'index.json')}: no "cases" array`)
  return index.cases.map((raw: Record<string, unknown>) => ({
    root,
    category: String(raw.category),
    command: (raw.command as string[] | undefined) ?? [],
    inputs: (raw.inputs as string[] | undefined) ?? [],
    outputs: (raw.outputs as string[] | undefined) ?? [],
    expected: String(raw.expected),
    expect_error: raw.expect_error === true,
    raw,
  }))
}

/** Display name of a PBS case: category and expected file (unique per case). */
export function pbsCaseName(c: PbsCase): string {
  return `${c.category} ${c.expected}`
}

export async function runPbsCase(c: PbsCase): Promise<CaseResult> {
  const name = pbsCaseName(c)
  const handler = PBS_HANDLERS[c.category]
  if (!handler) return { name, ok: false, reason: `unknown category ${c.category}` }
  try {
    await handler(c)
    return { name, ok: true }
  } catch (err) {
    return { name, ok: false, reason: describeError(err) }
  }
}
