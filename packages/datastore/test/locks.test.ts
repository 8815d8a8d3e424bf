import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { Datastore, GROUP_LOCKS_DIR } from '../src/index.ts'

const HOLDER = fileURLToPath(new URL('./helpers/group-holder.ts', import.meta.url))
const dirs: string[] = []
const children: ChildProcess[] = []
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL')
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})
async function newStore(): Promise<Datastore> {
  const d = await mkdtemp(join(tmpdir(), 'pxar-locks-'))
  dirs.push(d)
  return Datastore.create(d, { prefixDirs: 'lazy' })
}

const g = { ns: [] as string[], type: 'host' as const, id: 'held' }

async function finished(ds: Datastore, time: number): Promise<void> {
  await (await ds.beginSnapshot({ ...g, time })).finish()
}

/** Starts a child process holding a backup of host/held at `time`; resolves with its output line. */
function holder(base: string, time: number): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@pxar/source', HOLDER, base, String(time)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  children.push(child)
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout?.on('data', (d) => {
      out += d
      if (out.includes('\n')) resolve({ child, line: out.trim() })
    })
    child.once('exit', (code) => reject(new Error(`holder exited early (${code})`)))
  })
}

async function kill(child: ChildProcess): Promise<void> {
  const gone = new Promise((r) => child.once('exit', r))
  child.kill('SIGKILL')
  await gone
}

describe('group locks across processes', () => {
  it('a backup running in another process locks the group, its snapshot and its base', async () => {
    const ds = await newStore()
    await finished(ds, 100)
    await finished(ds, 200)
    const { child, line } = await holder(ds.base, 300)
    expect(line).toBe('ready 200')
    const lock = JSON.parse(await readFile(ds.groupLockPath(g), 'utf8'))
    expect(lock).toEqual({ pid: child.pid, snapshot: 300, base: 200 })
    expect(await ds.groupLockHolder(g)).toEqual(lock)
    await expect(ds.beginSnapshot({ ...g, time: 400 })).rejects.toMatchObject({ code: 'ERR_SNAPSHOT_LOCKED' })
    // neither the snapshot being written nor its base can be removed meanwhile
    await expect(ds.removeSnapshot({ ...g, time: 300 })).rejects.toMatchObject({
      code: 'ERR_SNAPSHOT_LOCKED',
    })
    await expect(ds.removeSnapshot({ ...g, time: 200 }, { force: true })).rejects.toMatchObject({
      code: 'ERR_SNAPSHOT_LOCKED',
    })
    expect(await ds.snapshotInUse({ ...g, time: 100 })).toBe(false)
    await ds.removeSnapshot({ ...g, time: 100 })
    // the group lock lives outside the group directory (PBS keeps no lock files there)
    expect((await readdir(ds.groupDir(g))).sort()).toEqual([
      '1970-01-01T00:03:20Z',
      '1970-01-01T00:05:00Z',
      'owner',
    ])
    await kill(child)
    // a dead holder's lock is taken over; its unfinished snapshot is no longer in use
    expect(await ds.groupLockHolder(g)).toBeUndefined()
    expect(await ds.snapshotInUse({ ...g, time: 300 })).toBe(false)
    const w = await ds.beginSnapshot({ ...g, time: 400 })
    expect(w.previous?.time).toBe(200)
    expect(await ds.groupLockHolder(g)).toEqual({ pid: process.pid, snapshot: 400, base: 200 })
    await w.finish()
    expect(await ds.groupLockHolder(g)).toBeUndefined()
    await ds.removeSnapshot({ ...g, time: 300 })
  })

  it('locks of different groups and namespaces are independent; bad lock files are stale', async () => {
    const ds = await newStore()
    await ds.createNamespace(['a'])
    const w1 = await ds.beginSnapshot({ ...g, time: 10 })
    const w2 = await ds.beginSnapshot({ ns: ['a'], type: 'host', id: 'held', time: 10 })
    const w3 = await ds.beginSnapshot({ ns: [], type: 'vm', id: 'held', time: 10 })
    expect(ds.groupLockPath({ ns: ['a'], type: 'host', id: 'held' })).toBe(
      join(ds.base, GROUP_LOCKS_DIR, 'ns', 'a', 'host', 'held.lck'),
    )
    await Promise.all([w1.abort(), w2.finish(), w3.abort()])
    await writeFile(ds.groupLockPath(g), 'garbage')
    await (await ds.beginSnapshot({ ...g, time: 20 })).finish()
    await writeFile(ds.groupLockPath(g), JSON.stringify({ pid: 999_999_999, snapshot: 5 }))
    await (await ds.beginSnapshot({ ...g, time: 30 })).finish()
    expect((await ds.listSnapshots(g)).map((s) => s.time)).toEqual([20, 30])
  })
})

describe('group locks within a process', () => {
  it('hold across Datastore objects of the same directory', async () => {
    const ds = await newStore()
    await finished(ds, 100)
    const other = await Datastore.open(join(ds.base, '.', ''))
    const w = await ds.beginSnapshot({ ...g, time: 200 })
    await expect(other.beginSnapshot({ ...g, time: 300 })).rejects.toMatchObject({
      code: 'ERR_SNAPSHOT_LOCKED',
    })
    await expect(other.removeSnapshot({ ...g, time: 100 })).rejects.toMatchObject({
      code: 'ERR_SNAPSHOT_LOCKED',
    })
    expect(await other.groupLockHolder(g)).toEqual({ pid: process.pid, snapshot: 200, base: 100 })
    await w.abort()
    await (await other.beginSnapshot({ ...g, time: 300 })).finish()
    expect((await ds.listSnapshots(g)).map((s) => s.time)).toEqual([100, 300])
  })
})

describe('previous snapshot', () => {
  it('is the newest finished snapshot unless it failed verification (no fallback)', async () => {
    const ds = await newStore()
    expect(await ds.previousSnapshot(g)).toBeUndefined()
    await finished(ds, 100)
    await finished(ds, 200)
    expect((await ds.previousSnapshot(g))?.time).toBe(200)
    await ds.updateManifest({ ...g, time: 200 }, (u) => ({
      ...u,
      verify_state: { upid: 'x', state: 'failed' },
    }))
    expect(await ds.previousSnapshot(g)).toBeUndefined()
    const w = await ds.beginSnapshot({ ...g, time: 300 })
    expect(w.previous).toBeUndefined()
    await w.finish()
    expect((await ds.previousSnapshot(g))?.time).toBe(300)
    await ds.updateManifest({ ...g, time: 300 }, (u) => ({ ...u, verify_state: { upid: 'y', state: 'ok' } }))
    expect((await ds.previousSnapshot(g))?.time).toBe(300)
  })
})
