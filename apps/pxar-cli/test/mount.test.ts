/**
 * `pxar-cli mount` driven as a user would: the CLI runs in a child process and blocks while
 * mounted; the tree is compared with shell tools from outside, then SIGINT (or `fusermount -u`)
 * unmounts it and the CLI exits 0. Needs /dev/fuse, libfuse2, fusermount and root (as the
 * @pxar/fuse mount tests); without them these tests fail loudly.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createReadStream } from 'node:fs'
import { access, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isMounted } from '@pxar/fuse'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeTree, makeTree, q, SPECIAL, sh, shTry } from '../../../packages/fuse/test/tree.ts'
import { BackupWriter, PbsClient } from '../../../packages/pbs-client/src/index.ts'
import { type RunningServer, startServer } from '../../../packages/server/src/index.ts'
import { REPO_ROOT } from '../../../scripts/vectors.ts'
import { baseEnv, NODE_ARGS, run, tempHome } from './helpers.ts'

const TOKEN_ID = 'root@pam!mount'
const TOKEN_SECRET = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d'
const PBS_TIME = 1_700_000_200

let home: string
let env: Record<string, string>
let src: string
let store: string
let fuseProblem: string | undefined
let server: RunningServer | undefined
const children: ChildProcess[] = []
const mountpoints: string[] = []

async function fileSink(
  path: string,
): Promise<{ write: (c: Uint8Array) => Promise<unknown>; close: () => Promise<void> }> {
  const fh = await open(path, 'w')
  return { write: (c) => fh.write(c), close: () => fh.close() }
}

beforeAll(async () => {
  try {
    await access('/dev/fuse')
  } catch {
    fuseProblem = '/dev/fuse is missing: these tests need FUSE (modprobe fuse, or --device /dev/fuse)'
  }
  if (process.getuid?.() !== 0)
    fuseProblem ??= 'the mount tests must run as root (device nodes, trusted xattrs)'
  if ((await shTry('command -v fusermount && command -v setfattr && command -v getfacl')).code !== 0)
    fuseProblem ??= 'fusermount, setfattr or getfacl missing: install fuse3 attr acl (scripts/bootstrap.sh)'
  if (fuseProblem) return
  home = await tempHome()
  env = baseEnv(home)
  src = join(home, 'src')
  store = join(home, 'store')
  await mkdir(src)
  await makeTree(src, 3 * 1024 * 1024 + 777)
  const v1 = await fileSink(join(home, 'tree.pxar'))
  await encodeTree(src, { out: v1.write })
  await v1.close()
  await mkdir(join(home, 'split'))
  const m = await fileSink(join(home, 'split', 'tree.mpxar'))
  const p = await fileSink(join(home, 'split', 'tree.ppxar'))
  await encodeTree(src, { out: m.write, payload: p.write })
  await m.close()
  await p.close()
  // a local datastore: an encrypted backup made by the CLI
  const kg = await run(['keygen', '--kdf', 'none', join(home, 'key.json')], { env })
  expect(kg.code, kg.stderr).toBe(0)
  const kg2 = await run(['keygen', '--kdf', 'none', join(home, 'other-key.json')], { env })
  expect(kg2.code, kg2.stderr).toBe(0)
  const b = await run(
    ['backup', src, '--store', store, '--backup-id', 'web', '--keyfile', join(home, 'key.json')],
    { env },
  )
  expect(b.code, b.stderr).toBe(0)
  // a PBS-compatible server on the loopback with a split snapshot
  server = await startServer({
    datastore: join(home, 'pbs-store'),
    listen: '127.0.0.1:0',
    tokens: { [TOKEN_ID]: TOKEN_SECRET },
    certDir: join(home, 'pbs-cert'),
    authFailureDelayMs: 0,
  })
  const client = new PbsClient({
    host: '127.0.0.1',
    port: server.port,
    authId: TOKEN_ID,
    password: TOKEN_SECRET,
    fingerprint: server.fingerprint,
  })
  const w = await BackupWriter.start(
    client,
    server.name,
    { ns: [], type: 'host', id: 'pbs', time: PBS_TIME },
    {
      workers: 1,
    },
  )
  await w.uploadArchive('root.mpxar.didx', createReadStream(join(home, 'split', 'tree.mpxar')), {
    avgSize: 64 * 1024,
  })
  await w.uploadArchive('root.ppxar.didx', createReadStream(join(home, 'split', 'tree.ppxar')), {
    avgSize: 64 * 1024,
  })
  await w.finish()
}, 300_000)

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  for (const mp of mountpoints) if (await isMounted(mp)) await shTry(`fusermount -u -z ${q(mp)}`)
  await server?.stop()
  if (home) await rm(home, { recursive: true, force: true })
})

function requireFuse(): void {
  if (fuseProblem) throw new Error(`FUSE UNAVAILABLE — mount tests cannot run: ${fuseProblem}`)
}

interface RunningMount {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  exited: Promise<number | null>
}

/** Starts `pxar-cli mount ARGS` and waits until `mnt` shows up in /proc/mounts. */
async function startMount(
  args: readonly string[],
  mnt: string,
  extraEnv: Record<string, string> = {},
): Promise<RunningMount> {
  const child = spawn(process.execPath, [...NODE_ARGS, 'mount', ...args], {
    cwd: REPO_ROOT,
    env: { ...env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s))
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s))
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  let gone = false
  void exited.then(() => {
    gone = true
  })
  const deadline = Date.now() + 90_000
  while (!(await isMounted(mnt))) {
    if (gone) throw new Error(`pxar-cli mount exited before mounting: ${stderr}`)
    if (Date.now() > deadline) throw new Error(`not mounted after 90 s: ${stderr}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  // the result line is printed right after the mount call returns
  while (!stdout.includes('\n') && !gone && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  return { child, stdout: () => stdout, stderr: () => stderr, exited }
}

async function newMountpoint(): Promise<string> {
  const mnt = await mkdtemp(join(home, 'mnt-'))
  mountpoints.push(mnt)
  return mnt
}

function normalizeXattrDump(text: string): string {
  return text
    .split('\n\n')
    .map((block) => {
      const lines = block.split('\n').filter((l) => l !== '')
      return [lines[0], ...lines.slice(1).sort()].join('\n')
    })
    .sort()
    .join('\n\n')
}

/** Compares the mount with the source tree using shell tools (outside every Node process). */
async function compare(mnt: string): Promise<void> {
  const both = async (cmd: string): Promise<[string, string]> => [
    await sh(`cd ${q(src)} && ${cmd}`),
    await sh(`cd ${q(mnt)} && ${cmd}`),
  ]
  const diff = await shTry(
    `diff -r --no-dereference ${SPECIAL.map((s) => `-x ${s}`).join(' ')} ${q(src)} ${q(mnt)}`,
  )
  expect(diff.stdout + diff.stderr).toBe('')
  expect(diff.code).toBe(0)
  const [a, b] = await both(`find . -printf '%p|%M|%U|%G|%n|%y|%l\\n' | sort`)
  expect(b).toBe(a)
  const [sa, sb] = await both(`find . ! -type d -printf '%p|%s\\n' | sort`)
  expect(sb).toBe(sa)
  const [da, db] = await both(`stat -c '%n %F %t %T' null-dev loop-dev fifo`)
  expect(db).toBe(da)
  const [xa, xb] = await both('getfattr -R -h -d -m - -e hex . 2>/dev/null')
  expect(normalizeXattrDump(xb)).toBe(normalizeXattrDump(xa))
  const [ha, hb] = await both('cat big.bin | sha256sum')
  expect(hb).toBe(ha)
  const [ca, cb] = await both('find . | wc -l')
  expect(cb).toBe(ca)
  expect(Number(cb.trim())).toBeGreaterThan(15)
}

/** Mounts, compares, interrupts with `signal`, and checks the clean exit. */
async function mountCompareInterrupt(
  args: (mnt: string) => string[],
  extraEnv: Record<string, string> = {},
  signal: NodeJS.Signals = 'SIGINT',
): Promise<string> {
  requireFuse()
  const mnt = await newMountpoint()
  const m = await startMount(args(mnt), mnt, extraEnv)
  try {
    await compare(mnt)
  } finally {
    m.child.kill(signal)
  }
  expect(await m.exited, m.stderr()).toBe(0)
  expect(await isMounted(mnt)).toBe(false)
  expect(await readFile('/proc/mounts', 'utf8')).not.toContain(mnt)
  if (!args(mnt).includes('json')) expect(m.stderr()).toContain(`unmounted ${mnt}`)
  return m.stdout()
}

// real mounts and child processes on a shared, loaded machine: generous limits
describe('pxar-cli mount', { timeout: 240_000 }, () => {
  it('mounts a local .pxar file until SIGINT', async () => {
    const out = await mountCompareInterrupt((mnt) => [join(home, 'tree.pxar'), mnt])
    expect(out).toContain(`mounted ${join(home, 'tree.pxar')} on `)
  })

  it('mounts a split .mpxar (payload beside it) until SIGTERM, and with --payload', async () => {
    await mountCompareInterrupt((mnt) => [join(home, 'split', 'tree.mpxar'), mnt], {}, 'SIGTERM')
    // the payload given explicitly, under another name
    await mkdir(join(home, 'elsewhere'))
    await sh(`cp ${q(join(home, 'split', 'tree.mpxar'))} ${q(join(home, 'elsewhere', 'meta.mpxar'))}`)
    await mountCompareInterrupt((mnt) => [
      join(home, 'elsewhere', 'meta.mpxar'),
      mnt,
      '--payload',
      join(home, 'split', 'tree.ppxar'),
    ])
  })

  it('mounts the latest snapshot of a group in a local datastore (encrypted, --keyfile)', async () => {
    const out = await mountCompareInterrupt((mnt) => [
      'host/web',
      'root.pxar.didx',
      mnt,
      '--store',
      store,
      '--keyfile',
      join(home, 'key.json'),
    ])
    expect(out).toMatch(/^mounted host\/web\/\S+ root\.pxar\.didx on /)
  })

  it('mounts a split archive of a snapshot on a PBS server (--repository), JSON result', async () => {
    const repo = `${TOKEN_ID}@127.0.0.1:${server!.port}:${server!.name}`
    const out = await mountCompareInterrupt(
      (mnt) => [
        'host/pbs/2023-11-14T22:16:40Z',
        'root.mpxar',
        mnt,
        '--repository',
        repo,
        '--output-format',
        'json',
      ],
      { PBS_PASSWORD: TOKEN_SECRET, PBS_FINGERPRINT: server!.fingerprint },
    )
    const res = JSON.parse(out) as Record<string, unknown>
    expect(res).toMatchObject({ snapshot: 'host/pbs/2023-11-14T22:16:40Z', archive: 'root.mpxar.didx' })
    expect(typeof res.pid).toBe('number')
  })

  it('--daemon returns once mounted, prints the pid, and the mount lives until SIGTERM', async () => {
    requireFuse()
    const repo = `${TOKEN_ID}@127.0.0.1:${server!.port}:${server!.name}`
    const cases: { args: (mnt: string) => string[]; env: Record<string, string> }[] = [
      {
        args: (mnt) => ['host/web', 'root', mnt, '--store', store, '--keyfile', join(home, 'key.json')],
        env: {},
      },
      {
        args: (mnt) => ['host/pbs', 'root.mpxar.didx', mnt, '--repository', repo],
        env: { PBS_PASSWORD: TOKEN_SECRET, PBS_FINGERPRINT: server!.fingerprint },
      },
    ]
    for (const c of cases) {
      const mnt = await newMountpoint()
      const r = await run(['mount', '--daemon', ...c.args(mnt), '--output-format', 'json'], {
        env: { ...env, ...c.env },
      })
      expect(r.code, r.stderr).toBe(0)
      const res = JSON.parse(r.stdout) as { pid: number; mountpoint: string }
      expect(res.mountpoint).toBe(mnt)
      expect(await isMounted(mnt)).toBe(true)
      try {
        await compare(mnt)
      } finally {
        process.kill(res.pid, 'SIGTERM')
      }
      const deadline = Date.now() + 60_000
      const alive = (): boolean => {
        try {
          process.kill(res.pid, 0)
          return true
        } catch {
          return false
        }
      }
      while ((alive() || (await isMounted(mnt))) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(alive()).toBe(false)
      expect(await isMounted(mnt)).toBe(false)
    }
    // errors of the background process reach the command line
    const mnt = await newMountpoint()
    const bad = await run(['mount', '--daemon', 'host/web', 'root', mnt, '--store', store], { env })
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(
      /^pxar-cli: error: the snapshot is encrypted or signed: .*\(pass --keyfile\)\n$/,
    )
    expect(await isMounted(mnt)).toBe(false)
  })

  it('returns (exit 0) when unmounted from outside with fusermount -u', async () => {
    requireFuse()
    const mnt = await newMountpoint()
    const m = await startMount([join(home, 'tree.pxar'), mnt], mnt)
    expect((await sh(`cat ${q(join(mnt, 'hello.txt'))}`)).trim()).toBe('hello world')
    await sh(`fusermount -u ${q(mnt)}`)
    expect(await m.exited, m.stderr()).toBe(0)
    expect(await isMounted(mnt)).toBe(false)
  })

  it('fails with one-line errors: missing mountpoint, missing archive, busy or non-empty mountpoint, wrong key', async () => {
    requireFuse()
    const oneLine = (r: { code: number; stderr: string }, pattern: RegExp): void => {
      expect(r.code, r.stderr).toBe(1)
      expect(r.stderr).toMatch(pattern)
      expect(r.stderr).not.toMatch(/\n\s+at /) // no stack trace
    }
    const mnt = await newMountpoint()
    oneLine(
      await run(['mount', join(home, 'tree.pxar'), join(home, 'no-such-dir')], { env }),
      /mountpoint .*no-such-dir does not exist/,
    )
    oneLine(
      await run(['mount', join(home, 'missing.pxar'), mnt], { env }),
      /archive .*missing\.pxar does not exist/,
    )
    oneLine(
      await run(
        ['mount', 'host/web', 'other.pxar', mnt, '--store', store, '--keyfile', join(home, 'key.json')],
        { env },
      ),
      /archive other\.pxar not found in host\/web\//,
    )
    oneLine(
      await run(
        ['mount', 'host/web', 'root.pxar', mnt, '--store', store, '--keyfile', join(home, 'other-key.json')],
        {
          env,
        },
      ),
      /does not match the snapshot/,
    )
    oneLine(await run(['mount', 'host/web', 'root.pxar', mnt, '--store', store], { env }), /encrypted|key/)
    const full = await mkdtemp(join(home, 'full-'))
    await writeFile(join(full, 'x'), 'x')
    oneLine(await run(['mount', join(home, 'tree.pxar'), full], { env }), /mountpoint .* is not empty/)
    // busy: something is mounted there already
    const m = await startMount([join(home, 'tree.pxar'), mnt], mnt)
    try {
      oneLine(await run(['mount', join(home, 'split', 'tree.mpxar'), mnt], { env }), /is busy/)
    } finally {
      m.child.kill('SIGINT')
    }
    expect(await m.exited).toBe(0)
    expect(await isMounted(mnt)).toBe(false)
    // no /dev/fuse: the CLI runs in a mount namespace with an empty /dev
    const cli = [process.execPath, ...NODE_ARGS, 'mount', join(home, 'tree.pxar'), mnt].map(q).join(' ')
    const noFuse = await shTry(
      `cd ${q(REPO_ROOT)} && unshare -m sh -c ${q(`mount -t tmpfs none /dev && exec ${cli}`)}`,
    )
    expect(noFuse.code, noFuse.stderr).toBe(1)
    expect(noFuse.stderr).toMatch(
      /^pxar-cli: error: \/dev\/fuse is missing or not accessible \(.*modprobe fuse/,
    )
    expect(await isMounted(mnt)).toBe(false)
    // usage errors: --store with a file, --payload with a snapshot
    const u = await run(['mount', join(home, 'tree.pxar'), mnt, '--store', store], { env })
    expect(u.code).toBe(2)
    expect(u.stderr).toMatch(/--store applies to snapshots/)
  })
})
