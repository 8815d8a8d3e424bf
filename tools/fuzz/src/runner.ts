/**
 * Runs inputs through a target and classifies the outcome; deterministic input generation; the
 * regression corpus on disk.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { iterationSeed, makeRng } from './mutate.ts'
import type { Seed, Target } from './targets.ts'

/** Result of one execution. */
export type Outcome =
  | { readonly kind: 'ok' }
  | { readonly kind: 'typed'; readonly code: string }
  | {
      readonly kind: 'bug'
      readonly reason: 'exception' | 'hang' | 'slow' | 'memory' | 'crash'
      readonly error: string
    }

/** Limits of one execution. */
export interface RunLimits {
  /**
   * Wall time per input. An input whose promise has not settled by then is a `hang`; one that
   * settled late (a synchronous loop blocks the timer) is `slow`. Hard hangs in synchronous code
   * are caught by the CLI's worker watchdog.
   */
  readonly timeMs: number
  /** Growth of `arrayBuffers` memory allowed across one input. */
  readonly arrayBufferBytes: number
  /** Growth of the JS heap allowed across one input. */
  readonly heapBytes: number
  /**
   * Largest single buffer one input may make allocate: `max(allocationBytes, allocationFactor ×
   * input length)`. Buffers sized from a length field that nothing checked show up here even when
   * they are freed before the input ends.
   */
  readonly allocationBytes: number
  readonly allocationFactor: number
}

/** Defaults: 5 s, 64 MiB of ArrayBuffers, 256 MiB of heap, single buffers up to 16 MiB or 32× the input. */
export const DEFAULT_LIMITS: RunLimits = {
  timeMs: 5000,
  arrayBufferBytes: 64 * 1024 * 1024,
  heapBytes: 256 * 1024 * 1024,
  allocationBytes: 16 * 1024 * 1024,
  allocationFactor: 32,
}

/** Records the largest buffer allocated through the global constructors and `Buffer` factories. */
interface AllocationProbe {
  largest: number
  /** What allocated it (constructor name and size). */
  what: string
}

let probe: AllocationProbe | undefined

const TYPED_ARRAYS = [
  'ArrayBuffer',
  'SharedArrayBuffer',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int8Array',
  'Uint16Array',
  'Int16Array',
  'Uint32Array',
  'Int32Array',
  'Float32Array',
  'Float64Array',
  'BigUint64Array',
  'BigInt64Array',
] as const

/**
 * Installs the allocation probe once per thread: the global typed-array and ArrayBuffer
 * constructors become proxies that note numeric lengths (in bytes), and `Buffer.alloc`,
 * `allocUnsafe`, `allocUnsafeSlow` note their sizes. Behaviour is otherwise unchanged.
 */
function installProbe(): AllocationProbe {
  if (probe) return probe
  const p: AllocationProbe = { largest: 0, what: '' }
  const note = (what: string, n: unknown, unit: number): void => {
    if (typeof n !== 'number' || !(n * unit > p.largest)) return
    p.largest = n * unit
    p.what = `${what}(${n})`
  }
  const g = globalThis as unknown as Record<string, unknown>
  for (const name of TYPED_ARRAYS) {
    const ctor = g[name] as (new (...args: unknown[]) => object) & { BYTES_PER_ELEMENT?: number }
    if (typeof ctor !== 'function') continue
    const unit = ctor.BYTES_PER_ELEMENT ?? 1
    g[name] = new Proxy(ctor, {
      construct(target, args, newTarget) {
        note(name, args[0], unit)
        return Reflect.construct(target, args, newTarget)
      },
    })
  }
  for (const name of ['alloc', 'allocUnsafe', 'allocUnsafeSlow'] as const) {
    const orig = Buffer[name] as (size: number, ...rest: unknown[]) => Buffer
    Object.defineProperty(Buffer, name, {
      configurable: true,
      writable: true,
      value: function (this: unknown, size: number, ...rest: unknown[]) {
        note(`Buffer.${name}`, size, 1)
        return orig.call(this, size, ...rest)
      },
    })
  }
  probe = p
  return p
}

