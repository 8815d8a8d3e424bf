/**
 * The comparison run: for every dataset and repeat, fresh repositories for every tool, then the
 * phases first run → unchanged rerun → rerun after changing 1 % of the files, the tools
 * interleaved within each phase (and their order rotated from repeat to repeat) so that drift of
 * the machine hits all of them alike.
 */

import { mkdirSync, rmSync } from 'node:fs'
import { cpus, freemem, loadavg, release, totalmem } from 'node:os'
import { join } from 'node:path'
import { type Dataset, type DatasetName, ensureDataset, mutateDataset, treeBytes } from './datasets.ts'
import { type Measurement, measure } from './measure.ts'
import { makeTool, type PxarCli, type Tool, type ToolId } from './tools.ts'

/** The three phases of every repeat. */
export const PHASES = ['first', 'unchanged', 'changed'] as const

/** A phase: first run into an empty repository, unchanged rerun, rerun after changing 1 %. */
export type Phase = (typeof PHASES)[number]

/** Options of {@link runCompare}. */
export interface CompareOptions {
  readonly datasets: readonly DatasetName[]
  readonly tools: readonly ToolId[]
  /** Dataset scale (1 = full size). */
  readonly scale: number
  /** Repeats per measurement (the median is reported). */
  readonly runs: number
  readonly seed: number
  /** Datasets (kept between invocations) and repositories (removed after each repeat) go here. */
  readonly workDir: string
  readonly cli: PxarCli
  /** Progress lines (stderr). */
  readonly log?: (line: string) => void
}

/** One measurement cell: a tool on a dataset in a phase, over all repeats. */
export interface CellResult {
  readonly dataset: DatasetName
  readonly tool: ToolId
  readonly phase: Phase
  /** Wall times of the repeats, ms. */
  readonly wallMs: readonly number[]
  readonly medianMs: number
  /** Dataset bytes per second at the median wall time, in MB/s (10^6 bytes). */
  readonly mbPerSec: number
  /** Median user + system CPU time, ms (`null` without GNU time): robust against a busy machine. */
  readonly cpuMs: number | null
  /** Highest peak RSS over the repeats, bytes (`null` without GNU time). */
  readonly peakRssBytes: number | null
  /** Repository size after this phase (median over the repeats), bytes. */
  readonly repoBytes: number
}

/** A dataset as reported. */
export interface DatasetInfo {
  readonly name: DatasetName
  readonly description: string
  readonly files: number
  readonly bytes: number
  /** Files changed before the `changed` phase. */
  readonly changedFiles: number
  readonly changedBytes: number
}

/** A tool as reported. */
export interface ToolInfo {
  readonly id: ToolId
  readonly version: string
  readonly settings: string
}

/** Wall-time ratio of a pxar-cli configuration against restic or borg. */
export interface Ratio {
  readonly dataset: DatasetName
  readonly phase: Phase
  readonly tool: ToolId
  readonly versus: 'borg' | 'restic'
  /** pxar-cli wall time / other tool's wall time (below 1: pxar-cli is faster). */
  readonly ratio: number
  /** The same for user + system CPU time (`null` without GNU time). */
  readonly cpuRatio: number | null
}

/** A target of issue 8 and whether this run meets it. */
export interface TargetResult {
  readonly target: string
  readonly value: number | null
  /** For ratio targets: the same ratio over user + system CPU time (robust on a busy machine). */
  readonly cpuValue: number | null
  readonly limit: number
  readonly unit: string
  /** `null` when the run did not measure what the target needs. */
  readonly met: boolean | null
}

/** Everything one comparison produced (also the JSON file's content). */
export interface CompareReport {
  readonly version: 1
  readonly startedAt: string
  readonly finishedAt: string
  readonly machine: {
    readonly cpus: number
    readonly cpuModel: string
    readonly memoryBytes: number
    readonly freeMemoryBytes: number
    readonly os: string
    readonly node: string
    /** 1-minute load average at start and end (other work on the machine shows here). */
    readonly loadAverage: readonly [number, number]
  }
  readonly options: {
    readonly scale: number
    readonly runs: number
    readonly seed: number
    readonly datasets: readonly DatasetName[]
    readonly tools: readonly ToolId[]
    readonly cli: 'dist' | 'source'
  }
  /** Requested tools that were not installed. */
  readonly missingTools: readonly ToolId[]
  readonly tools: readonly ToolInfo[]
  readonly datasets: readonly DatasetInfo[]
  readonly results: readonly CellResult[]
  readonly ratios: readonly Ratio[]
  readonly targets: readonly TargetResult[]
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** Failure of a measured command. */
export class BenchCommandError extends Error {
  constructor(tool: ToolId, phase: string, m: Measurement) {
    super(
      `${tool} (${phase}) exited with ${m.exitCode}: ${(m.stderr || m.stdout).trim().split('\n').slice(-5).join(' | ')}`,
    )
    this.name = 'BenchCommandError'
  }
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms))
}

