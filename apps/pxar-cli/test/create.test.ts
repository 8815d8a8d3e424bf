import { execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chmod,
  link,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { REPO_ROOT } from '../../../scripts/vectors.ts'
import { baseEnv, NODE_ARGS, run, tempHome } from './helpers.ts'

let home: string
let env: Record<string, string>
let src: string

interface Node {
  type: string
  mode: number
  size: number
  /** microseconds (restore keeps microseconds) */
  mtimeUs: number
  content?: string
  target?: string
}

/** The tree below `dir` as a map from relative path to what `ls -l` would show, plus content. */
async function snapshotTree(dir: string, rel = ''): Promise<Map<string, Node>> {
  const out = new Map<string, Node>()
  const names = (await readdir(join(dir, rel))).sort()
  for (const name of names) {
    const r = rel ? `${rel}/${name}` : name
    const p = join(dir, r)
    const st = await lstat(p)
    const type = st.isDirectory()
      ? 'dir'
      : st.isFile()
        ? 'file'
        : st.isSymbolicLink()
          ? 'symlink'
          : st.isFIFO()
            ? 'fifo'
            : 'other'
    const node: Node = {
      type,
      mode: st.mode & 0o7777,
      size: st.isFile() ? st.size : 0,
      mtimeUs: Number((await lstat(p, { bigint: true })).mtimeNs / 1000n),
    }
    if (st.isFile())
      node.content = createHash('sha256')
        .update(await readFile(p))
        .digest('hex')
    if (st.isSymbolicLink()) node.target = await readlink(p)
    out.set(r, node)
    if (st.isDirectory()) for (const [k, v] of await snapshotTree(dir, r)) out.set(k, v)
  }
  return out
}

beforeAll(async () => {
  home = await tempHome()
  env = baseEnv(home)
  src = join(home, 'src')
  await mkdir(join(src, 'deep', 'er', 'est'), { recursive: true })
  await mkdir(join(src, 'cache', 'inner'), { recursive: true })
  await mkdir(join(src, 'logs'), { recursive: true })
  await writeFile(join(src, 'empty'), '')
  await writeFile(join(src, 'hello.txt'), 'hello\n')
  await writeFile(join(src, 'deep', 'er', 'est', 'big.bin'), Buffer.alloc(3 << 20, 7))
  await writeFile(join(src, 'ünïcödé name'), 'x')
  await writeFile(join(src, 'script.sh'), '#!/bin/sh\n')
  await chmod(join(src, 'script.sh'), 0o750)
  await writeFile(join(src, 'cache', 'inner', 'junk'), 'junk')
  await writeFile(join(src, 'logs', 'a.log'), 'log a')
  await writeFile(join(src, 'logs', 'keep.txt'), 'kept')
  await writeFile(join(src, 'logs', '.pxarexclude'), '*.log\n')
  await symlink('hello.txt', join(src, 'link'))
  await link(join(src, 'hello.txt'), join(src, 'deep', 'hard'))
  execFileSync('mkfifo', [join(src, 'pipe')])
  await utimes(join(src, 'hello.txt'), 1_700_000_000.25, 1_700_000_000.25)
})

describe('create, list, extract', () => {
  for (const split of [false, true]) {
    it(`round trip of a ${split ? 'split (.mpxar + .ppxar)' : 'v1 (.pxar)'} archive gives the source tree back`, async () => {
      const work = await mkdtemp(join(home, 'rt-'))
      const archive = join(work, split ? 'root.mpxar' : 'root.pxar')
      const payload = join(work, 'root.ppxar')
      const c = await run(
        [
          'create',
          archive,
          src,
          '--exclude',
          'cache/',
          ...(split ? ['--payload-output', payload] : []),
          '--output-format',
          'json',
        ],
        { env },
      )
      expect(c.code, c.stderr).toBe(0)
      const res = JSON.parse(c.stdout) as Record<string, unknown>
      expect(res).toMatchObject({
        archive,
        payloadOutput: split ? payload : null,
        source: src,
        files: 7,
        hardlinks: 1,
        symlinks: 1,
        special: 1,
        skipped: 0,
        bytes: (3 << 20) + 6 + 1 + 10 + 4 + 6,
      })
      for (const k of ['entries', 'dirs', 'archiveSize', 'durationMs']) expect(typeof res[k]).toBe('number')
      if (split) expect(res.payloadSize as number).toBeGreaterThan(3 << 20)
      else expect(res.payloadSize).toBeNull()
      // nothing left behind but the outputs
      expect((await readdir(work)).sort()).toEqual(split ? ['root.mpxar', 'root.ppxar'] : ['root.pxar'])

      const l = await run(['list', archive], { env })
      expect(l.code, l.stderr).toBe(0)
      const paths = l.stdout.trimEnd().split('\n')
      expect(paths).toContain('/logs/keep.txt')
      expect(paths).toContain('/logs/.pxarexclude')
      expect(paths).not.toContain('/logs/a.log')
      expect(paths.some((p) => p.startsWith('/cache'))).toBe(false)

      const long = await run(['list', '--long', archive, '/script.sh'], { env })
      expect(long.code, long.stderr).toBe(0)
      expect(long.stdout).toMatch(/^-rwxr-x--- \d+\/\d+ +10 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \/script\.sh\n$/)

      const target = join(work, 'out')
      const x = await run(['extract', archive, target, '--output-format', 'json'], { env })
      expect(x.code, x.stderr).toBe(0)
      const xr = JSON.parse(x.stdout) as Record<string, unknown>
      expect(xr).toMatchObject({ archive, target, bytes: res.bytes })

      const want = await snapshotTree(src)
      for (const k of [...want.keys()])
        if (k === 'cache' || k.startsWith('cache/') || k === 'logs/a.log') want.delete(k)
      const got = await snapshotTree(target)
      expect([...got.keys()]).toEqual([...want.keys()])
      for (const [k, w] of want) {
        const g = got.get(k)!
        expect({ k, ...g, mtimeUs: w.type === 'dir' ? 0 : g.mtimeUs }).toEqual({
          k,
          ...w,
          mtimeUs: w.type === 'dir' ? 0 : w.mtimeUs,
        })
      }
      // the hardlink is a hardlink again
      expect((await lstat(join(target, 'deep', 'hard'))).ino).toBe(
        (await lstat(join(target, 'hello.txt'))).ino,
      )
    })
  }

  it('leaves out what the --no-* options say and never archives its own output', async () => {
    const out = join(src, 'self.pxar')
    const c = await run(
      ['create', out, src, '--no-fifos', '--no-pxarexclude', '--exclude', '/deep', '--verbose'],
      { env },
    )
    try {
      expect(c.code, c.stderr).toBe(0)
      // --verbose lists what goes into the archive
      const listed = c.stderr.trimEnd().split('\n')
      expect(listed).toContain('logs/a.log')
      expect(listed).not.toContain('pipe')
      expect(listed.some((l) => l.startsWith('deep'))).toBe(false)
      expect(c.stdout).toMatch(/^created .*self\.pxar from /)
      const l = await run(['list', out], { env })
      const paths = l.stdout.trimEnd().split('\n')
      expect(paths).not.toContain('/pipe')
      expect(paths).not.toContain('/self.pxar')
      expect(paths).toContain('/logs/a.log')
      expect(paths.some((p) => p.startsWith('/deep'))).toBe(false)
      expect(paths.some((p) => p.includes('.tmp'))).toBe(false)
    } finally {
      execFileSync('rm', ['-f', out])
    }
  })

  it('extracts selected paths only, and refuses existing entries unless told', async () => {
    const work = await mkdtemp(join(home, 'sel-'))
    const archive = join(work, 'a.pxar')
    expect((await run(['create', archive, src], { env })).code).toBe(0)
    const target = join(work, 'out')
    const x = await run(
      ['extract', archive, target, '--pattern', 'logs/**', '--pattern', 'script.sh', '--verbose'],
      { env },
    )
    expect(x.code, x.stderr).toBe(0)
    // --verbose names each selected entry
    expect(x.stderr.trimEnd().split('\n').sort()).toEqual(['logs/.pxarexclude', 'logs/keep.txt', 'script.sh'])
    expect((await readdir(target)).sort()).toEqual(['logs', 'script.sh'])
    expect((await readdir(join(target, 'logs'))).sort()).toEqual(['.pxarexclude', 'keep.txt'])

    const again = await run(['extract', archive, target], { env })
    expect(again.code).toBe(1)
    expect(again.stderr.trim().split('\n')).toHaveLength(1)
    expect(again.stderr).toMatch(/exists.*--overwrite/)
    const over = await run(['extract', archive, target, '--overwrite'], { env })
    expect(over.code, over.stderr).toBe(0)
    expect(await readFile(join(target, 'deep', 'er', 'est', 'big.bin'))).toHaveLength(3 << 20)
    expect((await lstat(join(target, 'pipe'))).isFIFO()).toBe(true)

    const nofifo = join(work, 'nofifo')
    const n = await run(
      ['extract', archive, nofifo, '--no-fifos', '--no-acls', '--no-fcaps', '--no-sockets'],
      {
        env,
      },
    )
    expect(n.code, n.stderr).toBe(0)
    expect(await readdir(nofifo)).not.toContain('pipe')
    expect(await readdir(nofifo)).toContain('hello.txt')
  })

  it('refuses to replace an archive without --overwrite, replaces it with', async () => {
    const work = await mkdtemp(join(home, 'ow-'))
    const archive = join(work, 'a.pxar')
    await writeFile(archive, 'old')
    const c = await run(['create', archive, src], { env })
    expect(c.code).toBe(1)
    expect(c.stderr).toMatch(/^pxar-cli: error: .*a\.pxar already exists \(pass --overwrite/)
    expect(c.stderr.trim().split('\n')).toHaveLength(1)
    expect(await readFile(archive, 'utf8')).toBe('old')
    const o = await run(['create', archive, src, '--overwrite', '--quiet'], { env })
    expect(o.code, o.stderr).toBe(0)
    expect(o.stderr).toBe('')
    expect((await readdir(work)).sort()).toEqual(['a.pxar'])
  })

  it('bad arguments and missing files: one line on stderr, non-zero exit, JSON errors in JSON mode', async () => {
    const cases: [string[], number, RegExp][] = [
      [['create', join(home, 'x.pxar'), join(home, 'missing')], 1, /source .*missing does not exist/],
      [['create', join(home, 'x.pxar'), join(src, 'hello.txt')], 1, /is not a directory/],
      [['create', join(home, 'nodir', 'x.pxar'), src], 1, /directory .*nodir for .* does not exist/],
      [['create', join(home, 'x.pxar')], 2, /missing required argument/],
      [['create', join(home, 'x.pxar'), src, '--bogus'], 2, /unknown option/],
      [['list', join(home, 'missing.pxar')], 1, /archive .*missing\.pxar does not exist/],
      [['extract', join(home, 'missing.pxar'), join(home, 'o')], 1, /archive .*missing\.pxar does not exist/],
      [['extract', join(src, 'hello.txt'), join(home, 'o2')], 1, /unexpected end of archive/],
      [['list', join(src, 'hello.txt')], 1, /unexpected end of archive/],
    ]
    for (const [args, code, re] of cases) {
      const r = await run(args, { env })
      expect(r.code, args.join(' ')).toBe(code)
      expect(r.stdout).toBe('')
      expect(r.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1)
      expect(r.stderr).toMatch(/^pxar-cli: error: /)
      expect(r.stderr).toMatch(re)
      expect(r.stderr).not.toMatch(/\n\s+at /)
      const j = await run([...args, '--output-format', 'json'], { env })
      expect(j.code).toBe(code)
      const e = JSON.parse(j.stderr) as { error: { code: string; message: string } }
      expect(typeof e.error.code).toBe('string')
      expect(e.error.message).toMatch(re)
    }
    expect((await readdir(home)).some((n) => n.startsWith('x.pxar') || n.includes('.tmp'))).toBe(false)
  })
})

describe('create, interrupted', () => {
  it('Ctrl-C removes the partial archive and exits with 130', async () => {
    const work = await mkdtemp(join(home, 'int-'))
    const tree = join(work, 'tree')
    await mkdir(tree)
    // a large sparse file: reading it takes long enough to interrupt, and nothing is kept
    execFileSync('truncate', ['-s', '4G', join(tree, 'sparse')])
    const archive = join(work, 'a.pxar')
    const child = spawn(process.execPath, [...NODE_ARGS, 'create', archive, tree], {
      cwd: REPO_ROOT,
      env: { ...env, PXAR_PROGRESS_INTERVAL: '0.05' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    let signalled = false
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s
      // interrupt once the first progress line shows the archive is being written
      if (!signalled && /create: \d+ entries/.test(stderr)) {
        signalled = true
        child.kill('SIGINT')
      }
    })
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    expect(signalled).toBe(true)
    expect(code).toBe(130)
    expect(stderr).toMatch(/pxar-cli: error: interrupted/)
    expect((await readdir(work)).sort()).toEqual(['tree'])
  }, 120_000)
})
