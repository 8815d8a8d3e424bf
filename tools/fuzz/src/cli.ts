/**
 * `pnpm fuzz [--minutes N] [--target NAME[,NAME…]] [--seed S] [--corpus DIR] [--vectors DIR]`:
 * long fuzzing runs. The time is shared evenly by the selected targets; each target runs in a
 * worker thread watched by this thread, so that a synchronous hang or a crash of the worker is
 * caught too (the input is regenerated from the run seed and its number). Every failing input is
 * written to `corpus/<target>/<sha256>.bin` (with a `.json` describing the failure), at most
 * `--keep` inputs per distinct failure signature.
 *
 * Exit status: 0 no failure, 1 failures were found, 2 bad usage.
 */
import { existsSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import {
  DEFAULT_LIMITS,
  failureSignature,
  generateInput,
  type Outcome,
  runInput,
  saveFailure,
} from './runner.ts'
import { TARGETS, type Target, targetByName } from './target-list.ts'

const HERE = dirname(fileURLToPath(import.meta.url))
const PACKAGE_DIR = resolve(HERE, '..')

/** Where the shared vectors are: `PXAR_SHARED_DIR/vectors`, else `../shared/vectors` beside the repository. */
function defaultVectors(): string {
  const shared = process.env.PXAR_SHARED_DIR
    ? resolve(process.env.PXAR_SHARED_DIR)
    : resolve(PACKAGE_DIR, '..', '..', '..', 'shared')
  return resolve(shared, 'vectors')
}

interface WorkerJob {
  readonly target: string
  readonly vectors: string
  readonly runSeed: number
  readonly start: number
  readonly deadline: number
  readonly progress: SharedArrayBuffer
}

type WorkerMessage =
  | { readonly type: 'failure'; readonly i: number; readonly outcome: Outcome }
  | { readonly type: 'done'; readonly executions: number; readonly typed: Record<string, number> }

/** The worker side: runs inputs `start, start+1, …` until the deadline. */
async function workerMain(job: WorkerJob): Promise<void> {
  const target = targetByName(job.target)
  const progress = new Int32Array(job.progress)
  const seeds = target.seeds(job.vectors)
  await target.setup?.(job.vectors)
  const typed: Record<string, number> = {}
  let executions = 0
  try {
    for (let i = job.start; Date.now() < job.deadline; i++) {
      Atomics.store(progress, 0, i)
      Atomics.store(progress, 1, 1) // running
      const input = generateInput(target, seeds, job.runSeed, i)
      const outcome = await runInput(target, input)
      Atomics.store(progress, 1, 0)
      executions++
      if (outcome.kind === 'typed') typed[outcome.code] = (typed[outcome.code] ?? 0) + 1
      else if (outcome.kind === 'bug')
        parentPort!.postMessage({ type: 'failure', i, outcome } satisfies WorkerMessage)
    }
  } finally {
    await target.teardown?.()
  }
  parentPort!.postMessage({ type: 'done', executions, typed } satisfies WorkerMessage)
}

interface TargetReport {
  executions: number
  failures: number
  saved: number
  restarts: number
  typed: Record<string, number>
}

/** Runs one target for `ms` milliseconds in workers, restarting after a hang or a crash. */
async function fuzzTarget(
  target: Target,
  options: { vectors: string; corpus: string; runSeed: number; ms: number; keep: number },
): Promise<TargetReport> {
  const seeds = target.seeds(options.vectors)
  const report: TargetReport = { executions: 0, failures: 0, saved: 0, restarts: 0, typed: {} }
  const perSignature = new Map<string, number>()
  const record = (i: number, outcome: Outcome): void => {
    report.failures++
    const sig = failureSignature(outcome)
    const n = perSignature.get(sig) ?? 0
    perSignature.set(sig, n + 1)
    if (n === 0 && outcome.kind === 'bug')
      process.stdout.write(`  FAIL ${target.name} #${i} ${outcome.reason}: ${outcome.error.split('\n')[0]}\n`)
    if (n >= options.keep || outcome.kind !== 'bug') return
    const input = generateInput(target, seeds, options.runSeed, i)
    saveFailure(options.corpus, target.name, input, {
      reason: outcome.reason,
      error: outcome.error,
      origin: `${options.runSeed}:${i}`,
    })
    report.saved++
  }
  const deadline = Date.now() + options.ms
  // a stuck input is one that runs this long (the in-worker limit catches slow async inputs first)
  const hangMs = Math.max(4 * (target.timeMs ?? DEFAULT_LIMITS.timeMs), 20_000)
  // the process may use this much before a running input is blamed (baseline plus 3 GiB)
  const rssLimit = process.memoryUsage.rss() + 3 * 1024 ** 3
  let start = 0
  while (Date.now() < deadline - 250) {
    const progress = new SharedArrayBuffer(8)
    const state = new Int32Array(progress)
    const job: WorkerJob = {
      target: target.name,
      vectors: options.vectors,
      runSeed: options.runSeed,
      start,
      deadline,
      progress,
    }
    const result = await new Promise<{ done: boolean; next: number; error?: Error }>((resolveRun) => {
      const worker = new Worker(workerBootstrap(), {
        eval: true,
        workerData: job,
        resourceLimits: { maxOldGenerationSizeMb: 2048 },
      })
      let last = -1
      let since = Date.now()
      let settled = false
      const finish = (r: { done: boolean; next: number; error?: Error }): void => {
        if (settled) return
        settled = true
        clearInterval(watchdog)
        resolveRun(r)
      }
      const watchdog = setInterval(() => {
        const i = Atomics.load(state, 0)
        const running = Atomics.load(state, 1) === 1
        const rss = process.memoryUsage.rss()
        if (running && rss > rssLimit) {
          // buffers live outside the worker's heap cap: stop a runaway input from out here
          record(i, {
            kind: 'bug',
            reason: 'memory',
            error: `process RSS reached ${rss} bytes (worker stopped)`,
          })
          report.restarts++
          report.executions += i - start + 1
          void worker.terminate()
          finish({ done: false, next: i + 1 })
          return
        }
        if (i !== last || !running) {
          last = i
          since = Date.now()
          return
        }
        if (Date.now() - since > hangMs) {
          record(i, {
            kind: 'bug',
            reason: 'hang',
            error: `input ran for more than ${hangMs} ms (worker stopped)`,
          })
          report.restarts++
          report.executions += i - start + 1
          void worker.terminate()
          finish({ done: false, next: i + 1 })
        }
      }, 200)
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'failure') record(m.i, m.outcome)
        else {
          report.executions += m.executions
          for (const [k, v] of Object.entries(m.typed)) report.typed[k] = (report.typed[k] ?? 0) + v
          finish({ done: true, next: 0 })
        }
      })
      worker.on('error', (err) => {
        if (settled) return
        const i = Atomics.load(state, 0)
        if (Atomics.load(state, 1) === 0 && i === 0 && start === 0) {
          // not an input's fault: the target could not start
          finish({ done: true, next: 0, error: err })
          return
        }
        record(i, { kind: 'bug', reason: 'crash', error: `worker died: ${err.stack ?? err.message}` })
        report.restarts++
        report.executions += i - start + 1
        finish({ done: false, next: i + 1 })
      })
      worker.on('exit', (code) => {
        if (settled) return
        const i = Atomics.load(state, 0)
        record(i, { kind: 'bug', reason: 'crash', error: `worker exited with code ${code}` })
        report.restarts++
        report.executions += i - start + 1
        finish({ done: false, next: i + 1 })
      })
    })
    if (result.error) throw new Error(`target ${target.name} failed to start: ${result.error.message}`)
    if (result.done) break
    start = result.next
  }
  return report
}

