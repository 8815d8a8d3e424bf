import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import { baseEnv, run, tempHome } from './helpers.ts'

let env: Record<string, string>
beforeAll(async () => {
  env = baseEnv(await tempHome())
})

describe('list', () => {
  for (const name of ['special-kinds', 'many-files-300', 'unicode-long-names', 'v2-split-many-files']) {
    it(`lists ${name} like the reference decoder`, async () => {
      const dir = join(vectorsDir('pxar'), name)
      const expected = (
        JSON.parse(await readFile(join(dir, 'dump.json'), 'utf8')) as { path: string; kind: string }[]
      ).filter((e) => e.kind !== 'version' && e.kind !== 'prelude')
      const text = await run(['list', join(dir, 'archive.pxar')], { env })
      expect(text.code).toBe(0)
      const lines = text.stdout.trimEnd().split('\n')
      expect(lines).toHaveLength(expected.length)
      expected.forEach((e, i) => {
        // names that are not UTF-8 have no `path` in the dump (only `path_b64`)
        if (e.path !== undefined) expect(lines[i]).toBe(e.path.replace(/\n/g, '\\n'))
      })

      const json = await run(['list', '--output-format', 'json', join(dir, 'archive.pxar')], { env })
      expect(json.code).toBe(0)
      const entries = JSON.parse(json.stdout) as { path: string; kind: string; mode: number; mtime: string }[]
      expect(entries.map((e) => e.kind)).toEqual(expected.map((e) => e.kind))
      entries.forEach((e, i) => {
        if (expected[i]!.path !== undefined) expect(e.path).toBe(expected[i]!.path)
      })
      for (const e of entries) expect(typeof e.mtime).toBe('string')
    })
  }

  it('lists the metadata archive of a split archive', async () => {
    const dir = join(vectorsDir('pxar'), 'v2-split-many-files')
    const expected = (
      JSON.parse(await readFile(join(dir, 'dump.v2.json'), 'utf8')) as { path: string; kind: string }[]
    ).filter((e) => e.kind !== 'version' && e.kind !== 'prelude')
    const r = await run(['list', join(dir, 'archive.mpxar')], { env })
    expect(r.code).toBe(0)
    expect(r.stdout.trimEnd().split('\n')).toEqual(expected.map((e) => e.path))
  })

  it('lists a subtree with --long', async () => {
    const dir = join(vectorsDir('pxar'), 'special-kinds')
    const r = await run(['list', '--long', join(dir, 'archive.pxar'), '/links'], { env })
    expect(r.code).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^drwx.* \/links$/)
    expect(lines.some((l) => /^l.* \/links\/to-file -> \.\.\/file\.txt$/.test(l))).toBe(true)
    expect(lines.every((l) => l.includes('/links'))).toBe(true)
  })

  it('reports a path that is not in the archive', async () => {
    const dir = join(vectorsDir('pxar'), 'special-kinds')
    const r = await run(['list', join(dir, 'archive.pxar'), '/nope'], { env })
    expect(r.code).toBe(1)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toContain('/nope not found')
  })

  it('reports a damaged archive as one line with the error code in JSON mode', async () => {
    const dir = join(vectorsDir('pxar'), 'special-kinds')
    const r = await run(['list', '--output-format', 'json', join(dir, 'case.json')], { env })
    expect(r.code).toBe(1)
    const err = JSON.parse(r.stderr) as { error: { code: string; message: string } }
    expect(err.error.code).toMatch(/^ERR_PXAR_/)
  })
})

describe('errors and usage', () => {
  it('a missing archive: one line on stderr, exit 1', async () => {
    const r = await run(['list', '/does/not/exist.pxar'], { env })
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    const lines = r.stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^pxar-cli: error: archive \/does\/not\/exist.pxar does not exist/)
  })

  it('JSON errors: {"error": {"code", "message"}} (also via PROXMOX_OUTPUT_FORMAT)', async () => {
    const r = await run(['list', '/does/not/exist.pxar'], { env: { ...env, PROXMOX_OUTPUT_FORMAT: 'json' } })
    expect(r.code).toBe(1)
    const err = JSON.parse(r.stderr) as { error: { code: string; message: string } }
    expect(err.error.code).toBe('ENOENT')
    expect(err.error.message).toContain('does not exist')
  })

  it('unknown commands and options, missing arguments: exit 2 with one line', async () => {
    for (const args of [
      ['bogus'],
      ['list'],
      ['list', 'a', 'b', 'c'],
      ['snapshots', '--frobnicate'],
      ['--output-format', 'xml', 'status'],
    ]) {
      const r = await run(args, { env })
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1)
      expect(r.stderr).toMatch(/^pxar-cli: error: /)
    }
  })

  it('usage errors in JSON mode are JSON', async () => {
    const r = await run(['--output-format=json', 'list'], { env })
    expect(r.code).toBe(2)
    expect((JSON.parse(r.stderr) as { error: { code: string } }).error.code).toBe('ERR_USAGE')
  })

  it('--help and --version exit 0', async () => {
    const h = await run(['--help'], { env })
    expect(h.code).toBe(0)
    expect(h.stdout).toContain('Usage: pxar-cli')
    const v = await run(['--version'], { env })
    expect(v.code).toBe(0)
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/)
  })
})
