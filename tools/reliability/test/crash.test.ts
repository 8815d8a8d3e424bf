/**
 * Crash consistency: `pxar-cli backup` is killed with SIGKILL at random points while it writes
 * to a local datastore and to @pxar/server. Afterwards no partial snapshot is visible, every
 * visible snapshot verifies, and the next backup succeeds and reuses the chunks the killed runs
 * stored. A garbage collection that runs in the middle of a backup (with a clock far enough in
 * the future that only the writer protection keeps chunks) never removes a chunk that backup
 * references.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, readdir, readFile, rm, utimes } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type BackupDir,
  Datastore,
  DynamicIndex,
  garbageCollect,
  verifySnapshot,
} from '../../../packages/datastore/src/index.ts'
import { isPxarError } from '../../../packages/format/src/index.ts'
import { PbsClient, PbsRemoteStore } from '../../../packages/pbs-client/src/index.ts'
import { LocalClient, LocalStore, runBackup } from '../../../packages/proxy/src/index.ts'
import { type RunningServer, startServer } from '../../../packages/server/src/index.ts'
import { CLI_ARGV, cleanEnv, cli, cliProcess, makeTree, REPO_ROOT, tempDir } from './helpers.ts'

let base: string
let src: string
const TOKEN_ID = 'root@pam!crash'
const TOKEN = 'f0e1d2c3-b4a5-4697-8899-aabbccddeeff'

beforeAll(async () => {
  base = await tempDir('crash')
  src = join(base, 'src')
  // enough data for a backup to take a while even on a fast machine
  await makeTree(src, 48, 256 * 1024)
})
afterAll(async () => {
  await rm(base, { recursive: true, force: true })
})

/** Deterministic "random" delays (ms) so that a failure can be replayed. */
function delays(n: number, seed: number, max: number): number[] {
  const out: number[] = []
  let x = seed
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff
    out.push(x % max)
  }
  return out
}

async function countChunks(store: string): Promise<number> {
  let n = 0
  const chunks = join(store, '.chunks')
  for (const d of await readdir(chunks).catch(() => [] as string[])) {
    n += (await readdir(join(chunks, d))).filter((f) => /^[0-9a-f]{64}$/.test(f)).length
  }
  return n
}

/** Resolves just after the next whole second (backup times have a resolution of one second). */
function nextSecond(): Promise<void> {
  return new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 50))
}

/** Resolves once `cond` holds (polling), or after `ms`. */
async function until(cond: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await cond()) return true
    await new Promise((r) => setTimeout(r, 20))
  }
  return false
}

/** Snapshot directories (finished or not) of a group directory. */
async function snapshotDirs(groupDir: string): Promise<string[]> {
  return (await readdir(groupDir).catch(() => [] as string[])).filter((n) => /^\d{4}-/.test(n))
}

/** A condition: a snapshot directory that was not there before has appeared. */
async function newSnapshotDir(groupDir: string): Promise<() => Promise<boolean>> {
  const before = new Set(await snapshotDirs(groupDir))
  return async () => (await snapshotDirs(groupDir)).some((n) => !before.has(n))
}

/** Spawns `pxar-cli backup`, waits until it has started writing, then kills it at a random point. */
async function killBackupMidway(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  started: () => Promise<boolean>,
  delay: number,
): Promise<{ killed: boolean; code: number | null }> {
  const child: ChildProcess = spawn(process.execPath, [...CLI_ARGV, ...args], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  )
  let done = false
  void exited.then(() => (done = true))
  await until(async () => done || (await started()), 60_000)
  if (!done) await new Promise((r) => setTimeout(r, delay))
  if (!done) child.kill('SIGKILL')
  const r = await exited
  if (r.signal !== 'SIGKILL') expect(r.code, stderr).toBe(0)
  return { killed: r.signal === 'SIGKILL', code: r.code }
}

/** Every snapshot a reader sees is finished and verifies; unfinished ones have no manifest. */
async function expectConsistent(ds: Datastore, id: string): Promise<number> {
  const group = { ns: [], type: 'host' as const, id }
  const visible = await ds.listSnapshots(group).catch(() => [])
  for (const s of visible) {
    expect(s.finished).toBe(true)
    const r = await verifySnapshot(ds, s.dir)
    expect(r.ok, JSON.stringify(r.errors)).toBe(true)
  }
  return visible.length
}

