import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { main, REPO_ROOT } from '../src/compare.ts'
import { ensureDataset, mutateDataset, planDataset } from '../src/datasets.ts'
import { type CompareReport, computeTargets, median, PHASES } from '../src/harness.ts'
import { parseTimeVerbose } from '../src/measure.ts'
import { TABLE_HEADER } from '../src/report.ts'
import { parseTools, which } from '../src/tools.ts'

const base = mkdtempSync(join(tmpdir(), 'pxar-bench-test-'))
afterAll(() => rmSync(base, { recursive: true, force: true }))

const digest = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex')

describe('datasets', () => {
  it('plans follow the issue at full scale and shrink with the scale', () => {
    const mixed = planDataset('mixed', 1, 1)
    expect(mixed.filter((f) => f.content === 'random')).toHaveLength(100)
    expect(mixed.filter((f) => f.content === 'random').every((f) => f.size === 2 * 1024 * 1024)).toBe(true)
    expect(mixed.filter((f) => f.content === 'text')).toHaveLength(1000)
    expect(planDataset('small', 1, 1)).toHaveLength(100_000)
    expect(planDataset('big', 1, 1)).toEqual([{ path: 'disk.img', size: 2 * 1024 ** 3, content: 'blocks' }])
    expect(planDataset('small', 0.01, 1)).toHaveLength(1000)
    expect(planDataset('mixed', 0.001, 1)).toHaveLength(2)
  })

  it('generates the same bytes from the same seed, and a change of 1 % is undone exactly', () => {
    const a = ensureDataset(join(base, 'd1'), 'mixed', 0.02, 7)
    const b = ensureDataset(join(base, 'd2'), 'mixed', 0.02, 7)
    const c = ensureDataset(join(base, 'd3'), 'mixed', 0.02, 8)
    const first = a.files[0]!.path
    expect(digest(join(a.root, first))).toBe(digest(join(b.root, first)))
    expect(digest(join(a.root, first))).not.toBe(digest(join(c.root, first)))
    const before = a.files.map((f) => digest(join(a.root, f.path)))
    const mtimes = a.files.map((f) => statSync(join(a.root, f.path)).mtimeMs)
    const m = mutateDataset(a, 0)
    expect(m.files).toBe(Math.max(1, Math.round(a.files.length * 0.01)))
    const during = a.files.map((f) => digest(join(a.root, f.path)))
    expect(during.filter((d, i) => d !== before[i])).toHaveLength(m.files)
    m.undo()
    expect(a.files.map((f) => digest(join(a.root, f.path)))).toEqual(before)
    expect(a.files.map((f) => statSync(join(a.root, f.path)).mtimeMs)).toEqual(mtimes)
  })
})

describe('helpers', () => {
  it('parses GNU time output, tool lists and medians', () => {
    const text =
      '\tUser time (seconds): 1.25\n\tSystem time (seconds): 0.30\n' +
      '\tMaximum resident set size (kbytes): 51234\n\tExit status: 1\n'
    expect(parseTimeVerbose(text)).toEqual({ peakRssBytes: 51234 * 1024, cpuMs: 1550, exitCode: 1 })
    expect(parseTools('pxar,borg')).toEqual([
      'pxar-legacy',
      'pxar-data',
      'pxar-metadata',
      'pxar-metadata-enc',
      'borg',
    ])
    expect(() => parseTools('tar')).toThrow(/unknown tool/)
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 2, 3])).toBe(2.5)
    expect(computeTargets([]).every((t) => t.met === null)).toBe(true)
  })
})

describe('bench:compare', () => {
  it('runs at a tiny scale and prints the table, JSON and SVG', async () => {
    const cli = existsSync(join(REPO_ROOT, 'apps/pxar-cli/dist/main.js')) ? 'dist' : 'source'
    const tools = [
      'pxar-metadata',
      ...(which('restic') ? ['restic'] : []),
      ...(which('borg') ? ['borg'] : []),
    ]
    let stdout = ''
    let stderr = ''
    const out = join(base, 'out')
    const code = await main(
      [
        ...['--scale', '0.002', '--datasets', 'a', '--runs', '1', '--seed', '3'],
        ...['--tools', tools.join(','), '--cli', cli, '--no-build', '--no-install'],
        ...['--work', join(base, 'work'), '--out', out],
      ],
      { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) },
    )
    expect(code, stderr).toBe(0)
    const report = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8')) as CompareReport
    expect(report.version).toBe(1)
    expect(report.options).toMatchObject({ scale: 0.002, runs: 1, seed: 3, datasets: ['mixed'] })
    expect(report.tools.map((t) => t.id)).toEqual(tools)
    expect(report.datasets).toHaveLength(1)
    expect(report.datasets[0]).toMatchObject({ name: 'mixed', files: 3, changedFiles: 1 })
    expect(report.results).toHaveLength(tools.length * PHASES.length)
    for (const r of report.results) {
      expect(r.wallMs).toHaveLength(1)
      expect(r.medianMs).toBeGreaterThan(0)
      expect(r.mbPerSec).toBeGreaterThan(0)
      expect(r.repoBytes).toBeGreaterThan(0)
      expect(r.cpuMs === null || r.cpuMs >= 0).toBe(true)
    }
    // ratios exist exactly when borg/restic ran
    expect(report.ratios).toHaveLength(PHASES.length * (tools.length - 1))
    expect(report.targets.map((t) => t.target)).toHaveLength(5)
    // Markdown: a header row and one row per result
    expect(stdout).toContain(`| ${TABLE_HEADER.join(' | ')} |`)
    const rows = stdout.split('\n').filter((l) => /^\| (first|unchanged|changed) \|/.test(l))
    expect(rows).toHaveLength(report.results.length)
    for (const row of rows) expect(row.split('|')).toHaveLength(TABLE_HEADER.length + 2)
    const svg = readFileSync(join(out, 'compare.svg'), 'utf8')
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true)
    expect(svg.match(/<rect x="190"/g)).toHaveLength(report.results.length)
    // the saved JSON renders the same table again without measuring
    let again = ''
    const code2 = await main(['--from-json', join(out, 'compare.json')], {
      stdout: (t) => (again += t),
      stderr: () => {},
    })
    expect(code2).toBe(0)
    expect(again).toBe(stdout)
  }, 120_000)

  it('rejects bad options with usage', async () => {
    let stderr = ''
    const io = { stdout: () => {}, stderr: (t: string) => (stderr += t) }
    expect(await main(['--bogus'], io)).toBe(2)
    expect(stderr).toContain('usage: pnpm bench:compare')
    expect(await main(['--scale', '0', '--no-install', '--no-build'], io)).toBe(1)
    expect(stderr).toContain('--scale needs a positive number')
  })
})