function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}\n${err.stack ?? ''}`
  return String(err)
}

const HANG = Symbol('hang')

/**
 * Runs `input` through `target`. Success or an error the target accepts (a typed `PxarError`
 * unless the target says otherwise) is fine; any other exception, a run over the time limit, or
 * memory growth over the limits is a bug.
 */
export async function runInput(
  target: Target,
  input: Uint8Array,
  limits: RunLimits = DEFAULT_LIMITS,
): Promise<Outcome> {
  const timeMs = target.timeMs ?? limits.timeMs
  const allocations = installProbe()
  allocations.largest = 0
  allocations.what = ''
  const mem0 = process.memoryUsage()
  const t0 = performance.now()
  let outcome: Outcome
  let timer: NodeJS.Timeout | undefined
  try {
    const hang = new Promise<typeof HANG>((resolve) => {
      timer = setTimeout(() => resolve(HANG), timeMs)
    })
    const r = await Promise.race([target.run(input), hang])
    outcome =
      r === HANG
        ? { kind: 'bug', reason: 'hang', error: `did not finish within ${timeMs} ms` }
        : { kind: 'ok' }
  } catch (err) {
    outcome = target.accepts(err)
      ? { kind: 'typed', code: String((err as { code?: unknown }).code ?? (err as Error).name) }
      : { kind: 'bug', reason: 'exception', error: describe(err) }
  } finally {
    clearTimeout(timer)
  }
  const ms = performance.now() - t0
  if (outcome.kind === 'bug') return outcome
  if (ms > timeMs) {
    return { kind: 'bug', reason: 'slow', error: `took ${ms.toFixed(0)} ms (limit ${timeMs} ms)` }
  }
  const allowed = Math.max(limits.allocationBytes, limits.allocationFactor * input.length)
  if (allocations.largest > allowed) {
    return {
      kind: 'bug',
      reason: 'memory',
      error: `allocated ${allocations.what} for a ${input.length}-byte input (limit ${allowed} bytes)`,
    }
  }
  const mem1 = process.memoryUsage()
  const buffers = mem1.arrayBuffers - mem0.arrayBuffers
  if (buffers > limits.arrayBufferBytes) {
    return {
      kind: 'bug',
      reason: 'memory',
      error: `ArrayBuffer memory grew by ${buffers} bytes for a ${input.length}-byte input (limit ${limits.arrayBufferBytes})`,
    }
  }
  const heap = mem1.heapUsed - mem0.heapUsed
  if (heap > limits.heapBytes) {
    return {
      kind: 'bug',
      reason: 'memory',
      error: `heap grew by ${heap} bytes for a ${input.length}-byte input (limit ${limits.heapBytes})`,
    }
  }
  return outcome
}

/**
 * Input number `i` of a run with seed `runSeed`: a mutation of one of the seeds. A pure function
 * of its arguments, so a run can be reproduced (and a hanging input regenerated) from `(runSeed, i)`.
 */
export function generateInput(
  target: Target,
  seeds: readonly Seed[],
  runSeed: number,
  i: number,
): Uint8Array {
  if (seeds.length === 0) throw new RangeError(`target ${target.name} has no seeds`)
  const rng = makeRng(iterationSeed(runSeed, i))
  const seed = seeds[rng.below(seeds.length)]!
  return target.mutate(seed.bytes, rng)
}

/** SHA-256 of an input, lowercase hex: its file name in the corpus. */
export function inputId(input: Uint8Array): string {
  return createHash('sha256').update(input).digest('hex')
}

/** What is stored beside a corpus input (`<id>.json`). */
export interface FailureInfo {
  readonly reason: string
  readonly error: string
  /** `runSeed:i` of the run that found it, when known. */
  readonly origin?: string
}

/** Writes a failing input as `<dir>/<target>/<sha256>.bin` plus a `.json` describing it; returns the path. */
export function saveFailure(corpusDir: string, target: string, input: Uint8Array, info: FailureInfo): string {
  const dir = join(corpusDir, target)
  mkdirSync(dir, { recursive: true })
  const id = inputId(input)
  const path = join(dir, `${id}.bin`)
  writeFileSync(path, input)
  const meta = {
    target,
    reason: info.reason,
    error: repoRelative(info.error.split('\n').slice(0, 8).join('\n')),
    ...(info.origin === undefined ? {} : { origin: info.origin }),
  }
  writeFileSync(join(dir, `${id}.json`), `${JSON.stringify(meta, null, 2)}\n`)
  return path
}

/** Stack frames name files relative to the repository (no machine paths in the corpus). */
export function repoRelative(text: string): string {
  return text.replace(/(?:file:\/\/)?\/[^\s()'"]*?\/((?:packages|tools|apps|scripts)\/)/g, '$1')
}

/** A stored regression input. */
export interface CorpusInput {
  readonly target: string
  readonly name: string
  readonly bytes: Uint8Array
}

/** Every `<dir>/<target>/*.bin`, sorted. */
export function readCorpus(corpusDir: string): CorpusInput[] {
  if (!existsSync(corpusDir)) return []
  const out: CorpusInput[] = []
  for (const target of readdirSync(corpusDir).sort()) {
    const dir = join(corpusDir, target)
    let names: string[]
    try {
      names = readdirSync(dir)
    } catch {
      continue
    }
    for (const name of names.filter((n) => n.endsWith('.bin')).sort()) {
      out.push({ target, name, bytes: new Uint8Array(readFileSync(join(dir, name))) })
    }
  }
  return out
}

/** A short signature of a failure (reason, first message line, first stack frame) for de-duplication. */
export function failureSignature(outcome: Outcome): string {
  if (outcome.kind !== 'bug') return outcome.kind
  const lines = outcome.error.split('\n')
  const frame = lines.find((l) => l.trim().startsWith('at ')) ?? ''
  const first = (lines[0] ?? '').replace(/\d+/g, 'N')
  return `${outcome.reason}|${first}|${frame.trim().replace(/:\d+:\d+\)?$/, '')}`
}