/** Runs the comparison (see the module comment) and returns the report. */
export async function runCompare(options: CompareOptions): Promise<CompareReport> {
  const log = options.log ?? (() => {})
  const startedAt = new Date().toISOString()
  const load0 = loadavg()[0]!
  const stateDir = join(options.workDir, 'state')
  const reposDir = join(options.workDir, 'repos')
  mkdirSync(stateDir, { recursive: true })
  const tools: Tool[] = []
  const missing: ToolId[] = []
  for (const id of options.tools) {
    const tool = makeTool(id, { cli: options.cli, stateDir })
    if (tool === undefined) missing.push(id)
    else tools.push(tool)
  }
  if (tools.length === 0) throw new Error('none of the requested tools is installed')
  const toolInfo: ToolInfo[] = tools.map((t) => ({ id: t.id, version: t.version(), settings: t.settings }))

  type Samples = { wall: number[]; cpu: number[]; rss: number[]; repo: number[] }
  const samples = new Map<string, Samples>()
  const key = (d: DatasetName, t: ToolId, p: Phase): string => `${d}/${t}/${p}`
  const datasets: DatasetInfo[] = []

  for (const name of options.datasets) {
    log(`dataset ${name}: generating (scale ${options.scale}, seed ${options.seed})`)
    const dataset: Dataset = ensureDataset(join(options.workDir, 'data'), name, options.scale, options.seed)
    let changed = { files: 0, bytes: 0 }
    for (let rep = 0; rep < options.runs; rep++) {
      // rotate the order: A B C, B C A, … so no tool always runs first
      const order = tools.map((_, i) => tools[(i + rep) % tools.length]!)
      rmSync(reposDir, { recursive: true, force: true })
      mkdirSync(reposDir, { recursive: true })
      const repoOf = (t: Tool): string => join(reposDir, t.id)
      const lastEnd = new Map<ToolId, number>()
      for (const tool of order) {
        const init = tool.init(repoOf(tool))
        if (init !== undefined) {
          const m = await measure(init)
          if (m.exitCode !== 0) throw new BenchCommandError(tool.id, 'init', m)
        }
      }
      for (const [phaseIndex, phase] of PHASES.entries()) {
        const mutation = phase === 'changed' ? mutateDataset(dataset, rep) : undefined
        if (mutation) changed = { files: mutation.files, bytes: mutation.bytes }
        try {
          for (const tool of order) {
            const end = lastEnd.get(tool.id)
            if (tool.secondResolution && end !== undefined) {
              // snapshot names have one-second resolution: start in a later second than the last run ended
              const wait = (Math.floor(end / 1000) + 1) * 1000 - Date.now()
              if (wait > 0) await sleep(wait + 5)
            }
            const m = await measure(tool.backup(repoOf(tool), dataset.root, phaseIndex))
            lastEnd.set(tool.id, Date.now())
            if (!tool.ok(m.exitCode)) throw new BenchCommandError(tool.id, phase, m)
            const repoBytes = treeBytes(repoOf(tool))
            const k = key(name, tool.id, phase)
            const s = samples.get(k) ?? { wall: [], cpu: [], rss: [], repo: [] }
            s.wall.push(m.wallMs)
            if (m.peakRssBytes !== undefined) s.rss.push(m.peakRssBytes)
            if (m.cpuMs !== undefined) s.cpu.push(m.cpuMs)
            s.repo.push(repoBytes)
            samples.set(k, s)
            log(
              `  ${name} run ${rep + 1}/${options.runs} ${phase.padEnd(9)} ${tool.id.padEnd(17)} ${(m.wallMs / 1000).toFixed(2).padStart(8)} s  CPU ${m.cpuMs === undefined ? '?' : (m.cpuMs / 1000).toFixed(2)} s  RSS ${m.peakRssBytes === undefined ? '?' : (m.peakRssBytes / 1e6).toFixed(0)} MB  repo ${(repoBytes / 1e6).toFixed(1)} MB`,
            )
          }
        } finally {
          if (phase === 'changed') mutation?.undo()
        }
      }
      rmSync(reposDir, { recursive: true, force: true })
    }
    datasets.push({
      name,
      description: dataset.description,
      files: dataset.files.length,
      bytes: dataset.bytes,
      changedFiles: changed.files,
      changedBytes: changed.bytes,
    })
  }

  const results: CellResult[] = []
  for (const d of datasets) {
    for (const t of tools) {
      for (const phase of PHASES) {
        const s = samples.get(key(d.name, t.id, phase))
        if (s === undefined) continue
        const medianMs = median(s.wall)
        results.push({
          dataset: d.name,
          tool: t.id,
          phase,
          wallMs: s.wall.map((w) => Math.round(w * 10) / 10),
          medianMs: Math.round(medianMs * 10) / 10,
          mbPerSec: Math.round((d.bytes / 1e6 / (medianMs / 1000)) * 10) / 10,
          cpuMs: s.cpu.length === 0 ? null : Math.round(median(s.cpu)),
          peakRssBytes: s.rss.length === 0 ? null : Math.max(...s.rss),
          repoBytes: Math.round(median(s.repo)),
        })
      }
    }
  }
  const ratios = computeRatios(results)
  return {
    version: 1,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryBytes: totalmem(),
      freeMemoryBytes: freemem(),
      os: `${process.platform} ${release()}`,
      node: process.version,
      loadAverage: [Math.round(load0 * 100) / 100, Math.round(loadavg()[0]! * 100) / 100],
    },
    options: {
      scale: options.scale,
      runs: options.runs,
      seed: options.seed,
      datasets: options.datasets,
      tools: options.tools,
      cli: options.cli.kind,
    },
    missingTools: missing,
    tools: toolInfo,
    datasets,
    results,
    ratios,
    targets: computeTargets(results),
  }
}

