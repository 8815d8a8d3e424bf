/**
 * `pnpm bench:compare`: pxar-cli against restic and borgbackup on seeded datasets.
 *
 * Prints a Markdown table, writes `compare.json` and `compare.svg` to `--out`, and with
 * `--update-docs` refreshes the results section of `docs/benchmarks.md` (and its chart).
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { type DatasetName, parseDatasetName } from './datasets.ts'
import { type CompareReport, computeRatios, computeTargets, runCompare } from './harness.ts'
import { renderMarkdown, renderSvg } from './report.ts'
import { installMissing, type PxarCli, parseTools } from './tools.ts'

/** The repository root (three levels above this file). */
export const REPO_ROOT: string = fileURLToPath(new URL('../../../', import.meta.url))

const USAGE = `usage: pnpm bench:compare [options]

  --scale N        dataset scale, 1 = full size (default 1)
  --datasets LIST  mixed,small,big or a,b,c (default all)
  --tools LIST     pxar-legacy,pxar-data,pxar-metadata,pxar-metadata-enc,restic,borg, pxar or all (default all)
  --runs N         repeats per measurement, the median is reported (default 3)
  --seed N         dataset seed (default 1)
  --work DIR       datasets and repositories (default: $TMPDIR/pxar-bench-compare)
  --out DIR        where compare.json and compare.svg go (default tools/bench/results)
  --cli KIND       dist (built CLI, default) or source (through tsx)
  --pxar-cli FILE  a built pxar-cli main.js to measure instead (e.g. of a clean checkout; no build)
  --no-build       do not build (tsc -b) before measuring the dist CLI
  --no-install     do not apt-get install missing restic/borgbackup/time
  --update-docs    rewrite the results section of docs/benchmarks.md and docs/benchmarks.svg
  --from-json FILE render a saved compare.json again (table, SVG, docs) without measuring
`

/** Output channels of {@link main}. */
export interface MainIo {
  readonly stdout: (text: string) => void
  readonly stderr: (text: string) => void
}

function writeAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true })
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, text)
  renameSync(tmp, path)
}

function positiveNumber(name: string, text: string): number {
  const n = Number(text)
  if (!Number.isFinite(n) || n <= 0)
    throw new Error(`--${name} needs a positive number, got ${JSON.stringify(text)}`)
  return n
}

/** Where the pxar-cli under test comes from (`main` overrides the built CLI's path). */
export function pxarCli(kind: 'dist' | 'source', main?: string): PxarCli {
  if (kind === 'dist')
    return { kind, file: process.execPath, args: [main ?? join(REPO_ROOT, 'apps/pxar-cli/dist/main.js')] }
  return {
    kind,
    file: process.execPath,
    args: [
      '--import',
      pathToFileURL(join(REPO_ROOT, 'node_modules/tsx/dist/esm/index.mjs')).href,
      '--conditions=@pxar/source',
      join(REPO_ROOT, 'apps/pxar-cli/src/main.ts'),
    ],
  }
}

const START = '<!-- results:start -->'
const END = '<!-- results:end -->'

/** Replaces the results section of the benchmarks document. */
export function updateDocs(docPath: string, report: CompareReport): void {
  const text = existsSync(docPath) ? readFileSync(docPath, 'utf8') : `# Benchmarks\n\n${START}\n${END}\n`
  const a = text.indexOf(START)
  const b = text.indexOf(END)
  if (a < 0 || b < a) throw new Error(`${docPath} has no ${START} … ${END} section`)
  const section = `${START}\n\n![median wall times](benchmarks.svg)\n\n${renderMarkdown(report)}\n${END}`
  writeAtomic(docPath, text.slice(0, a) + section + text.slice(b + END.length))
  writeAtomic(join(dirname(docPath), 'benchmarks.svg'), renderSvg(report))
  writeAtomic(join(dirname(docPath), 'benchmarks.json'), `${JSON.stringify(report, null, 2)}\n`)
}