describe('kill -9 during a backup', () => {
  it('to the local datastore: no partial snapshot, verify clean, the next backup reuses chunks', async () => {
    const store = join(base, 'local-store')
    const env = cleanEnv(base)
    const groupDir = join(store, 'host', 'crash')
    let kills = 0
    for (const [i, delay] of delays(2, 42, 1500).entries()) {
      // backup times have whole seconds and a killed run's directory stays: start in a new second
      if (i > 0) await nextSecond()
      const chunks = await countChunks(store)
      const appeared = await newSnapshotDir(groupDir)
      const r = await killBackupMidway(
        ['backup', src, '--store', store, '--backup-id', 'crash', '--quiet'],
        env,
        // the first run is killed as soon as it has stored a chunk, the others at random
        i === 0 ? async () => (await countChunks(store)) > chunks : appeared,
        i === 0 ? 0 : delay,
      )
      if (r.killed) kills++
      const ds = await Datastore.open(store)
      await expectConsistent(ds, 'crash')
    }
    expect(kills).toBeGreaterThan(0)
    // killed runs leave unfinished directories that no listing shows
    const listed = await cli(['snapshots', '--store', store, '--output-format', 'json'])
    expect(listed.code, listed.stderr).toBe(0)
    const ds = await Datastore.open(store)
    const all = await ds.listSnapshots({ ns: [], type: 'host', id: 'crash' }, { includeUnfinished: true })
    expect((JSON.parse(listed.stdout) as unknown[]).length).toBe(all.filter((s) => s.finished).length)
    // the next run gets a new backup time
    await new Promise((r) => setTimeout(r, 1100))
    const before = await countChunks(store)
    const finishedBefore = await expectConsistent(ds, 'crash')
    const client = new LocalClient(src)
    const result = await runBackup(client, {
      store: new LocalStore(ds),
      backupId: 'crash',
      workers: 0,
    }).finally(() => client.close())
    expect(await expectConsistent(ds, 'crash')).toBe(finishedBefore + 1)
    // chunks of the killed runs were reused, not stored again: fewer chunk files were added
    // than the new snapshot references (archive and catalog)
    const referenced = new Set<string>()
    for (const name of ['root.pxar.didx', 'catalog.pcat1.didx']) {
      const idx = DynamicIndex.parse(
        await readFile(join(ds.snapshotDir(result.snapshotRef as BackupDir), name)),
      )
      for (let i = 0; i < idx.count; i++) referenced.add(Buffer.from(idx.digest(i)).toString('hex'))
    }
    const added = (await countChunks(store)) - before
    expect(before).toBeGreaterThan(0)
    expect(added).toBeLessThan(referenced.size)
    // the killed runs' directories are cleaned up by the next prune (older than a finished one)
    const pruned = await cli(['prune', 'host/crash', '--keep-last', '10', '--store', store])
    expect(pruned.code, pruned.stderr).toBe(0)
    const left = await ds.listSnapshots({ ns: [], type: 'host', id: 'crash' }, { includeUnfinished: true })
    expect(left.every((s) => s.finished)).toBe(true)
    expect(left.length).toBe(finishedBefore + 1)
  })

  it('to @pxar/server: the aborted session leaves nothing visible, the next backup succeeds', async () => {
    const store = join(base, 'server-store')
    const server: RunningServer = await startServer({
      datastore: store,
      listen: '127.0.0.1:0',
      tokens: { [TOKEN_ID]: TOKEN },
      authFailureDelayMs: 0,
    })
    try {
      const env = cleanEnv(base, {
        PBS_PASSWORD: TOKEN,
        PBS_FINGERPRINT: server.fingerprint,
      })
      const repo = `${TOKEN_ID}@127.0.0.1:${server.port}:${server.name}`
      const groupDir = join(store, 'host', 'remote')
      let kills = 0
      let uploadedByKilled = 0
      for (const [i, delay] of delays(2, 7, 1500).entries()) {
        if (i > 0) await nextSecond()
        const aborted = server.stats.backupsAborted
        const uploads = server.stats.chunkUploads
        const appeared = await newSnapshotDir(groupDir)
        const r = await killBackupMidway(
          ['backup', src, '--repository', repo, '--backup-id', 'remote', '--quiet'],
          env,
          // the first run is killed only after it has uploaded a chunk, the others at random
          i === 0 ? async () => server.stats.chunkUploads > uploads : appeared,
          i === 0 ? 0 : delay,
        )
        if (r.killed) {
          kills++
          uploadedByKilled += server.stats.chunkUploads - uploads
          // the server notices the vanished client and removes the snapshot directory
          expect(await until(async () => server.stats.backupsAborted > aborted, 30_000)).toBe(true)
          expect((await snapshotDirs(groupDir)).length).toBe(server.stats.backupsFinished)
        }
        await expectConsistent(server.datastore, 'remote')
      }
      expect(kills).toBeGreaterThan(0)
      const finished = server.stats.backupsFinished
      const ok = await cliProcess(
        ['backup', src, '--repository', repo, '--backup-id', 'remote', '--output-format', 'json'],
        env,
      )
      expect(ok.code, ok.stderr).toBe(0)
      expect(server.stats.backupsFinished).toBe(finished + 1)
      expect(await expectConsistent(server.datastore, 'remote')).toBe(finished + 1)
      // the killed sessions' chunks stayed in the store: the server found them as duplicates
      // (without a finished previous snapshot a PBS client uploads every chunk; the server keeps
      // the stored copy)
      const snaps = await server.datastore.listSnapshots({ ns: [], type: 'host', id: 'remote' })
      const manifest = await server.datastore.readManifest(snaps[snaps.length - 1]!.dir)
      const stats = manifest.unprotected.chunk_upload_stats as { duplicates: number; count: number }
      if (uploadedByKilled > 0) expect(stats.duplicates).toBeGreaterThan(0)
      expect(stats.count).toBeGreaterThan(0)
    } finally {
      await server.stop()
    }
  })
})