/**
 * The worker's code: this module, loaded through tsx's loader when the CLI runs from source
 * (workers do not inherit the main thread's module hooks).
 */
function workerBootstrap(): string {
  const self = JSON.stringify(import.meta.url)
  if (!import.meta.url.endsWith('.ts')) return `import(${self})`
  const api = JSON.stringify(import.meta.resolve('tsx/esm/api'))
  return `import(${api}).then((m) => { m.register(); return import(${self}) })`
}

function usage(): string {
  return [
    'usage: pnpm fuzz [--minutes N] [--target NAME[,NAME...]] [--seed S] [--keep N]',
    '                 [--corpus DIR] [--vectors DIR] [--list]',
    '',
    `targets: ${TARGETS.map((t) => t.name).join(', ')}`,
    '',
  ].join('\n')
}

async function main(argv: string[]): Promise<number> {
  let minutes = 1
  let names: string[] = TARGETS.map((t) => t.name)
  let runSeed = (Math.random() * 0x1_0000_0000) >>> 0
  let corpus = resolve(PACKAGE_DIR, 'corpus')
  let vectors = defaultVectors()
  let keep = 5
  for (let k = 0; k < argv.length; k++) {
    const arg = argv[k]!
    const value = (): string => {
      const v = argv[++k]
      if (v === undefined) throw new RangeError(`${arg} needs a value`)
      return v
    }
    switch (arg) {
      case '--':
        break
      case '--minutes':
        minutes = Number(value())
        if (!(minutes > 0)) throw new RangeError('--minutes must be a positive number')
        break
      case '--target':
        names = value().split(',').filter(Boolean)
        for (const n of names) targetByName(n)
        break
      case '--seed':
        runSeed = Number(value()) >>> 0
        break
      case '--keep':
        keep = Number(value())
        break
      case '--corpus':
        corpus = resolve(value())
        break
      case '--vectors':
        vectors = resolve(value())
        break
      case '--list':
        for (const t of TARGETS) process.stdout.write(`${t.name.padEnd(16)} ${t.description}\n`)
        return 0
      case '-h':
      case '--help':
        process.stdout.write(usage())
        return 0
      default:
        throw new RangeError(`unknown argument ${arg}`)
    }
  }
  if (!existsSync(vectors))
    throw new RangeError(`vectors not found at ${vectors} (use --vectors or PXAR_SHARED_DIR)`)
  const ms = (minutes * 60_000) / names.length
  process.stdout.write(`fuzz: seed ${runSeed}, ${names.length} targets, ${(ms / 1000).toFixed(0)} s each\n`)
  let failures = 0
  for (const name of names) {
    const t0 = Date.now()
    const r = await fuzzTarget(targetByName(name), { vectors, corpus, runSeed, ms, keep })
    const secs = (Date.now() - t0) / 1000
    const typed = Object.entries(r.typed)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4)
      .map(([c, n]) => `${c} ${n}`)
      .join(', ')
    process.stdout.write(
      `${name.padEnd(16)} ${String(r.executions).padStart(8)} execs ${(r.executions / secs).toFixed(0).padStart(6)}/s  ` +
        `${r.failures} failures (${r.saved} saved, ${r.restarts} restarts)  ${typed}\n`,
    )
    failures += r.failures
  }
  process.stdout.write(failures === 0 ? 'no failures\n' : `${failures} failures, inputs in ${corpus}\n`)
  return failures === 0 ? 0 : 1
}

if (isMainThread) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (err: unknown) => {
      process.stderr.write(`fuzz: ${err instanceof Error ? err.message : String(err)}\n${usage()}`)
      process.exitCode = 2
    },
  )
} else {
  void workerMain(workerData as WorkerJob)
}
