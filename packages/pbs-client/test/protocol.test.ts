import { randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import https from 'node:https'
import { join } from 'node:path'
import {
  CryptConfig,
  Datastore,
  encodeBlob,
  inspectBlob,
  readDynamicIndexFile,
  sha256,
  toHex,
} from '@pxar/datastore'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  BackupWriter,
  listGroups,
  listSnapshots,
  PbsBackupSession,
  PbsHttpError,
  PbsReader,
  PbsRemoteStore,
} from '../src/index.ts'
import {
  collect,
  type Fixture,
  mixedData,
  PASSWORD,
  pieces,
  startFixture,
  TOKEN_SECRET,
  USER,
} from './helpers.ts'

let fx: Fixture
beforeAll(async () => {
  fx = await startFixture()
})
afterAll(async () => {
  await fx?.close()
})

const snap = (id: string, time: number) => ({ ns: [] as string[], type: 'host' as const, id, time })

async function rawRequest(
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port: fx.server.port, method, path, headers, rejectUnauthorized: false },
      (res) => {
        const parts: Buffer[] = []
        res.on('data', (d: Buffer) => parts.push(d))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }))
      },
    )
    req.on('error', reject)
    req.end()
  })
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10))
}

/** A chunk as the protocol uploads it. */
function chunk(seed: number, size = 10_000) {
  const data = mixedData(size, seed)
  const digest = sha256(data)
  return { data, digest, blob: encodeBlob(data, { compress: true }) }
}

describe('authentication and certificate pinning', () => {
  it('refuses unauthenticated requests and upgrades', async () => {
    for (const path of [
      '/api2/json/version',
      '/api2/json/admin/datastore',
      '/api2/json/admin/datastore/store/groups',
      '/api2/json/admin/datastore/store/snapshots',
    ]) {
      expect((await rawRequest('GET', path)).status).toBe(401)
    }
    const q = 'store=store&backup-type=host&backup-id=x&backup-time=10'
    for (const [path, proto] of [
      [`/api2/json/backup?${q}`, 'proxmox-backup-protocol-v1'],
      [`/api2/json/reader?${q}`, 'proxmox-backup-reader-protocol-v1'],
    ] as const) {
      const res = await rawRequest('GET', path, { connection: 'upgrade', upgrade: proto })
      expect(res.status).toBe(401)
    }
  })

  it('refuses a wrong token secret and an unknown token on every route', async () => {
    for (const client of [
      fx.client({ password: 'wrong' }),
      fx.client({ authId: 'root@pam!other', password: TOKEN_SECRET }),
    ]) {
      await expect(listGroups(client, 'store')).rejects.toMatchObject({ code: 'ERR_PBS_AUTH', status: 401 })
      await expect(BackupWriter.start(client, 'store', snap('a', 10))).rejects.toMatchObject({ status: 401 })
      await expect(PbsReader.open(client, 'store', snap('a', 10))).rejects.toMatchObject({ status: 401 })
    }
  })

  it('refuses a wrong fingerprint, and an unknown self-signed certificate without one', async () => {
    const wrong = fx.server.fingerprint.replace(/^../, fx.server.fingerprint.startsWith('00') ? '11' : '00')
    for (const client of [fx.client({ fingerprint: wrong }), fx.client({ fingerprint: undefined })]) {
      await expect(listGroups(client, 'store')).rejects.toMatchObject({ code: 'ERR_PBS_CERT' })
      await expect(BackupWriter.start(client, 'store', snap('a', 10))).rejects.toMatchObject({
        code: 'ERR_PBS_CERT',
      })
      await expect(PbsReader.open(client, 'store', snap('a', 10))).rejects.toMatchObject({
        code: 'ERR_PBS_CERT',
      })
    }
  })

  it('logs in with a password (ticket + CSRF) and backs up as that user', async () => {
    await expect(listGroups(fx.client({ authId: USER, password: 'nope' }), 'store')).rejects.toMatchObject({
      code: 'ERR_PBS_AUTH',
    })
    const client = fx.client({ authId: USER, password: PASSWORD })
    const w = await BackupWriter.start(client, 'store', snap('alice', 100), { workers: 0 })
    await w.uploadBlob('a.conf.blob', new TextEncoder().encode('x'))
    await w.finish()
    const groups = await listGroups(client, 'store')
    expect(groups.find((g) => g['backup-id'] === 'alice')?.owner).toBe(USER)
    // a ticket without the CSRF token is refused for POST
    const login = (await new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port: fx.server.port,
          method: 'POST',
          path: '/api2/json/access/ticket',
          headers: { 'content-type': 'application/json' },
          rejectUnauthorized: false,
        },
        (res) => {
          const parts: Buffer[] = []
          res.on('data', (d: Buffer) => parts.push(d))
          res.on('end', () => resolve(JSON.parse(Buffer.concat(parts).toString()).data))
        },
      )
      req.on('error', reject)
      req.end(JSON.stringify({ username: USER, password: PASSWORD }))
    })) as { ticket: string; CSRFPreventionToken: string }
    expect(login.ticket).toMatch(/^PBS:alice@pbs:[0-9A-F]{8}::[A-Za-z0-9+/]+$/)
    const cookie = { cookie: `PBSAuthCookie=${encodeURIComponent(login.ticket)}` }
    expect((await rawRequest('GET', '/api2/json/admin/datastore/store/groups', cookie)).status).toBe(200)
    expect(
      (await rawRequest('POST', '/api2/json/admin/datastore/store/namespace?name=x', cookie)).status,
    ).toBe(401)
    // another user may not write into alice's group
    await expect(BackupWriter.start(fx.client(), 'store', snap('alice', 200))).rejects.toMatchObject({
      status: 403,
    })
  })
})

