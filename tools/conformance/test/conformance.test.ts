import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { REPO_ROOT, vectorsDir } from '../../../scripts/vectors.ts'
import { listPbsCases, listPxarCases, pbsCaseName, runPbsCase, runPxarCase } from '../src/index.ts'

describe('pxar vectors', () => {
  for (const c of listPxarCases(vectorsDir('pxar'))) {
    it(c.name, async () => {
      const r = await runPxarCase(c)
      expect(r.reason ?? 'ok').toBe('ok')
    })
  }
})

describe('pbs vectors', () => {
  for (const c of listPbsCases(vectorsDir('pbs'))) {
    it(pbsCaseName(c), async () => {
      const r = await runPbsCase(c)
      expect(r.reason ?? 'ok').toBe('ok')
    })
  }
})

function runCli(...args: string[]) {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--conditions=@pxar/source', 'tools/conformance/src/cli.ts', ...args],
    { cwd: REPO_ROOT, encoding: 'utf8' },
  )
  return { status: r.status, lines: r.stdout.trimEnd().split('\n'), stderr: r.stderr }
}

describe('conformance CLI contract', () => {
  it('prints a line per case and the summary last; a broken copy of a case fails with exit 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pxar-conf-'))
    try {
      cpSync(join(vectorsDir('pxar'), 'single-small-file'), join(dir, 'single-small-file'), {
        recursive: true,
      })
      cpSync(join(vectorsDir('pxar'), 'single-small-file'), join(dir, 'tampered'), { recursive: true })
      writeFileSync(join(dir, 'tampered', 'dump.json'), '[]\n')
      const r = runCli('pxar', dir)
      expect(r.lines).toEqual([
        'PASS single-small-file',
        expect.stringMatching(/^FAIL tampered: decode v1: /),
        '1 passed, 1 failed',
      ])
      expect(r.status).toBe(1)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('exits 2 when the directory cannot be read', () => {
    const r = runCli('pbs', join(tmpdir(), 'no-such-vector-dir'))
    expect(r.status).toBe(2)
    expect(r.lines.at(-1)).toBe('0 passed, 1 failed')
  })
})
