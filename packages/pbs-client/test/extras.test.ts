import https from 'node:https'
import { join } from 'node:path'
import {
  Datastore,
  decodeBlob,
  encodeBlob,
  FIXED_CHUNK_SIZE,
  FixedIndex,
  readFixedIndexFile,
  sha256,
} from '@pxar/datastore'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  BackupWriter,
  deleteSnapshot,
  listSnapshots,
  PbsBackupSession,
  PbsReader,
  uploadBackupLog,
} from '../src/index.ts'
import { collect, type Fixture, mixedData, startFixture, TOKEN_ID, TOKEN_SECRET } from './helpers.ts'

let fx: Fixture
beforeAll(async () => {
  fx = await startFixture()
})
afterAll(async () => {
  await fx?.close()
})

describe('incremental fixed index (reuse-csum)', () => {
  it('clones the previous index and appends only changed chunks', async () => {
    const image = mixedData(2 * FIXED_CHUNK_SIZE + 1000, 21)
    const dir = { ns: [] as string[], type: 'vm' as const, id: '300', time: 10 }
    const w = await BackupWriter.start(fx.client(), 'store', dir, { workers: 1 })
    const first = await w.uploadImage('drive.img.fidx', [image], image.length)
    await w.finish()

    const s = await PbsBackupSession.start(fx.client(), 'store', { ...dir, time: 20 })
    const prev = FixedIndex.parse((await s.downloadPrevious('drive.img.fidx'))!)
    const idx = await s.createFixedIndex('drive.img.fidx', image.length, FIXED_CHUNK_SIZE, {
      reuseCsum: prev.computeCsum().csum,
    })
    const changed = image.slice()
    changed.fill(7, 0, FIXED_CHUNK_SIZE)
    const chunk0 = changed.subarray(0, FIXED_CHUNK_SIZE)
    const digest0 = sha256(chunk0)
    await idx.uploadChunk(digest0, chunk0.length, encodeBlob(chunk0, { compress: true }))
    await idx.append([digest0], [0])
    const digests = [digest0, prev.digest(1), prev.digest(2)]
    const csum = sha256(...digests)
    await idx.close({ chunkCount: 1, size: image.length, csum })
    const text = JSON.stringify({
      'backup-type': 'vm',
      'backup-id': '300',
      'backup-time': 20,
      files: [
        {
          filename: 'drive.img.fidx',
          'crypt-mode': 'none',
          size: image.length,
          csum: Buffer.from(csum).toString('hex'),
        },
      ],
      unprotected: {},
      signature: null,
    })
    await s.uploadBlob('index.json.blob', encodeBlob(new TextEncoder().encode(text), { compress: true }))
    await s.finish()

    const ds = await Datastore.open(join(fx.dir, 'store'))
    const index = await readFixedIndexFile(join(ds.snapshotDir({ ...dir, time: 20 }), 'drive.img.fidx'))
    expect(index.count).toBe(3)
    const reader = await PbsReader.open(fx.client(), 'store', { ...dir, time: 20 })
    expect(Buffer.from(await collect(reader.restore('drive.img.fidx'))).equals(Buffer.from(changed))).toBe(
      true,
    )
    await reader.close()
    expect(first.uploaded).toBe(3)
  })
})

describe('upgrade checks and snapshot REST calls', () => {
  it('refuses an upgrade to an unknown protocol', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = https.request({
        host: '127.0.0.1',
        port: fx.server.port,
        path: '/api2/json/backup?store=store&backup-type=host&backup-id=x&backup-time=5',
        headers: {
          connection: 'upgrade',
          upgrade: 'h2c',
          authorization: `PBSAPIToken ${TOKEN_ID}:${TOKEN_SECRET}`,
        },
        rejectUnauthorized: false,
      })
      req.on('response', (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.on('upgrade', (res, socket) => {
        socket.destroy()
        resolve(res.statusCode ?? 0)
      })
      req.on('error', reject)
      req.end()
    })
    expect(status).toBe(400)
  })

  it('uploads the client log once, and deletes snapshots', async () => {
    const dir = { ns: [] as string[], type: 'host' as const, id: 'logs', time: 30 }
    const w = await BackupWriter.start(fx.client(), 'store', dir, { workers: 0 })
    await w.uploadBlob('a.conf.blob', new Uint8Array([1]))
    await w.finish()
    const log = encodeBlob(new TextEncoder().encode('backup ok\n'), { compress: true })
    await uploadBackupLog(fx.client(), 'store', dir, log)
    await expect(uploadBackupLog(fx.client(), 'store', dir, log)).rejects.toMatchObject({
      code: 'ERR_PBS_HTTP',
    })
    const ds = await Datastore.open(join(fx.dir, 'store'))
    const info = await ds.snapshotInfo(dir)
    expect(info.files).toContain('client.log.blob')
    const reader = await PbsReader.open(fx.client(), 'store', dir)
    expect(new TextDecoder().decode(decodeBlob(await reader.download('client.log.blob')))).toBe('backup ok\n')
    await reader.close()
    const listed = await listSnapshots(fx.client(), 'store', { id: 'logs' })
    expect(listed[0]?.files.at(-1)).toEqual({ filename: 'client.log.blob' })
    await deleteSnapshot(fx.client(), 'store', dir)
    expect(await listSnapshots(fx.client(), 'store', { id: 'logs' })).toEqual([])
  })
})
