/**
 * Renders a {@link CompareReport}: a Markdown table (stdout and docs) and a hand-written SVG bar
 * chart of the median wall times.
 */
import { type CompareReport, PHASES } from './harness.ts'
import type { ToolId } from './tools.ts'

const mb = (bytes: number): string => (bytes / 1e6).toFixed(1)

/** Bytes in MB, or kB below 1 MB. */
const size = (bytes: number): string => (bytes < 1e6 ? `${(bytes / 1e3).toFixed(1)} kB` : `${mb(bytes)} MB`)

/** The columns of every results table. */
export const TABLE_HEADER: readonly string[] = [
  'phase',
  'tool',
  'median s',
  'MB/s',
  'CPU s',
  'peak RSS MB',
  'repo MB',
  '÷ borg',
  '÷ restic',
  'CPU ÷ borg',
  'CPU ÷ restic',
]

/** The results as Markdown: one table per dataset, then the targets and the tool settings. */
export function renderMarkdown(report: CompareReport): string {
  const out: string[] = []
  const o = report.options
  const m = report.machine
  out.push(
    `Scale ${o.scale}, median of ${o.runs} run${o.runs === 1 ? '' : 's'}, seed ${o.seed}, pxar-cli ${o.cli} build; ` +
      `${m.cpus} × ${m.cpuModel}, ${(m.memoryBytes / 2 ** 30).toFixed(0)} GiB RAM, ${m.os}, Node ${m.node}; ` +
      `load average ${m.loadAverage[0]} at start, ${m.loadAverage[1]} at end; ${report.startedAt}.`,
  )
  if (report.missingTools.length > 0)
    out.push('', `Not installed (skipped): ${report.missingTools.join(', ')}.`)
  for (const d of report.datasets) {
    out.push(
      '',
      `### ${d.name}: ${d.description}`,
      '',
      `${d.files} files, ${mb(d.bytes)} MB; the \`changed\` phase rewrites ${d.changedFiles} file${d.changedFiles === 1 ? '' : 's'} (${size(d.changedBytes)} overwritten).`,
      '',
      `| ${TABLE_HEADER.join(' | ')} |`,
      `|${TABLE_HEADER.map((h, i) => (i < 2 ? ' --- ' : ` ${'-'.repeat(Math.max(3, h.length - 1))}: `)).join('|')}|`,
    )
    for (const phase of PHASES) {
      for (const r of report.results.filter((x) => x.dataset === d.name && x.phase === phase)) {
        const ratio = (versus: 'borg' | 'restic', cpu = false): string => {
          const x = report.ratios.find(
            (q) => q.dataset === d.name && q.phase === phase && q.tool === r.tool && q.versus === versus,
          )
          const v = x === undefined ? null : cpu ? x.cpuRatio : x.ratio
          return v == null ? '' : v.toFixed(2)
        }
        out.push(
          `| ${[
            phase,
            r.tool,
            (r.medianMs / 1000).toFixed(2),
            r.mbPerSec.toFixed(1),
            r.cpuMs == null ? '' : (r.cpuMs / 1000).toFixed(2),
            r.peakRssBytes === null ? '' : mb(r.peakRssBytes),
            mb(r.repoBytes),
            ratio('borg'),
            ratio('restic'),
            ratio('borg', true),
            ratio('restic', true),
          ].join(' | ')} |`,
        )
      }
    }
  }
  out.push(
    '',
    '### Targets (issue 8)',
    '',
    'Judged on wall time; the CPU column gives the same ratio over user + system CPU time.',
    '',
    '| target | value | CPU | limit | met |',
    '| --- | ---: | ---: | ---: | --- |',
  )
  for (const t of report.targets) {
    const value = t.value === null ? 'not measured' : `${t.value} ${t.unit}`
    const cpu = t.cpuValue == null ? '' : `${t.cpuValue} ${t.unit}`
    const met = t.met === null ? '–' : t.met ? 'yes' : 'no'
    out.push(
      `| ${t.target} | ${value} | ${cpu} | ${t.unit === 'MB/s' ? '≥' : '≤'} ${t.limit} ${t.unit} | ${met} |`,
    )
  }
  out.push('', '### Settings', '')
  for (const t of report.tools) out.push(`- **${t.id}** (${t.version}): ${t.settings}`)
  return `${out.join('\n')}\n`
}

const COLORS: Record<ToolId, string> = {
  'pxar-legacy': '#9ecae1',
  'pxar-data': '#4292c6',
  'pxar-metadata': '#08519c',
  'pxar-metadata-enc': '#6a51a3',
  restic: '#e6550d',
  borg: '#31a354',
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/**
 * A horizontal bar chart: one panel per dataset, one group per phase, one bar per tool (median
 * wall seconds; bars scale to the slowest bar of their panel).
 */
export function renderSvg(report: CompareReport): string {
  const width = 760
  const labelW = 190
  const barH = 14
  const gap = 4
  const chartW = width - labelW - 90
  const tools = report.tools.map((t) => t.id)
  const parts: string[] = []
  let y = 30
  parts.push(
    `<text x="10" y="20" font-size="14" font-weight="bold">Median wall time, seconds (shorter is better), scale ${report.options.scale}</text>`,
  )
  for (const d of report.datasets) {
    const cells = report.results.filter((r) => r.dataset === d.name)
    const max = Math.max(1e-9, ...cells.map((c) => c.medianMs))
    y += 16
    parts.push(
      `<text x="10" y="${y}" font-size="13" font-weight="bold">${esc(`${d.name}: ${d.files} files, ${mb(d.bytes)} MB`)}</text>`,
    )
    y += 8
    for (const phase of PHASES) {
      const rows = cells.filter((c) => c.phase === phase)
      if (rows.length === 0) continue
      parts.push(`<text x="10" y="${y + barH}" font-size="11" fill="#555">${phase}</text>`)
      for (const r of rows) {
        const w = Math.max(1, (r.medianMs / max) * chartW)
        parts.push(
          `<text x="${labelW - 6}" y="${y + barH - 3}" font-size="11" text-anchor="end">${esc(r.tool)}</text>`,
          `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[r.tool]}"/>`,
          `<text x="${(labelW + w + 4).toFixed(1)}" y="${y + barH - 3}" font-size="11">${(r.medianMs / 1000).toFixed(2)} s</text>`,
        )
        y += barH + gap
      }
      y += 6
    }
  }
  y += 6
  let x = 10
  for (const t of tools) {
    parts.push(
      `<rect x="${x}" y="${y}" width="10" height="10" fill="${COLORS[t]}"/>`,
      `<text x="${x + 14}" y="${y + 9}" font-size="11">${esc(t)}</text>`,
    )
    x += 20 + t.length * 7
  }
  y += 20
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n')
}