describe('kill -9 of the server during a backup', () => {
  /** Starts `pxar-cli serve` on `store`; resolves with its port, fingerprint and process. */
  async function serve(store: string): Promise<{ port: number; fingerprint: string; child: ChildProcess }> {
    const child = spawn(
      process.execPath,
      [...CLI_ARGV, 'serve', '--store', store, '--listen', '127.0.0.1:0'],
      {
        cwd: REPO_ROOT,
        env: cleanEnv(base),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let out = ''
    child.stdout?.setEncoding('utf8').on('data', (t: string) => (out += t))
    child.stderr?.setEncoding('utf8').on('data', (t: string) => (out += t))
    const ok = await until(
      async () => /listening: https:\/\/[^\s]+:\d+/.test(out) || child.exitCode !== null,
      60_000,
    )
    const port = Number(/listening: https:\/\/[^\s]+:(\d+)/.exec(out)?.[1])
    const fingerprint = /fingerprint: ([0-9a-f:]+)/.exec(out)?.[1] ?? ''
    expect(ok && port > 0, out).toBe(true)
    return { port, fingerprint, child }
  }

  it('leaves no finished partial snapshot; a restarted server takes the next backup', async () => {
    const store = join(base, 'served-store')
    const tokenId = 'root@pam!srvcrash'
    await mkdir(store)
    const created = await cli([
      'serve-token',
      '--store',
      store,
      '--create',
      tokenId,
      '--output-format',
      'json',
    ])
    expect(created.code, created.stderr).toBe(0)
    const secret = (JSON.parse(created.stdout) as { value: string }).value
    const backup = (port: number, fingerprint: string) => {
      const client = new PbsClient({
        host: '127.0.0.1',
        port,
        authId: tokenId,
        password: secret,
        fingerprint,
      })
      const source = new LocalClient(src)
      return runBackup(source, {
        store: new PbsRemoteStore(client, 'store'),
        backupId: 'srv',
        workers: 0,
      }).finally(() => source.close())
    }
    const first = await serve(store)
    const exited = new Promise((r) => first.child.once('exit', r))
    const chunks = await countChunks(store)
    const running = backup(first.port, first.fingerprint).then(
      () => undefined,
      (e: unknown) => e,
    )
    // kill the server once the backup has stored a chunk
    await until(async () => (await countChunks(store)) > chunks, 60_000)
    first.child.kill('SIGKILL')
    await exited
    const err = await running
    expect(err).toSatisfy(isPxarError)
    const ds = await Datastore.open(store)
    expect(await expectConsistent(ds, 'srv')).toBe(0)
    const second = await serve(store)
    // the killed run's directory stays until pruned; as with PBS, the next backup needs a new time
    await new Promise((r) => setTimeout(r, 1100))
    try {
      const r = await backup(second.port, second.fingerprint)
      expect(await expectConsistent(await Datastore.open(store), 'srv')).toBe(1)
      expect(r.snapshot).toMatch(/^host\/srv\//)
    } finally {
      second.child.kill('SIGTERM')
      await new Promise((r) => second.child.once('exit', r))
    }
  })
})

describe('garbage collection during a backup', () => {
  it('never removes a chunk the running backup references', async () => {
    const store = join(base, 'gc-store')
    const ds = (await LocalStore.open(store, { create: true })).datastore
    // a first snapshot whose chunks look old (last touched two days ago)
    const c1 = new LocalClient(src)
    const first = await runBackup(c1, {
      store: new LocalStore(ds),
      backupId: 'gc',
      backupTime: 1_700_000_000,
      workers: 0,
    }).finally(() => c1.close())
    const old = Date.now() / 1000 - 2 * 86400
    for (const d of await readdir(join(store, '.chunks')))
      for (const f of await readdir(join(store, '.chunks', d)))
        await utimes(join(store, '.chunks', d, f), old, old)
    // the second backup runs; GC (clock 3 days ahead) runs while it is writing
    let gcDone: Promise<unknown> | undefined
    const c2 = new LocalClient(src)
    const second = await runBackup(c2, {
      store: new LocalStore(ds),
      backupId: 'gc',
      backupTime: 1_700_100_000,
      workers: 0,
      onProgress: (p) => {
        if (gcDone === undefined && p.entries > 10) {
          gcDone = garbageCollect(ds, { now: Date.now() + 3 * 86400_000 })
        }
      },
    }).finally(() => c2.close())
    expect(gcDone).toBeDefined()
    const st = (await gcDone) as Awaited<ReturnType<typeof garbageCollect>>
    expect(st.indexFileCount).toBeGreaterThan(0)
    // the running writer pulled the cutoff back from "3 days ahead - 24 h" to before its start
    expect(st.cutoffMs).toBeLessThan(Date.now())
    for (const snap of [first, second]) {
      const r = await verifySnapshot(ds, snap.snapshotRef as BackupDir)
      expect(r.ok, JSON.stringify(r.errors)).toBe(true)
    }
    // and a regular GC afterwards keeps every referenced chunk
    await garbageCollect(ds)
    for (const snap of [first, second]) {
      expect((await verifySnapshot(ds, snap.snapshotRef as BackupDir)).ok).toBe(true)
    }
  })

  it('in another process: the writer marker of a running pxar-cli backup protects its chunks', async () => {
    const store = join(base, 'gc-cli-store')
    const ds = (await LocalStore.open(store, { create: true })).datastore
    const groupDir = join(store, 'host', 'gc-cli')
    const child = spawn(
      process.execPath,
      [...CLI_ARGV, 'backup', src, '--store', store, '--backup-id', 'gc-cli', '--quiet'],
      { cwd: REPO_ROOT, env: cleanEnv(base), stdio: ['ignore', 'ignore', 'pipe'] },
    )
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t))
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    let done = false
    void exited.then(() => (done = true))
    // as soon as the backup has stored its first chunks, collect garbage with a clock 3 days ahead:
    // only the writer's start time keeps the new (unreferenced so far) chunks
    await until(
      async () =>
        done ||
        ((await readdir(groupDir).catch(() => [])).some((n) => /^\d{4}-/.test(n)) &&
          (await countChunks(store)) > 0),
      60_000,
    )
    const ranDuring = !done
    const st = await garbageCollect(ds, { now: Date.now() + 3 * 86400_000 })
    expect(await exited, stderr).toBe(0)
    if (ranDuring) {
      // the writer marker of the other process pulled the cutoff back to before its start
      expect(st.cutoffMs).toBeLessThan(Date.now())
      expect(st.removedChunks).toBe(0)
    }
    const snaps = await ds.listSnapshots({ ns: [], type: 'host', id: 'gc-cli' })
    expect(snaps.length).toBe(1)
    const r = await verifySnapshot(ds, snaps[0]!.dir)
    expect(r.ok, JSON.stringify(r.errors)).toBe(true)
  })
})
