/**
 * The datastore written by the real proxmox-backup-client 3.2.4, served by our server: every
 * snapshot restores through the reader protocol to the expected stream, and replaying a snapshot
 * through the backup protocol (the real client's encoded chunks and manifest) reproduces it.
 */
import { createHash } from 'node:crypto'
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  Datastore,
  DynamicIndex,
  decryptKeyConfig,
  INDEX_HEADER_SIZE,
  parseBackupTime,
  parseKeyConfig,
} from '@pxar/datastore'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import { type RunningServer, startServer } from '../../server/src/index.ts'
import { createNamespace, listSnapshots, PbsBackupSession, PbsClient, PbsReader } from '../src/index.ts'

const real = vectorsDir('pbs-real')
const expectedDir = join(real, 'expected')
let dir: string
let server: RunningServer
let client: PbsClient

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pxar-pbs-real-'))
  await cp(join(real, 'datastore'), join(dir, 'ds'), { recursive: true })
  server = await startServer({
    datastore: join(dir, 'ds'),
    listen: '127.0.0.1:0',
    tokens: { 'root@pam!t': 'secret' },
    certDir: join(dir, 'cert'),
    authFailureDelayMs: 0,
  })
  client = new PbsClient({
    host: '127.0.0.1',
    port: server.port,
    authId: 'root@pam!t',
    password: 'secret',
    fingerprint: server.fingerprint,
  })
})
afterAll(async () => {
  await server?.stop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

const cases = (await readdir(expectedDir))
  .filter((n) => n.endsWith('.root.pxar.sha256'))
  .map((n) => {
    const [type, id, ...stamp] = n.replace('.root.pxar.sha256', '').split('_')
    const time = parseBackupTime(stamp.join(':'))
    return { file: n, base: n.replace('.root.pxar.sha256', ''), type: type as 'host', id: id!, time: time! }
  })

async function key() {
  const kc = parseKeyConfig(await readFile(join(real, 'enc.key')))
  const password = (await readFile(join(real, 'enc.key.password'), 'utf8')).trim()
  return (await decryptKeyConfig(kc, { password })).cryptConfig
}

describe('real PBS datastore served over the protocols', () => {
  it('lists every snapshot', async () => {
    expect(cases.length).toBe(3)
    const list = await listSnapshots(client, 'store')
    expect(list.map((s) => `${s['backup-id']}/${s['backup-time']}`).sort()).toEqual(
      cases.map((c) => `${c.id}/${c.time}`).sort(),
    )
  })

  it.each(cases)('restores $base through the reader protocol', async (c) => {
    const crypt = c.id === 'enc' ? await key() : undefined
    const reader = await PbsReader.open(
      client,
      'store',
      { ns: [], type: c.type, id: c.id, time: c.time },
      crypt ? { crypt } : {},
    )
    try {
      const manifest = await reader.manifest()
      const expected = JSON.parse(await readFile(join(expectedDir, `${c.base}.index.json`), 'utf8'))
      expect(
        manifest.files.map((f) => ({
          'crypt-mode': f.cryptMode,
          csum: f.csum,
          filename: f.filename,
          size: f.size,
        })),
      ).toEqual(expected.files)
      const hash = createHash('sha256')
      for await (const piece of reader.restore('root.pxar.didx')) hash.update(piece)
      expect(hash.digest('hex')).toBe(
        (await readFile(join(expectedDir, c.file), 'utf8')).trim().split(/\s+/)[0],
      )
    } finally {
      await reader.close()
    }
  })

  it("replaying the real client's chunks and manifest through the backup protocol reproduces the snapshot", async () => {
    const src = {
      ns: [] as string[],
      type: 'host' as const,
      id: 'plain',
      time: cases.find((c) => c.id === 'plain')!.time,
    }
    const ds = await Datastore.open(join(dir, 'ds'))
    await createNamespace(client, 'store', ['replay'])
    const session = await PbsBackupSession.start(client, 'store', { ...src, ns: ['replay'] })
    const manifest = await ds.readManifest(src)
    for (const f of manifest.files) {
      const bytes = await readFile(join(ds.snapshotDir(src), f.filename))
      const index = DynamicIndex.parse(bytes)
      const upload = await session.createDynamicIndex(f.filename)
      const digests: Uint8Array[] = []
      const offsets: number[] = []
      for (let i = 0; i < index.count; i++) {
        const digest = index.digest(i)
        await upload.uploadChunk(digest, index.end(i) - index.start(i), await ds.chunkStore.read(digest))
        digests.push(digest)
        offsets.push(index.start(i))
      }
      await upload.append(digests, offsets)
      await upload.close({ chunkCount: index.count, size: index.size, csum: index.computeCsum().csum })
    }
    await session.uploadBlob('index.json.blob', await readFile(join(ds.snapshotDir(src), 'index.json.blob')))
    await session.finish()
    const replayed = { ...src, ns: ['replay'] }
    const m2 = await ds.readManifest(replayed)
    expect(m2.files).toEqual(manifest.files)
    expect(m2.signature).toBe(manifest.signature)
    const stats = m2.unprotected.chunk_upload_stats as Record<string, number>
    expect(stats.duplicates).toBe(stats.count)
    for (const f of manifest.files) {
      const a = await readFile(join(ds.snapshotDir(src), f.filename))
      const b = await readFile(join(ds.snapshotDir(replayed), f.filename))
      // same entries and checksum; uuid and ctime are per file
      expect(b.subarray(INDEX_HEADER_SIZE)).toEqual(a.subarray(INDEX_HEADER_SIZE))
      expect(b.subarray(32, 64)).toEqual(a.subarray(32, 64))
    }
  })
})
