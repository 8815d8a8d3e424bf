/**
 * The bounded fuzz run of the test suite: a few hundred structure-aware mutations per target
 * (fast-check with a fixed seed, so every run checks the same inputs), then every committed
 * regression input under `corpus/`.
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import { generateInput, readCorpus, runInput } from '../src/runner.ts'
import { TARGETS, type Target, targetByName } from '../src/target-list.ts'

const VECTORS = dirname(vectorsDir('pxar'))
const CORPUS = join(dirname(fileURLToPath(import.meta.url)), '..', 'corpus')
/** Seed of the in-suite run; `pnpm fuzz --seed 1515870810 --target NAME` explores the same inputs first. */
const RUN_SEED = 0x5a5a5a5a

/** Runs per target: cheap targets get more. */
const RUNS: Record<string, number> = {
  'pxar-decoder': 150,
  'pxar-decode': 150,
  'pxar-accessor': 100,
  blob: 100,
  didx: 300,
  fidx: 300,
  catalog: 200,
  manifest: 200,
  keyfile: 300,
  'canonical-json': 300,
  'agent-wire': 300,
  'agent-http': 40,
  'server-rest': 25,
  'server-backup': 8,
}

async function withTarget<T>(target: Target, fn: () => Promise<T>): Promise<T> {
  await target.setup?.(VECTORS)
  try {
    return await fn()
  } finally {
    await target.teardown?.()
  }
}

describe('bounded fuzz run', () => {
  for (const target of TARGETS) {
    it(`${target.name}: mutated vectors give typed errors, in time and bounded memory`, async () => {
      const seeds = target.seeds(VECTORS)
      expect(seeds.length).toBeGreaterThan(0)
      await withTarget(target, () =>
        fc.assert(
          fc.asyncProperty(fc.nat(), async (i) => {
            const outcome = await runInput(target, generateInput(target, seeds, RUN_SEED, i))
            if (outcome.kind === 'bug')
              throw new Error(
                `${target.name} input ${RUN_SEED}:${i} (${outcome.reason}): ${outcome.error}\n` +
                  `reproduce with generateInput(target, seeds, ${RUN_SEED}, ${i})`,
              )
          }),
          { seed: RUN_SEED, numRuns: RUNS[target.name] ?? 50, endOnFailure: true },
        ),
      )
    })
  }
})

describe('regression corpus', () => {
  const inputs = readCorpus(CORPUS)
  const byTarget = new Map<string, Uint8Array[]>()
  for (const c of inputs) byTarget.set(c.target, [...(byTarget.get(c.target) ?? []), c.bytes])

  it('names only known targets', () => {
    for (const name of byTarget.keys()) expect(() => targetByName(name)).not.toThrow()
  })

  for (const [name, list] of byTarget) {
    it(`${name}: ${list.length} stored inputs give typed errors`, async () => {
      const target = targetByName(name)
      await withTarget(target, async () => {
        for (const input of list) {
          const outcome = await runInput(target, input)
          expect(outcome.kind === 'bug' ? `${outcome.reason}: ${outcome.error}` : 'ok').toBe('ok')
        }
      })
    })
  }
})

describe('harness', () => {
  const seeds = [{ name: 'x', bytes: new Uint8Array(64).fill(7) }]
  const base = {
    description: 'test',
    seeds: () => seeds,
    mutate: (b: Uint8Array) => b,
    accepts: (err: unknown) => (err as { code?: unknown }).code === 'ERR_PXAR_SIZE',
  }

  it('generates the same input from the same seed and number', () => {
    const t = targetByName('pxar-decoder')
    const s = t.seeds(VECTORS)
    expect(generateInput(t, s, 7, 11)).toEqual(generateInput(t, s, 7, 11))
    expect(generateInput(t, s, 7, 11)).not.toEqual(generateInput(t, s, 7, 12))
  })

  it('flags untyped errors, hangs and allocations driven by the input', async () => {
    const untyped: Target = { ...base, name: 'u', run: async () => void JSON.parse('{') }
    expect((await runInput(untyped, new Uint8Array(1))).kind).toBe('bug')
    const typed: Target = {
      ...base,
      name: 't',
      run: async () => {
        throw Object.assign(new Error('x'), { code: 'ERR_PXAR_SIZE' })
      },
    }
    expect(await runInput(typed, new Uint8Array(1))).toEqual({ kind: 'typed', code: 'ERR_PXAR_SIZE' })
    const hang: Target = { ...base, name: 'h', timeMs: 50, run: () => new Promise(() => {}) }
    expect(await runInput(hang, new Uint8Array(1))).toMatchObject({ kind: 'bug', reason: 'hang' })
    let keep: Uint8Array | undefined
    const hog: Target = {
      ...base,
      name: 'm',
      run: async () => {
        keep = new Uint8Array(128 * 1024 * 1024).fill(1)
      },
    }
    expect(await runInput(hog, new Uint8Array(1))).toMatchObject({ kind: 'bug', reason: 'memory' })
    expect(keep?.length).toBe(128 * 1024 * 1024)
    keep = undefined
    // a buffer sized from the input and dropped at once is caught too
    const transient: Target = {
      ...base,
      name: 'a',
      run: async (input) => {
        void Buffer.allocUnsafeSlow(input.length * 1024 * 1024).length
      },
    }
    expect(await runInput(transient, new Uint8Array(40))).toMatchObject({ kind: 'bug', reason: 'memory' })
    expect((await runInput(transient, new Uint8Array(4))).kind).toBe('ok')
  })
})