/** pxar-cli / borg and pxar-cli / restic wall-time ratios for every cell both measured. */
export function computeRatios(results: readonly CellResult[]): Ratio[] {
  const out: Ratio[] = []
  const find = (d: DatasetName, t: ToolId, p: Phase): CellResult | undefined =>
    results.find((r) => r.dataset === d && r.tool === t && r.phase === p)
  for (const r of results) {
    if (!r.tool.startsWith('pxar-')) continue
    for (const versus of ['borg', 'restic'] as const) {
      const other = find(r.dataset, versus, r.phase)
      if (other === undefined || other.medianMs <= 0) continue
      out.push({
        dataset: r.dataset,
        phase: r.phase,
        tool: r.tool,
        versus,
        ratio: Math.round((r.medianMs / other.medianMs) * 1000) / 1000,
        cpuRatio:
          r.cpuMs == null || other.cpuMs == null || other.cpuMs <= 0
            ? null
            : Math.round((r.cpuMs / other.cpuMs) * 1000) / 1000,
      })
    }
  }
  return out
}

/**
 * The targets of issue 8, judged on pxar-cli's metadata mode (unencrypted): first run of the
 * mixed tree ≤ 0.8 × borg; unchanged rerun of the mixed tree and of the small files ≤ 1.0 ×
 * borg; the big file at ≥ 250 MB/s with a peak RSS below 300 MB.
 */
export function computeTargets(results: readonly CellResult[]): TargetResult[] {
  const find = (d: DatasetName, t: ToolId, p: Phase): CellResult | undefined =>
    results.find((r) => r.dataset === d && r.tool === t && r.phase === p)
  const ratio = (d: DatasetName, p: Phase, cpu = false): number | null => {
    const a = find(d, 'pxar-metadata', p)
    const b = find(d, 'borg', p)
    if (a === undefined || b === undefined) return null
    if (!cpu) return Math.round((a.medianMs / b.medianMs) * 1000) / 1000
    return a.cpuMs == null || b.cpuMs == null || b.cpuMs <= 0
      ? null
      : Math.round((a.cpuMs / b.cpuMs) * 1000) / 1000
  }
  const judge = (
    target: string,
    value: number | null,
    limit: number,
    unit: string,
    atMost: boolean,
    cpuValue: number | null = null,
  ): TargetResult => ({
    target,
    value,
    cpuValue,
    limit,
    unit,
    met: value === null ? null : atMost ? value <= limit : value >= limit,
  })
  const big = find('big', 'pxar-metadata', 'first')
  return [
    judge(
      'mixed tree, first run, pxar-cli metadata / borg',
      ratio('mixed', 'first'),
      0.8,
      '×',
      true,
      ratio('mixed', 'first', true),
    ),
    judge(
      'mixed tree, unchanged rerun, pxar-cli metadata / borg',
      ratio('mixed', 'unchanged'),
      1.0,
      '×',
      true,
      ratio('mixed', 'unchanged', true),
    ),
    judge(
      'small files, unchanged rerun, pxar-cli metadata / borg',
      ratio('small', 'unchanged'),
      1.0,
      '×',
      true,
      ratio('small', 'unchanged', true),
    ),
    judge('big file, first run, pxar-cli metadata throughput', big?.mbPerSec ?? null, 250, 'MB/s', false),
    judge(
      'big file, first run, pxar-cli metadata peak RSS',
      big?.peakRssBytes == null ? null : Math.round(big.peakRssBytes / 1e5) / 10,
      300,
      'MB',
      true,
    ),
  ]
}
