import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type BackupDir,
  Datastore,
  DynamicIndexFileWriter,
  encodeBlob,
  garbageCollect,
  parseJson,
  toHex,
  verifyDatastore,
  verifySnapshot,
} from '../src/index.ts'

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})
async function newStore(): Promise<Datastore> {
  const d = await mkdtemp(join(tmpdir(), 'pxar-ds-'))
  dirs.push(d)
  return Datastore.create(d, { prefixDirs: 'lazy' })
}

function data(seed: number, size: number): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed
  for (let i = 0; i < size; i++) out[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24
  return out
}

/** Writes a snapshot with one dynamic index of `chunks` and a config blob. */
async function backup(ds: Datastore, dir: BackupDir, chunks: Uint8Array[]) {
  const w = await ds.beginSnapshot(dir, { owner: 'backup@pbs' })
  const idx = await DynamicIndexFileWriter.create(w.filePath('root.pxar.didx'))
  for (const c of chunks) {
    const digest = createHash('sha256').update(c).digest()
    await ds.chunkStore.insert(digest, encodeBlob(c, { compress: true }))
    idx.addChunk(c.length, digest)
  }
  await w.addIndex('root.pxar.didx', await idx.close())
  await w.addBlob('test.conf.blob', encodeBlob(new TextEncoder().encode('a=1\n')))
  return w.finish()
}

const g = { ns: [] as string[], type: 'host' as const, id: 'web' }

