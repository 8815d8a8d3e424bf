/**
 * `pxar-cli serve` as a PBS-compatible server and the client commands with `--repository`,
 * everything run as a user would: child processes, environment variables, real trees.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { link, lstat, mkdir, readdir, readFile, readlink, symlink, utimes, writeFile } from 'node:fs/promises'
import https from 'node:https'
import { join } from 'node:path'
import {
  AsyncCatalogReader,
  CATALOG_NAME,
  Datastore,
  decryptKeyConfig,
  IndexReadAt,
  parseKeyConfig,
  readDynamicIndexFile,
  verifySnapshot,
} from '@pxar/datastore'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REPO_ROOT } from '../../../scripts/vectors.ts'
import { baseEnv, NODE_ARGS, type RunResult, run, tempHome } from './helpers.ts'

const TOKEN = 'root@pam!test'
/** Every test spawns several CLI processes; generous on a loaded machine. */
const SLOW = { timeout: 300_000 }

let home: string
let env: Record<string, string>
let src: string
let dsDir: string
let server: ChildProcess
let serverOut = ''
let serverErr = ''
let fingerprint: string
let address: string
let secret: string
let remoteEnv: Record<string, string>

/** A tree with many kinds of entries and metadata. */
async function makeTree(root: string): Promise<void> {
  await mkdir(join(root, 'deep', 'er', 'est'), { recursive: true })
  await mkdir(join(root, 'data'), { recursive: true })
  await writeFile(join(root, 'empty'), '')
  await writeFile(join(root, 'hello.txt'), 'hello\n')
  await writeFile(join(root, 'ünïcödé name'), 'x')
  for (let i = 0; i < 4; i++) await writeFile(join(root, 'data', `r${i}.bin`), randomBytes(1536 * 1024))
  await writeFile(join(root, 'deep', 'er', 'est', 'big.bin'), randomBytes(5 << 20))
  for (let i = 0; i < 50; i++) await writeFile(join(root, 'deep', `small-${i}.txt`), `line ${i}\n`.repeat(i))
  await symlink('hello.txt', join(root, 'link'))
  await link(join(root, 'hello.txt'), join(root, 'deep', 'hardlink'))
  execFileSync('mkfifo', [join(root, 'fifo')])
  execFileSync('chmod', ['0640', join(root, 'empty')])
  execFileSync('chmod', ['0750', join(root, 'deep', 'er')])
  execFileSync('setfattr', ['-n', 'user.comment', '-v', 'remote test', join(root, 'hello.txt')])
  execFileSync('setfacl', ['-m', 'u:1234:r', join(root, 'data', 'r0.bin')])
  await utimes(join(root, 'data', 'r1.bin'), 1_700_000_000.25, 1_700_000_000.123456)
}

interface EntryInfo {
  type: string
  mode: number
  uid: number
  gid: number
  size: number
  mtimeUs: bigint
  sha?: string
  target?: string
  xattrs: string
  hardlinkOf?: string
}

/** Content and metadata of every entry below `root` (the root directory itself included). */
async function snapshotTree(root: string): Promise<Map<string, EntryInfo>> {
  const out = new Map<string, EntryInfo>()
  const inodes = new Map<bigint, string>()
  const walk = async (rel: string): Promise<void> => {
    const abs = rel ? join(root, rel) : root
    const st = await lstat(abs, { bigint: true })
    const type = st.isDirectory()
      ? 'dir'
      : st.isFile()
        ? 'file'
        : st.isSymbolicLink()
          ? 'symlink'
          : st.isFIFO()
            ? 'fifo'
            : 'other'
    const xattrs = st.isSymbolicLink()
      ? ''
      : execFileSync('getfattr', ['-h', '-d', '-m', '-', '--absolute-names', abs], { encoding: 'utf8' })
          .split('\n')
          .filter((l) => l && !l.startsWith('#'))
          .sort()
          .join('\n')
    const info: EntryInfo = {
      type,
      mode: Number(st.mode),
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: type === 'dir' ? 0 : Number(st.size),
      mtimeUs: type === 'symlink' ? 0n : st.mtimeNs / 1000n,
      xattrs,
    }
    if (type === 'file') {
      info.sha = createHash('sha256')
        .update(await readFile(abs))
        .digest('hex')
      if (st.nlink > 1n) {
        const first = inodes.get(st.ino)
        if (first !== undefined) info.hardlinkOf = first
        else inodes.set(st.ino, rel)
      }
    }
    if (type === 'symlink') info.target = await readlink(abs)
    out.set(rel || '.', info)
    if (type === 'dir') {
      const names = (await readdir(abs)).sort()
      for (const n of names) await walk(rel ? `${rel}/${n}` : n)
    }
  }
  await walk('')
  return out
}

