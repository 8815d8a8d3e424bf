import { join } from 'node:path'
import { Datastore, FIXED_CHUNK_SIZE, readFixedIndexFile, toHex } from '@pxar/datastore'
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'
import type { BackupSession, IndexUpload, RemoteStore } from '../../proxy/src/server/store.ts'
import {
  BackupWriter,
  createNamespace,
  listGroups,
  listNamespaces,
  listSnapshots,
  type PbsBackupSession,
  type PbsIndexUpload,
  PbsReader,
  type PbsRemoteStore,
} from '../src/index.ts'
import { collect, type Fixture, mixedData, pieces, startFixture } from './helpers.ts'

let fx: Fixture
beforeAll(async () => {
  fx = await startFixture()
})
afterAll(async () => {
  await fx?.close()
})

describe('structural fit with the backup engine', () => {
  it('PbsRemoteStore, PbsBackupSession and PbsIndexUpload satisfy RemoteStore, BackupSession, IndexUpload', () => {
    expectTypeOf<PbsRemoteStore>().toMatchTypeOf<RemoteStore>()
    expectTypeOf<PbsBackupSession>().toMatchTypeOf<BackupSession>()
    expectTypeOf<PbsIndexUpload>().toMatchTypeOf<IndexUpload>()
  })
})

describe('fixed indexes', () => {
  it('backs up an image as a .fidx with 4 MiB chunks and restores it', async () => {
    const image = new Uint8Array(2 * FIXED_CHUNK_SIZE + 12_345)
    image.set(mixedData(FIXED_CHUNK_SIZE, 4), 0)
    image.set(mixedData(12_345, 5), 2 * FIXED_CHUNK_SIZE)
    const dir = { ns: [] as string[], type: 'vm' as const, id: '100', time: 500 }
    const w = await BackupWriter.start(fx.client(), 'store', dir, { workers: 1 })
    const up = await w.uploadImage('drive-scsi0.img.fidx', pieces(image, 1 << 20), image.length)
    expect(up.uploaded).toBe(3)
    await w.uploadBlob('qemu-server.conf.blob', new TextEncoder().encode('memory: 512\n'))
    const m = await w.finish()
    const ds = await Datastore.open(join(fx.dir, 'store'))
    const index = await readFixedIndexFile(join(ds.snapshotDir(dir), 'drive-scsi0.img.fidx'))
    expect(index.size).toBe(image.length)
    expect(index.chunkSize).toBe(FIXED_CHUNK_SIZE)
    expect(toHex(index.computeCsum().csum)).toBe(m.files[0]!.csum)
    const reader = await PbsReader.open(fx.client(), 'store', dir)
    expect(
      Buffer.from(await collect(reader.restore('drive-scsi0.img.fidx'))).equals(Buffer.from(image)),
    ).toBe(true)
    await reader.close()
    // second run: identical image, nothing uploaded
    const w2 = await BackupWriter.start(fx.client(), 'store', { ...dir, time: 600 }, { workers: 1 })
    expect(
      (await w2.uploadImage('drive-scsi0.img.fidx', pieces(image, 1 << 20), image.length)).uploaded,
    ).toBe(0)
    await w2.finish()
  })
})

describe('namespaces', () => {
  it('creates namespaces, backs up into one and lists it', async () => {
    const client = fx.client()
    await createNamespace(client, 'store', ['site'])
    await createNamespace(client, 'store', ['site', 'rack1'])
    expect(await listNamespaces(client, 'store')).toEqual([[], ['site'], ['site', 'rack1']])
    expect(await listNamespaces(client, 'store', { parent: ['site'], maxDepth: 0 })).toEqual([['site']])
    const dir = { ns: ['site', 'rack1'], type: 'ct' as const, id: '200', time: 42 }
    const w = await BackupWriter.start(client, 'store', dir, { workers: 0 })
    await w.uploadArchive('root.pxar.didx', [mixedData(50_000, 8)])
    await w.finish()
    expect((await listGroups(client, 'store', { ns: ['site', 'rack1'] })).map((g) => g['backup-id'])).toEqual(
      ['200'],
    )
    expect((await listGroups(client, 'store')).map((g) => g['backup-id'])).not.toContain('200')
    expect(
      (await listSnapshots(client, 'store', { ns: ['site', 'rack1'] })).map((s) => s['backup-time']),
    ).toEqual([42])
    await expect(BackupWriter.start(client, 'store', { ...dir, ns: ['nope'] })).rejects.toMatchObject({
      status: 404,
    })
    const reader = await PbsReader.open(client, 'store', dir)
    expect(await collect(reader.restore('root.pxar.didx'))).toEqual(mixedData(50_000, 8))
    await reader.close()
  })
})