describe('Datastore snapshots', () => {
  it('writes, lists, protects and removes snapshots', async () => {
    const ds = await newStore()
    const m = await backup(ds, { ...g, time: 1700000000 }, [data(1, 5000), data(2, 7000)])
    expect(m.files.map((f) => f.filename)).toEqual(['root.pxar.didx', 'test.conf.blob'])
    expect(m.files[0]!.size).toBe(12000)
    expect(await ds.getOwner(g)).toBe('backup@pbs')
    expect(await readFile(join(ds.groupDir(g), 'owner'), 'utf8')).toBe('backup@pbs\n')
    expect(await readdir(join(ds.base, 'host', 'web'))).toContain('2023-11-14T22:13:20Z')
    expect(await ds.listGroups()).toEqual([g])
    const [snap] = await ds.listSnapshots(g)
    expect(snap?.finished).toBe(true)
    expect(snap?.files).toEqual(['index.json.blob', 'root.pxar.didx', 'test.conf.blob'])
    expect((await ds.readManifest(snap!.dir)).files).toEqual(m.files)
    // older or equal times are refused, as are concurrent backups of the group
    await expect(ds.beginSnapshot({ ...g, time: 1700000000 }, { owner: 'backup@pbs' })).rejects.toMatchObject(
      {
        code: 'ERR_SNAPSHOT_INVALID',
      },
    )
    const w = await ds.beginSnapshot({ ...g, time: 1700000100 }, { owner: 'backup@pbs' })
    await expect(ds.beginSnapshot({ ...g, time: 1700000200 }, { owner: 'backup@pbs' })).rejects.toMatchObject(
      {
        code: 'ERR_SNAPSHOT_LOCKED',
      },
    )
    await w.abort()
    await expect(ds.beginSnapshot({ ...g, time: 1700000200 }, { owner: 'other@pbs' })).rejects.toMatchObject({
      code: 'ERR_SNAPSHOT_INVALID',
    })
    await ds.setProtected(snap!.dir, true)
    await expect(ds.removeSnapshot(snap!.dir)).rejects.toMatchObject({ code: 'ERR_SNAPSHOT_PROTECTED' })
    await ds.setProtected(snap!.dir, false)
    await ds.writeClientLog(snap!.dir, encodeBlob(new TextEncoder().encode('log'), { compress: true }))
    await expect(ds.writeClientLog(snap!.dir, encodeBlob(new Uint8Array(1)))).rejects.toMatchObject({
      code: 'ERR_SNAPSHOT_EXISTS',
    })
    await ds.removeSnapshot(snap!.dir)
    expect(await ds.listSnapshots(g)).toEqual([])
  })

  it('uses ns/<name> directories for namespaces', async () => {
    const ds = await newStore()
    await expect(ds.createNamespace(['a', 'b'])).rejects.toMatchObject({ code: 'ERR_SNAPSHOT_NOT_FOUND' })
    await ds.createNamespace(['a'])
    await ds.createNamespace(['a', 'b'])
    expect(await ds.listNamespaces(['a'])).toEqual([['a', 'b']])
    const grp = { ns: ['a', 'b'], type: 'vm' as const, id: '100' }
    await backup(ds, { ...grp, time: 1 }, [data(3, 100)])
    expect(
      (await stat(join(ds.base, 'ns/a/ns/b/vm/100/1970-01-01T00:00:01Z/index.json.blob'))).isFile(),
    ).toBe(true)
    expect(await ds.listGroups(['a', 'b'])).toEqual([grp])
    expect(await ds.listGroups()).toEqual([])
  })

  it('finish can store a given manifest as it is (server side)', async () => {
    const ds = await newStore()
    const dir = { ...g, time: 77 }
    const w = await ds.beginSnapshot(dir, {})
    const manifest = {
      backupType: 'host' as const,
      backupId: 'web',
      backupTime: 77,
      files: [{ filename: 'a.conf.blob', cryptMode: 'sign-only' as const, size: 20, csum: 'ab'.repeat(32) }],
      unprotected: { chunk_upload_stats: { count: 1 } },
      signature: 'cd'.repeat(32),
    }
    await expect(w.finish({ manifest: { ...manifest, backupTime: 78 } })).rejects.toMatchObject({
      code: 'ERR_SNAPSHOT_INVALID',
    })
    expect(await w.finish({ manifest })).toEqual(manifest)
    expect(await ds.readManifest(dir)).toEqual(manifest)
    // the group lock is released
    await (await ds.beginSnapshot({ ...g, time: 78 }, {})).abort()
  })

  it('an unfinished snapshot is not visible', async () => {
    const ds = await newStore()
    const w = await ds.beginSnapshot({ ...g, time: 5 }, {})
    await writeFile(w.filePath('root.pxar.tmp_didx'), 'partial')
    expect(await ds.listSnapshots(g)).toEqual([])
    expect((await ds.listSnapshots(g, { includeUnfinished: true })).map((s) => s.finished)).toEqual([false])
  })

  it('prunes with keep options, never removing protected snapshots', async () => {
    const ds = await newStore()
    const times = [1575201555, 1575287955, 1575374355, 1575377955] // 2019-12-01..04
    for (const time of times) await backup(ds, { ...g, time }, [data(time, 64)])
    await ds.setProtected({ ...g, time: times[0]! }, true)
    const dry = await ds.prune(g, { keepLast: 1 }, { timeZone: 'utc', dryRun: true })
    expect(dry.map((r) => r.mark)).toEqual(['keep', 'remove', 'remove', 'protected'])
    expect((await ds.listSnapshots(g)).length).toBe(4)
    await ds.prune(g, { keepLast: 1 }, { timeZone: 'utc' })
    expect((await ds.listSnapshots(g)).map((s) => s.time)).toEqual([times[0], times[3]])
    expect((await ds.prune(g, {})).map((r) => r.mark)).toEqual(['keep', 'protected'])
  })

  it('garbage collection removes only unreferenced chunks past the cutoff', async () => {
    const ds = await newStore()
    const keep = [data(10, 3000), data(11, 3000)]
    await backup(ds, { ...g, time: 100 }, keep)
    const orphan = data(12, 3000)
    const orphanDigest = createHash('sha256').update(orphan).digest()
    await ds.chunkStore.insert(orphanDigest, encodeBlob(orphan))
    const fresh = data(13, 3000)
    const freshDigest = createHash('sha256').update(fresh).digest()
    await ds.chunkStore.insert(freshDigest, encodeBlob(fresh))
    // age every chunk by two days, the fresh orphan only by one hour
    const old = Date.now() / 1000 - 2 * 86400
    for await (const e of ds.chunkStore.listChunks()) await utimes(e.path, old, old)
    await utimes(ds.chunkStore.chunkPath(freshDigest), Date.now() / 1000 - 3600, old)
    const st = await garbageCollect(ds)
    expect(st.indexFileCount).toBe(1)
    expect(st.indexDataBytes).toBe(6000)
    expect(st.removedChunks).toBe(1)
    expect(st.removedBytes).toBe(encodeBlob(orphan).length)
    expect(st.pendingChunks).toBe(1) // the fresh orphan: within the grace period
    expect(st.diskChunks).toBe(2)
    expect(await ds.chunkStore.exists(orphanDigest)).toBe(false)
    expect(await ds.chunkStore.exists(freshDigest)).toBe(true)
    const status = parseJson(await readFile(join(ds.base, '.gc-status'), 'utf8')) as Record<string, unknown>
    expect(status['removed-chunks']).toBe(1)
    // a running writer that started before the chunk was written protects it
    const release = ds.chunkStore.registerWriter(Date.now() - 10 * 86400_000)
    await utimes(ds.chunkStore.chunkPath(freshDigest), old, old)
    expect((await garbageCollect(ds)).removedChunks).toBe(0)
    release()
    // a writer of another (live) process, announced through its marker file, protects it too
    await writeFile(join(ds.base, '.writers', `${process.ppid}-1`), String(Date.now() - 10 * 86400_000))
    await writeFile(join(ds.base, '.writers', '999999999-1'), '0') // dead process: ignored, removed
    expect((await garbageCollect(ds)).removedChunks).toBe(0)
    expect(await readdir(join(ds.base, '.writers'))).toEqual([`${process.ppid}-1`])
    await rm(join(ds.base, '.writers', `${process.ppid}-1`))
    expect((await garbageCollect(ds)).removedChunks).toBe(1)
  })

  it('verify reports the damaged snapshot and chunk, and quarantines it', async () => {
    const ds = await newStore()
    const chunks = [data(20, 4000), data(21, 4000)]
    const dir = { ...g, time: 200 }
    await backup(ds, dir, chunks)
    expect((await verifySnapshot(ds, dir)).ok).toBe(true)
    const bad = createHash('sha256').update(chunks[1]!).digest()
    const p = ds.chunkStore.chunkPath(bad)
    const bytes = await readFile(p)
    bytes[bytes.length - 1]! ^= 1
    await writeFile(p, bytes)
    const r = await verifySnapshot(ds, dir, { quarantine: true, updateManifest: true, upid: 'UPID:test' })
    expect(r.ok).toBe(false)
    expect(r.snapshot).toBe('host/web/1970-01-01T00:03:20Z')
    expect(r.damagedChunks).toEqual([toHex(bad)])
    expect(r.errors[0]).toMatchObject({ file: 'root.pxar.didx', chunk: toHex(bad), code: 'ERR_BLOB_CRC' })
    expect(await ds.chunkStore.exists(bad)).toBe(false)
    expect((await stat(`${p}.0.bad`)).isFile()).toBe(true)
    expect((await ds.readManifest(dir)).unprotected.verify_state).toEqual({
      upid: 'UPID:test',
      state: 'failed',
    })
    const again = await verifySnapshot(ds, dir)
    expect(again.errors[0]).toMatchObject({ code: 'ERR_CHUNK_MISSING' })
  })

  it('GC keeps quarantined copies of referenced chunks and takes a cross-process lock', async () => {
    const ds = await newStore()
    const chunks = [data(30, 2000), data(31, 2000)]
    await backup(ds, { ...g, time: 300 }, chunks)
    const d = createHash('sha256').update(chunks[0]!).digest()
    await ds.chunkStore.renameCorrupt(d)
    const orphanBad = `${ds.chunkStore.chunkPath('ab'.repeat(32))}.3.bad`
    await mkdir(join(orphanBad, '..'), { recursive: true })
    await writeFile(orphanBad, 'x')
    const old = Date.now() / 1000 - 3 * 86400
    for await (const e of ds.chunkStore.listChunks()) await utimes(e.path, old, old)
    const st = await garbageCollect(ds)
    expect(st).toMatchObject({ removedBad: 1, stillBad: 1, removedChunks: 0, diskChunks: 1 })
    await writeFile(join(ds.base, '.gc-lock'), String(process.pid))
    await expect(garbageCollect(ds)).rejects.toMatchObject({ code: 'ERR_SNAPSHOT_LOCKED' })
    await writeFile(join(ds.base, '.gc-lock'), '999999999') // a dead process: lock is taken over
    expect((await garbageCollect(ds)).stillBad).toBe(1)
    await expect(stat(join(ds.base, '.gc-lock'))).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('GC removes temp files of dead inserts once they are older than the cutoff, never fresh ones', async () => {
    const ds = await newStore()
    const chunk = data(50, 1000)
    await backup(ds, { ...g, time: 500 }, [chunk])
    const path = ds.chunkStore.chunkPath(createHash('sha256').update(chunk).digest())
    const stale = `${path}.tmp_AbC123`
    const fresh = `${ds.chunkStore.chunkPath('cd'.repeat(32))}.tmp_XyZ789`
    await mkdir(join(fresh, '..'), { recursive: true })
    await writeFile(stale, 'partial')
    await writeFile(fresh, 'in progress')
    const old = Date.now() / 1000 - 2 * 86400
    await utimes(stale, old, old)
    const listed = []
    for await (const e of ds.chunkStore.listChunks({ temp: true })) listed.push(e)
    expect(
      listed
        .filter((e) => e.temp)
        .map((e) => e.path)
        .sort(),
    ).toEqual([stale, fresh].sort())
    const st = await garbageCollect(ds)
    expect(st).toMatchObject({ removedTemp: 1, diskChunks: 1, removedChunks: 0 })
    await expect(stat(stale)).rejects.toMatchObject({ code: 'ENOENT' })
    expect((await stat(fresh)).isFile()).toBe(true)
    expect(JSON.parse(await readFile(join(ds.base, '.gc-status'), 'utf8'))).not.toHaveProperty('removed-temp')
  })

  it('verifyDatastore lists the damaged snapshots across namespaces', async () => {
    const ds = await newStore()
    await ds.createNamespace(['n1'])
    const shared = data(40, 3000)
    await backup(ds, { ...g, time: 400 }, [shared])
    await backup(ds, { ns: ['n1'], type: 'ct', id: '7', time: 401 }, [shared, data(41, 10)])
    await backup(ds, { ns: ['n1'], type: 'ct', id: '7', time: 402 }, [data(42, 10)])
    const p = ds.chunkStore.chunkPath(createHash('sha256').update(shared).digest())
    await writeFile(p, (await readFile(p)).subarray(0, 20))
    const r = await verifyDatastore(ds)
    expect(r.snapshots.length).toBe(3)
    expect(r.failed).toEqual(['host/web/1970-01-01T00:06:40Z', 'ns/n1/ct/7/1970-01-01T00:06:41Z'])
  })
})