async function expectSameTree(a: string, b: string): Promise<void> {
  const ta = await snapshotTree(a)
  const tb = await snapshotTree(b)
  expect([...tb.keys()]).toEqual([...ta.keys()])
  for (const [k, v] of ta) {
    const w = tb.get(k)!
    // the root directory's own mtime is that of the target, which the test created
    if (k === '.') {
      expect({ ...w, mtimeUs: 0n }, k).toEqual({ ...v, mtimeUs: 0n })
      continue
    }
    expect(w, k).toEqual(v)
  }
}

function json<T = Record<string, unknown>>(r: RunResult): T {
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout) as T
}

/** Waits until `pred` holds (polling), or fails after `ms`. */
async function waitFor(pred: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Chunk files in the server's datastore. */
async function countChunks(): Promise<number> {
  let n = 0
  for (const d of await readdir(join(dsDir, '.chunks')))
    n += (await readdir(join(dsDir, '.chunks', d))).length
  return n
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

beforeAll(async () => {
  home = await tempHome()
  env = baseEnv(home)
  src = join(home, 'src')
  dsDir = join(home, 'server-store')
  await makeTree(src)
  server = spawn(process.execPath, [...NODE_ARGS, 'serve', '--store', dsDir, '--listen', '127.0.0.1:0'], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  server.stdout!.setEncoding('utf8').on('data', (s: string) => (serverOut += s))
  server.stderr!.setEncoding('utf8').on('data', (s: string) => (serverErr += s))
  await waitFor(
    () => serverOut.split('\n').length > 2 || server.exitCode !== null,
    60_000,
    'the server to start',
  )
  const lines = serverOut.split('\n')
  const fp = /^fingerprint: ((?:[0-9a-f]{2}:){31}[0-9a-f]{2})$/.exec(lines[0] ?? '')
  const listening = /^listening: https:\/\/(127\.0\.0\.1:\d+)$/.exec(lines[1] ?? '')
  if (!fp || !listening) throw new Error(`unexpected server output: ${serverOut}${serverErr}`)
  fingerprint = fp[1]!
  address = listening[1]!
  const t = await run(['serve-token', '--store', dsDir, '--create', TOKEN], { env })
  expect(t.code, t.stderr).toBe(0)
  secret = t.stdout.trim()
  expect(secret).toMatch(/^[0-9a-f-]{36}$/)
  remoteEnv = {
    ...env,
    PBS_REPOSITORY: `${TOKEN}@${address}:store`,
    PBS_PASSWORD: secret,
    PBS_FINGERPRINT: fingerprint,
  }
}, 180_000)

afterAll(async () => {
  if (server && server.exitCode === null) {
    const closed = new Promise((r) => server.once('close', r))
    server.kill('SIGTERM')
    await closed
  }
})

describe('pxar-cli serve', () => {
  it(
    'prints the fingerprint first and the listening address second; serve-token speaks JSON too',
    SLOW,
    async () => {
      expect(serverOut.split('\n')[0]).toBe(`fingerprint: ${fingerprint}`)
      const j = json<{ tokenid: string; value: string }>(
        await run(
          ['serve-token', '--store', dsDir, '--create', 'root@pam!other', '--output-format', 'json'],
          {
            env,
          },
        ),
      )
      expect(j.tokenid).toBe('root@pam!other')
      expect(j.value).toMatch(/^[0-9a-f-]{36}$/)
      const bad = await run(['serve-token', '--store', dsDir, '--create', 'root@pam'], { env })
      expect(bad.code).toBe(2)
    },
  )
})

describe('backup to and restore from a repository', () => {
  it(
    'legacy: restore via the reader protocol gives the tree back; a second backup uploads only new chunks',
    SLOW,
    async () => {
      const first = json<{
        snapshot: string
        archives: string[]
        files: number
        bytes: number
        uploadedBytes: number
        uploadedChunks: number
        reusedBytes: number
        durationMs: number
      }>(await run(['backup', src, '--backup-id', 'legacy', '--output-format', 'json'], { env: remoteEnv }))
      expect(first.snapshot).toMatch(/^host\/legacy\/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
      expect(first.archives).toEqual(['root.pxar.didx', 'catalog.pcat1.didx'])
      expect(first.reusedBytes).toBe(0)
      expect(first.uploadedChunks).toBeGreaterThan(1)
      expect(typeof first.durationMs).toBe('number')

      const target = join(home, 'restore-legacy')
      const r = json(
        await run(['restore', first.snapshot, 'root.pxar', target, '--output-format', 'json'], {
          env: remoteEnv,
        }),
      )
      expect(r.files).toBe(first.files)
      await expectSameTree(src, target)

      // unchanged: no chunk goes over the wire (the previous indexes register every chunk)
      await sleep(1100)
      const chunks0 = await countChunks()
      const same = json<{ uploadedChunks: number; uploadedBytes: number }>(
        await run(['backup', src, '--backup-id', 'legacy', '--output-format', 'json'], { env: remoteEnv }),
      )
      expect(same.uploadedChunks).toBe(0)
      expect(same.uploadedBytes).toBe(0)
      const chunks1 = await countChunks()
      expect(chunks1 - chunks0).toBe(same.uploadedChunks)
      // one new file: only chunks the datastore does not have are uploaded
      await writeFile(join(src, 'data', 'new.bin'), randomBytes(256 * 1024))
      await sleep(1100)
      const changed = json<{ uploadedChunks: number; uploadedBytes: number; snapshot: string }>(
        await run(['backup', src, '--backup-id', 'legacy', '--output-format', 'json'], { env: remoteEnv }),
      )
      expect(changed.uploadedChunks).toBeGreaterThan(0)
      // every uploaded chunk was new to the datastore
      expect((await countChunks()) - chunks1).toBe(changed.uploadedChunks)
      const target2 = join(home, 'restore-legacy-2')
      expect(
        (await run(['restore', 'host/legacy', 'root.pxar.didx', target2], { env: remoteEnv })).code,
      ).toBe(0)
      await expectSameTree(src, target2)

      // listings over REST, the catalog over the reader protocol
      const snaps = json<{ snapshot: string }[]>(
        await run(['snapshots', 'host/legacy', '--output-format', 'json'], { env: remoteEnv }),
      )
      expect(snaps.map((s) => s.snapshot)).toContain(first.snapshot)
      expect(snaps.map((s) => s.snapshot)).toContain(changed.snapshot)
      const files = json<{ files: { filename: string }[] }>(
        await run(['files', 'host/legacy', '--output-format', 'json'], { env: remoteEnv }),
      )
      expect(files.files.map((f) => f.filename).sort()).toEqual(['catalog.pcat1.didx', 'root.pxar.didx'])
      const found = await run(['catalog', 'find', 'host/legacy', '*.bin'], { env: remoteEnv })
      expect(found.code, found.stderr).toBe(0)
      expect(found.stdout.trim().split('\n').sort()).toEqual(
        [
          '/root.pxar.didx/data/new.bin',
          '/root.pxar.didx/data/r0.bin',
          '/root.pxar.didx/data/r1.bin',
          '/root.pxar.didx/data/r2.bin',
          '/root.pxar.didx/data/r3.bin',
          '/root.pxar.didx/deep/er/est/big.bin',
        ].sort(),
      )
      const status = json<{ groups: number; snapshots: number; version: string }>(
        await run(['status', '--output-format', 'json'], { env: remoteEnv }),
      )
      expect(status.snapshots).toBeGreaterThanOrEqual(3)

      // the server's datastore, read with @pxar/datastore alone
      const ds = await Datastore.open(dsDir)
      const [group] = (await ds.listGroups([])).filter((g) => g.id === 'legacy')
      const list = await ds.listSnapshots(group!)
      expect(list).toHaveLength(3)
      const last = list[list.length - 1]!
      const manifest = await ds.readManifest(last.dir)
      expect(manifest.files.map((f) => f.filename).sort()).toEqual(['catalog.pcat1.didx', 'root.pxar.didx'])
      for (const f of manifest.files) {
        const index = await readDynamicIndexFile(join(ds.snapshotDir(last.dir), f.filename))
        index.verifyCsum(Buffer.from(f.csum, 'hex'))
      }
      const catIndex = await readDynamicIndexFile(join(ds.snapshotDir(last.dir), CATALOG_NAME))
      const catalog = await AsyncCatalogReader.open(
        new IndexReadAt(catIndex, { read: (d) => ds.chunkStore.read(d) }),
      )
      const names: string[] = []
      for await (const e of catalog.walk())
        if (e.entry.type === 'f') names.push(Buffer.from(e.path).toString())
      const srcFiles = [...(await snapshotTree(src))]
        .filter(([, v]) => v.type === 'file' && v.hardlinkOf === undefined)
        .map(([k]) => `root.pxar.didx/${k}`)
      expect(names.sort()).toEqual(srcFiles.sort())
      expect((await verifySnapshot(ds, last.dir)).ok).toBe(true)
      // a local restore straight from the server's directory gives the same tree
      const local = join(home, 'restore-local-from-server-dir')
      expect(
        (await run(['restore', 'host/legacy', 'root.pxar', local, '--store', dsDir], { env })).code,
      ).toBe(0)
      await expectSameTree(src, local)
    },
  )

  it(
    'data and metadata modes: metadata reuses unchanged files through the previous snapshot',
    SLOW,
    async () => {
      const data = json<{ archives: string[]; snapshot: string }>(
        await run(['backup', src, '--backup-id', 'split', '--mode', 'data', '--output-format', 'json'], {
          env: remoteEnv,
        }),
      )
      expect(data.archives).toEqual(['root.mpxar.didx', 'root.ppxar.didx'])
      const t1 = join(home, 'restore-data')
      expect((await run(['restore', data.snapshot, 'root', t1], { env: remoteEnv })).code).toBe(0)
      await expectSameTree(src, t1)

      const m1 = json<{ reusedBytes: number }>(
        await run(['backup', src, '--backup-id', 'meta', '--mode', 'metadata', '--output-format', 'json'], {
          env: remoteEnv,
        }),
      )
      expect(m1.reusedBytes).toBe(0)
      await sleep(1100)
      await writeFile(join(src, 'hello.txt'), 'hello again\n')
      const m2 = json<{ reusedBytes: number; bytesRead: number; bytes: number; snapshot: string }>(
        await run(['backup', src, '--backup-id', 'meta', '--mode', 'metadata', '--output-format', 'json'], {
          env: remoteEnv,
        }),
      )
      expect(m2.reusedBytes).toBeGreaterThanOrEqual(5 << 20)
      expect(m2.bytesRead).toBeLessThan(m2.bytes / 4)
      const t2 = join(home, 'restore-meta')
      const rr = await run(['restore', 'host/meta', 'root.mpxar.didx', t2], { env: remoteEnv })
      expect(rr.code, rr.stderr).toBe(0)
      await expectSameTree(src, t2)
      const ds = await Datastore.open(dsDir)
      const last = await ds.lastSnapshot({ ns: [], type: 'host', id: 'meta' })
      expect((await verifySnapshot(ds, last!.dir)).ok).toBe(true)
    },
  )

  it(
    'encrypted with a key file: signed manifest, encrypted chunks, restore needs the key',
    SLOW,
    async () => {
      const key = join(home, 'enc.json')
      expect((await run(['keygen', key, '--kdf', 'none'], { env })).code).toBe(0)
      const b = json<{ snapshot: string }>(
        await run(['backup', src, '--backup-id', 'enc', '--keyfile', key, '--output-format', 'json'], {
          env: remoteEnv,
        }),
      )
      const without = await run(['restore', b.snapshot, 'root.pxar', join(home, 'enc-fail')], {
        env: remoteEnv,
      })
      expect(without.code).toBe(1)
      expect(without.stderr.trim().split('\n')).toHaveLength(1)
      const target = join(home, 'enc-ok')
      const ok = await run(['restore', b.snapshot, 'root.pxar', target, '--keyfile', key], { env: remoteEnv })
      expect(ok.code, ok.stderr).toBe(0)
      await expectSameTree(src, target)
      const cat = await run(['catalog', 'find', 'host/enc', 'hello.txt', '--keyfile', key], {
        env: remoteEnv,
      })
      expect(cat.code, cat.stderr).toBe(0)
      expect(cat.stdout.trim()).toBe('/root.pxar.didx/hello.txt')

      // on the server: the manifest signature checks with the key, every file is encrypted
      const crypt = (await decryptKeyConfig(parseKeyConfig(await readFile(key, 'utf8')))).cryptConfig
      const ds = await Datastore.open(dsDir)
      const last = await ds.lastSnapshot({ ns: [], type: 'host', id: 'enc' })
      const manifest = await ds.readManifest(last!.dir, { key: crypt })
      expect(manifest.signature).toMatch(/^[0-9a-f]{64}$/)
      expect(manifest.files.every((f) => f.cryptMode === 'encrypt')).toBe(true)
      const catIndex = await readDynamicIndexFile(join(ds.snapshotDir(last!.dir), CATALOG_NAME))
      const catalog = await AsyncCatalogReader.open(
        new IndexReadAt(catIndex, { read: (d) => ds.chunkStore.read(d) }, { crypt }),
      )
      const names: string[] = []
      for await (const e of catalog.walk()) names.push(Buffer.from(e.path).toString())
      expect(names).toContain('root.pxar.didx/hello.txt')
      expect((await verifySnapshot(ds, last!.dir, { key: crypt })).ok).toBe(true)

      // sign-only: plain chunks, a signed manifest; restore works with and without the key
      const signed = json<{ snapshot: string }>(
        await run(
          [
            'backup',
            src,
            '--backup-id',
            'signed',
            '--keyfile',
            key,
            '--crypt-mode',
            'sign-only',
            '--output-format',
            'json',
          ],
          { env: remoteEnv },
        ),
      )
      const signedLast = await ds.lastSnapshot({ ns: [], type: 'host', id: 'signed' })
      const signedManifest = await ds.readManifest(signedLast!.dir, { key: crypt })
      expect(signedManifest.signature).toMatch(/^[0-9a-f]{64}$/)
      expect(signedManifest.files.every((f) => f.cryptMode === 'sign-only')).toBe(true)
      const t3 = join(home, 'signed-restore')
      const rs = await run(['restore', signed.snapshot, 'root.pxar', t3, '--keyfile', key], {
        env: remoteEnv,
      })
      expect(rs.code, rs.stderr).toBe(0)
      await expectSameTree(src, t3)
    },
  )
})

describe('refusals', () => {
  it(
    'a wrong token, a wrong fingerprint, no fingerprint, no password: one-line errors, non-zero exit; target and password sources',
    SLOW,
    async () => {
      const cases: [Record<string, string | undefined>, RegExp][] = [
        [{ PBS_PASSWORD: 'not-the-secret' }, /authentication of root@pam!test .* failed/],
        [{ PBS_FINGERPRINT: `00${fingerprint.slice(2)}` }, /fingerprint mismatch/],
        [{ PBS_FINGERPRINT: undefined }, /certificate .*not accepted.*self-signed/],
        [{ PBS_PASSWORD: undefined }, /no secret of API token root@pam!test/],
      ]
      for (const [change, message] of cases) {
        const e: Record<string, string> = { ...remoteEnv }
        for (const [k, v] of Object.entries(change)) {
          if (v === undefined) delete e[k]
          else e[k] = v
        }
        const r = await run(['backup', src, '--backup-id', 'refused'], { env: e })
        expect(r.code).toBe(1)
        expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1)
        expect(r.stderr).toMatch(message)
        expect(r.stderr).not.toContain(secret)
        const s = await run(['snapshots'], { env: e })
        expect(s.code).toBe(1)
      }
      expect(existsSync(join(dsDir, 'host', 'refused'))).toBe(false)
      const bad = await run(['snapshots', '--repository', 'no good'], { env: remoteEnv })
      expect(bad.code).toBe(2)
      const both = await run(['snapshots', '--repository', `${TOKEN}@${address}:store`, '--store', dsDir], {
        env: remoteEnv,
      })
      expect(both.code).toBe(2)
      expect(both.stderr).toContain('mutually exclusive')
      // --store on the command line wins over PBS_REPOSITORY in the environment (and vice versa)
      const local = json<{ snapshot: string }[]>(
        await run(['snapshots', 'host/enc', '--store', dsDir, '--output-format', 'json'], {
          env: { ...remoteEnv, PBS_PASSWORD: 'not-needed-locally' },
        }),
      )
      expect(local.length).toBeGreaterThan(0)
      const remoteWins = json<{ snapshot: string }[]>(
        await run(
          ['snapshots', 'host/enc', '--repository', `${TOKEN}@${address}:store`, '--output-format', 'json'],
          { env: { ...remoteEnv, PXAR_STORE: join(home, 'nowhere') } },
        ),
      )
      // the same listing either way (names, files, sizes)
      expect(remoteWins).toEqual(local)
      // the secret from a file (PBS_PASSWORD_FILE) or a descriptor (PBS_PASSWORD_FD)
      const secretFile = join(home, 'secret.txt')
      await writeFile(secretFile, `${secret}\n`, { mode: 0o600 })
      const viaFile = { ...remoteEnv, PBS_PASSWORD_FILE: secretFile } as Record<string, string>
      delete viaFile.PBS_PASSWORD
      expect((await run(['snapshots', 'host/enc'], { env: viaFile })).code).toBe(0)
      const viaFd = { ...remoteEnv, PBS_PASSWORD_FD: '0' } as Record<string, string>
      delete viaFd.PBS_PASSWORD
      expect((await run(['snapshots', 'host/enc'], { env: viaFd, input: `${secret}\n` })).code).toBe(0)
    },
  )

  it('unauthenticated requests are refused', SLOW, async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = https.request(
        `https://${address}/api2/json/admin/datastore/store/snapshots`,
        { rejectUnauthorized: false },
        (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        },
      )
      req.on('error', reject)
      req.end()
    })
    expect(status).toBe(401)
  })
})