describe('backup protocol validation', () => {
  it('refuses appending an unknown chunk, wrong digests/sizes, bad close checksums and empty indexes', async () => {
    const s = await PbsBackupSession.start(fx.client(), 'store', snap('val', 10))
    try {
      const idx = await s.createDynamicIndex('root.pxar.didx')
      const c = chunk(1)
      await expect(idx.append([c.digest], [0])).rejects.toThrow(/no such chunk/)
      // digest, size and encoded size are checked on upload
      await expect(idx.uploadChunk(sha256(new Uint8Array(1)), c.data.length, c.blob)).rejects.toThrow(
        /wrong digest/,
      )
      await expect(idx.uploadChunk(c.digest, c.data.length + 1, c.blob)).rejects.toThrow(/unexpected size/)
      await expect(
        s.call(
          'POST',
          '/dynamic_chunk',
          { wid: idx.wid, digest: toHex(c.digest), size: c.data.length, 'encoded-size': c.blob.length - 1 },
          { body: c.blob, contentType: 'application/octet-stream' },
        ),
      ).rejects.toThrow(/larger than announced/)
      await idx.uploadChunk(c.digest, c.data.length, c.blob)
      await expect(idx.append([c.digest], [5])).rejects.toThrow(/strange chunk offset/)
      await idx.append([c.digest], [0])
      await expect(
        idx.close({ chunkCount: 1, size: c.data.length, csum: new Uint8Array(32) }),
      ).rejects.toThrow(/unexpected checksum/)
      // the failed close dropped the writer
      await expect(idx.append([c.digest], [c.data.length])).rejects.toThrow(/not registered/)
      const empty = await s.createDynamicIndex('empty.pxar.didx')
      await expect(empty.close({ chunkCount: 0, size: 0, csum: sha256() })).rejects.toThrow(/minimum/)
      await expect(s.call('POST', '/finish')).rejects.toThrow(/open index writer/)
    } finally {
      await s.abort()
    }
  })

  it('refuses a second writer on the group, older times, and finishing without a manifest', async () => {
    const store = new PbsRemoteStore(fx.client(), 'store')
    const s = await store.beginBackup({ snapshot: snap('lock', 1000) })
    await expect(store.beginBackup({ snapshot: snap('lock', 1001) })).rejects.toThrow(/already running/)
    await s.uploadBlob('a.conf.blob', encodeBlob(new Uint8Array([1, 2, 3])))
    await expect(s.call('POST', '/finish')).rejects.toThrow(/manifest/)
    const aborted = fx.server.stats.backupsAborted
    await s.abort()
    await until(() => fx.server.stats.backupsAborted > aborted)
    const w = await BackupWriter.start(fx.client(), 'store', snap('lock', 1000))
    await w.uploadBlob('a.conf.blob', new Uint8Array([1]))
    await w.finish()
    await expect(BackupWriter.start(fx.client(), 'store', snap('lock', 999))).rejects.toThrow(
      /older than last backup/,
    )
  })

  it('a snapshot becomes visible only after finish', async () => {
    const ds = await Datastore.open(join(fx.dir, 'store'))
    const w = await BackupWriter.start(fx.client(), 'store', snap('vis', 50), { workers: 0 })
    await w.uploadArchive('root.pxar.didx', pieces(mixedData(200_000, 3)))
    await w.session.uploadBlob(
      'index.json.blob',
      encodeBlob(
        new TextEncoder().encode(
          JSON.stringify({
            'backup-type': 'host',
            'backup-id': 'vis',
            'backup-time': 50,
            files: w.files,
            signature: null,
          }),
        ),
      ),
    )
    expect(await ds.listSnapshots({ ns: [], type: 'host', id: 'vis' })).toEqual([])
    expect(
      (await listSnapshots(fx.client(), 'store', { id: 'vis' }))[0]?.files.map((f) => f.filename),
    ).toEqual(['root.pxar.didx'])
    await w.session.finish()
    expect((await ds.listSnapshots({ ns: [], type: 'host', id: 'vis' })).map((s) => s.time)).toEqual([50])
  })

  it('a client killed mid-backup leaves no snapshot and the next backup succeeds', async () => {
    const ds = await Datastore.open(join(fx.dir, 'store'))
    const aborted = fx.server.stats.backupsAborted
    const s = await PbsBackupSession.start(fx.client(), 'store', snap('kill', 10))
    const idx = await s.createDynamicIndex('root.pxar.didx')
    const c = chunk(5)
    await idx.uploadChunk(c.digest, c.data.length, c.blob)
    await idx.append([c.digest], [0])
    s.h2.destroy()
    await until(() => fx.server.stats.backupsAborted > aborted)
    expect(fx.server.stats.backupsAborted).toBe(aborted + 1)
    expect(await ds.listSnapshots({ ns: [], type: 'host', id: 'kill' }, { includeUnfinished: true })).toEqual(
      [],
    )
    expect(await readdir(ds.groupDir({ ns: [], type: 'host', id: 'kill' }))).toEqual(['owner'])
    const w = await BackupWriter.start(fx.client(), 'store', snap('kill', 10), { workers: 0 })
    await w.uploadArchive('root.pxar.didx', [c.data])
    await w.finish()
    expect((await ds.listSnapshots({ ns: [], type: 'host', id: 'kill' })).map((x) => x.time)).toEqual([10])
  })
})

