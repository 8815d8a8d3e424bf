import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Datastore, decodeBlob, readDynamicIndexFile, toHex } from '@pxar/datastore'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BackupWriter, listGroups, listSnapshotFiles, listSnapshots, PbsReader } from '../src/index.ts'
import { collect, type Fixture, mixedData, pieces, startFixture } from './helpers.ts'

let fx: Fixture
beforeAll(async () => {
  fx = await startFixture()
})
afterAll(async () => {
  await fx?.close()
})

const snap = (time: number) => ({ ns: [] as string[], type: 'host' as const, id: 'web', time })

describe('backup protocol against the server', () => {
  const data = mixedData(24 * 1024 * 1024, 7)
  const conf = new TextEncoder().encode('name: web\n')
  let firstUploads = 0

  it('backs up a stream; the datastore reads back with @pxar/datastore alone', async () => {
    const client = fx.client()
    const w = await BackupWriter.start(client, 'store', snap(1700000000), { workers: 2 })
    const up = await w.uploadArchive('root.pxar.didx', pieces(data))
    firstUploads = up.uploaded
    expect(up.uploaded).toBe(up.stats.chunks - up.stats.duplicateChunks)
    expect(w.session.stats.chunkUploads).toBe(up.uploaded)
    await w.uploadBlob('web.conf.blob', conf)
    const manifest = await w.finish()
    expect(manifest.files.map((f) => f.filename)).toEqual(['root.pxar.didx', 'web.conf.blob'])

    const ds = await Datastore.open(join(fx.dir, 'store'))
    const [info] = await ds.listSnapshots({ ns: [], type: 'host', id: 'web' })
    expect(info?.files).toEqual(['index.json.blob', 'root.pxar.didx', 'web.conf.blob'])
    expect(await ds.getOwner(info!.dir)).toBe('root@pam!test')
    const m = await ds.readManifest(info!.dir)
    expect(m.files).toEqual(manifest.files)
    const stats = m.unprotected.chunk_upload_stats as Record<string, number>
    expect(stats.count).toBe(up.uploaded)
    const index = await readDynamicIndexFile(join(info!.path, 'root.pxar.didx'))
    expect(toHex(index.computeCsum().csum)).toBe(m.files[0]!.csum)
    expect(toHex(index.indexCsum)).toBe(m.files[0]!.csum)
    const parts: Uint8Array[] = []
    for (let i = 0; i < index.count; i++) {
      parts.push(decodeBlob(await ds.chunkStore.read(index.digest(i)), { digest: index.digest(i) }))
    }
    expect(Buffer.concat(parts).equals(Buffer.from(data))).toBe(true)
    const blob = await readFile(join(info!.path, 'web.conf.blob'))
    expect(createHash('sha256').update(blob).digest('hex')).toBe(m.files[1]!.csum)
    expect(decodeBlob(blob)).toEqual(conf)
  })

  it('restores through the reader protocol, whole and by random access', async () => {
    const reader = await PbsReader.open(fx.client(), 'store', snap(1700000000))
    try {
      expect(Buffer.from(await collect(reader.restore('root.pxar.didx'))).equals(Buffer.from(data))).toBe(
        true,
      )
      expect(await reader.downloadBlob('web.conf.blob')).toEqual(conf)
      const r = await reader.readAt('root.pxar.didx')
      const buf = new Uint8Array(100_000)
      for (const pos of [0, 5_000_000, data.length - 50_000]) {
        const n = await r.read(buf, pos)
        expect(n).toBe(Math.min(buf.length, data.length - pos))
        expect(buf.subarray(0, n)).toEqual(data.subarray(pos, pos + n))
      }
    } finally {
      await reader.close()
    }
  })

  it('a second backup uploads only new chunks', async () => {
    const changed = data.slice()
    changed.set(mixedData(300_000, 99), 10 * 1024 * 1024)
    const before = fx.server.stats.chunkUploads
    const w = await BackupWriter.start(fx.client(), 'store', snap(1700000100), { workers: 2 })
    expect(w.previousManifest?.backupTime).toBe(1700000000)
    const up = await w.uploadArchive('root.pxar.didx', pieces(changed))
    await w.uploadBlob('web.conf.blob', conf)
    await w.finish()
    expect(up.uploaded).toBeGreaterThan(0)
    expect(up.uploaded).toBeLessThanOrEqual(3)
    expect(up.uploaded).toBeLessThan(firstUploads)
    expect(fx.server.stats.chunkUploads - before).toBe(up.uploaded)
    const reader = await PbsReader.open(fx.client(), 'store', snap(1700000100))
    expect(Buffer.from(await collect(reader.restore('root.pxar.didx'))).equals(Buffer.from(changed))).toBe(
      true,
    )
    await reader.close()
  })

  it('lists groups, snapshots and files over REST', async () => {
    const client = fx.client()
    const groups = await listGroups(client, 'store')
    expect(groups).toMatchObject([
      { 'backup-type': 'host', 'backup-id': 'web', 'backup-count': 2, owner: 'root@pam!test' },
    ])
    const snaps = await listSnapshots(client, 'store')
    expect(snaps.map((s) => s['backup-time'])).toEqual([1700000000, 1700000100])
    const files = await listSnapshotFiles(client, 'store', snap(1700000000))
    expect(files.map((f) => f.filename)).toEqual(['root.pxar.didx', 'web.conf.blob', 'index.json.blob'])
    expect(files[0]).toMatchObject({ 'crypt-mode': 'none', size: data.length })
  })
})