describe('an interrupted backup', () => {
  it('a client killed mid-backup leaves no snapshot; the next backup succeeds', SLOW, async () => {
    const big = join(home, 'big-src')
    await mkdir(big)
    for (let i = 0; i < 6; i++) await writeFile(join(big, `f${i}.bin`), randomBytes(8 << 20))
    const child = spawn(process.execPath, [...NODE_ARGS, 'backup', big, '--backup-id', 'killed'], {
      cwd: REPO_ROOT,
      env: remoteEnv,
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    const group = join(dsDir, 'host', 'killed')
    const closed = new Promise((r) => child.once('close', r))
    // the snapshot directory appears when the server starts the backup session
    await waitFor(
      async () =>
        child.exitCode !== null ||
        (existsSync(group) && (await readdir(group)).some((n) => /^\d{4}-/.test(n))),
      120_000,
      'the backup to start',
    )
    expect(child.exitCode, stderr).toBeNull()
    child.kill('SIGKILL')
    await closed
    // the server notices the closed connection and removes the unfinished snapshot
    await waitFor(
      async () => !existsSync(group) || !(await readdir(group)).some((n) => /^\d{4}-/.test(n)),
      60_000,
      'the unfinished snapshot to be removed',
    )
    const listed = json<unknown[]>(
      await run(['snapshots', 'host/killed', '--output-format', 'json'], { env: remoteEnv }),
    )
    expect(listed).toEqual([])
    const again = json<{ snapshot: string }>(
      await run(['backup', big, '--backup-id', 'killed', '--output-format', 'json'], { env: remoteEnv }),
    )
    const target = join(home, 'restore-killed')
    expect((await run(['restore', again.snapshot, 'root.pxar', target], { env: remoteEnv })).code).toBe(0)
    await expectSameTree(big, target)
  })
})