describe('encrypted backups', () => {
  it('encrypts client side; the server stores only ciphertext; restore needs the key', async () => {
    const crypt = new CryptConfig(randomBytes(32))
    const data = mixedData(3 * 1024 * 1024, 11)
    const w = await BackupWriter.start(fx.client(), 'store', snap('enc', 10), { crypt, workers: 1 })
    await w.uploadArchive('root.pxar.didx', pieces(data), { avgSize: 256 * 1024 })
    await w.uploadBlob('secret.conf.blob', new TextEncoder().encode('password=1'))
    const m = await w.finish()
    expect(m.signature).toMatch(/^[0-9a-f]{64}$/)
    const ds = await Datastore.open(join(fx.dir, 'store'))
    const dir = { ns: [], type: 'host' as const, id: 'enc', time: 10 }
    const stored = await ds.readManifest(dir, { key: crypt })
    expect(stored.files.every((f) => f.cryptMode === 'encrypt')).toBe(true)
    const index = await readDynamicIndexFile(join(ds.snapshotDir(dir), 'root.pxar.didx'))
    for (let i = 0; i < index.count; i++)
      expect(inspectBlob(await ds.chunkStore.read(index.digest(i))).encrypted).toBe(true)

    const reader = await PbsReader.open(fx.client(), 'store', dir, { crypt })
    expect(Buffer.from(await collect(reader.restore('root.pxar.didx'))).equals(Buffer.from(data))).toBe(true)
    expect(new TextDecoder().decode(await reader.downloadBlob('secret.conf.blob'))).toBe('password=1')
    await reader.close()
    const noKey = await PbsReader.open(fx.client(), 'store', dir)
    await expect(noKey.manifest()).rejects.toMatchObject({ code: 'ERR_MANIFEST_FINGERPRINT' })
    await noKey.close()
    const otherKey = await PbsReader.open(fx.client(), 'store', dir, {
      crypt: new CryptConfig(randomBytes(32)),
    })
    await expect(otherKey.manifest()).rejects.toMatchObject({ code: 'ERR_MANIFEST_FINGERPRINT' })
    await otherKey.close()
  })
})

describe('reader protocol', () => {
  it('only serves chunks of downloaded indexes, and 404s unknown files', async () => {
    const reader = await PbsReader.open(fx.client(), 'store', snap('kill', 10))
    const digest = (await reader.openIndex('root.pxar.didx')).index.digest(0)
    expect(inspectBlob(await reader.readChunk(digest)).encrypted).toBe(false)
    await expect(reader.readChunk(sha256(new Uint8Array([9])))).rejects.toMatchObject({ status: 401 })
    await expect(reader.download('nope.blob')).rejects.toBeInstanceOf(PbsHttpError)
    await reader.close()
    await expect(PbsReader.open(fx.client(), 'store', snap('kill', 11))).rejects.toMatchObject({
      status: 404,
    })
  })
})