/** Runs the comparison for command-line arguments; returns the exit code. */
export async function main(argv: readonly string[], io: MainIo): Promise<number> {
  let values: ReturnType<typeof parse>['values']
  function parse(args: string[]) {
    return parseArgs({
      args,
      options: {
        scale: { type: 'string', default: '1' },
        datasets: { type: 'string', default: 'mixed,small,big' },
        tools: { type: 'string', default: 'all' },
        runs: { type: 'string', default: '3' },
        seed: { type: 'string', default: '1' },
        work: { type: 'string', default: join(tmpdir(), 'pxar-bench-compare') },
        out: { type: 'string', default: join(REPO_ROOT, 'tools/bench/results') },
        cli: { type: 'string', default: 'dist' },
        'pxar-cli': { type: 'string' },
        'no-build': { type: 'boolean', default: false },
        'no-install': { type: 'boolean', default: false },
        'update-docs': { type: 'boolean', default: false },
        'from-json': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    })
  }
  try {
    values = parse([...argv]).values
  } catch (err) {
    io.stderr(`${(err as Error).message}\n${USAGE}`)
    return 2
  }
  if (values.help) {
    io.stdout(USAGE)
    return 0
  }
  try {
    if (values['from-json'] !== undefined) {
      const saved = JSON.parse(readFileSync(resolve(values['from-json']), 'utf8')) as CompareReport
      if (saved.version !== 1) throw new Error(`${values['from-json']} is not a bench:compare report`)
      // ratios and targets follow from the results: recompute them (reports of older versions)
      const report: CompareReport = {
        ...saved,
        ratios: computeRatios(saved.results),
        targets: computeTargets(saved.results),
      }
      if (values['update-docs']) updateDocs(join(REPO_ROOT, 'docs/benchmarks.md'), report)
      io.stdout(renderMarkdown(report))
      return 0
    }
    const scale = positiveNumber('scale', values.scale)
    const runs = Math.round(positiveNumber('runs', values.runs))
    const seed = Math.round(Number(values.seed))
    if (!Number.isSafeInteger(seed)) throw new Error('--seed needs an integer')
    const datasets: DatasetName[] = values.datasets.split(',').filter(Boolean).map(parseDatasetName)
    const tools = parseTools(values.tools)
    if (values.cli !== 'dist' && values.cli !== 'source') throw new Error('--cli is dist or source')
    if (!values['no-install']) {
      const note = installMissing(tools)
      if (note !== undefined) io.stderr(`${note}\n`)
    }
    const main = values['pxar-cli'] === undefined ? undefined : resolve(values['pxar-cli'])
    if (main !== undefined && values.cli !== 'dist') throw new Error('--pxar-cli needs --cli dist')
    const cli = pxarCli(values.cli, main)
    if (values.cli === 'dist' && main === undefined && !values['no-build']) {
      // the whole solution: the CLI imports every package
      io.stderr('building (tsc -b)\n')
      execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-b'], {
        cwd: REPO_ROOT,
        stdio: 'inherit',
      })
    }
    if (values.cli === 'dist' && !existsSync(cli.args[0]!))
      throw new Error(`${cli.args[0]} is missing: build first`)
    const report = await runCompare({
      datasets,
      tools,
      scale,
      runs,
      seed,
      workDir: resolve(values.work),
      cli,
      log: (line) => io.stderr(`${line}\n`),
    })
    const out = resolve(values.out)
    writeAtomic(join(out, 'compare.json'), `${JSON.stringify(report, null, 2)}\n`)
    writeAtomic(join(out, 'compare.svg'), renderSvg(report))
    if (values['update-docs']) updateDocs(join(REPO_ROOT, 'docs/benchmarks.md'), report)
    io.stdout(renderMarkdown(report))
    io.stderr(`wrote ${join(out, 'compare.json')} and compare.svg\n`)
    return 0
  } catch (err) {
    io.stderr(`bench:compare: ${(err as Error).message}\n`)
    return 1
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2), {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
  })
}
