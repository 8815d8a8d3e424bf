import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BufferSink, Encoder, openAccessor } from '../../codec/src/index.ts'
import { dirMetadata, fileMetadata } from '../../format/src/index.ts'
import { BackupWriter, PbsClient, PbsReader, parseRepository } from '../src/index.ts'
import { type Fixture, mixedData, pieces, startFixture, TOKEN_ID, TOKEN_SECRET } from './helpers.ts'

let fx: Fixture
beforeAll(async () => {
  fx = await startFixture()
})
afterAll(async () => {
  await fx?.close()
})

function archive(): { bytes: Uint8Array; files: Map<string, Uint8Array> } {
  const out = new BufferSink()
  const enc = new Encoder(out, dirMetadata().mtime(1_700_000_000).build())
  const files = new Map<string, Uint8Array>()
  enc.createDirectory('data', dirMetadata().build())
  for (let i = 0; i < 200; i++) {
    const name = `file-${String(i).padStart(3, '0')}`
    const content = mixedData(40_000 + i * 100, i + 1)
    files.set(`data/${name}`, content)
    enc.addFile(name, fileMetadata(0o644).build(), content)
  }
  enc.finish()
  enc.finish()
  enc.close()
  return { bytes: out.takeBytes(), files }
}

describe('pxar accessor over a remote archive', () => {
  it('looks up and reads single files of a PBS snapshot without downloading the archive', async () => {
    const { bytes, files } = archive()
    // the repository form a user would type, with the secret and pin as PBS_PASSWORD/PBS_FINGERPRINT
    const client = PbsClient.fromRepository(
      parseRepository(`${TOKEN_ID}@127.0.0.1:${fx.server.port}:store`),
      {
        env: { PBS_PASSWORD: TOKEN_SECRET, PBS_FINGERPRINT: fx.server.fingerprint.toUpperCase() },
      },
    )
    expect(client.store).toBe('store')
    const dir = { ns: [] as string[], type: 'host' as const, id: 'tree', time: 77 }
    const w = await BackupWriter.start(client, client.store, dir, { workers: 1 })
    const up = await w.uploadArchive('root.pxar.didx', pieces(bytes), { avgSize: 64 * 1024 })
    await w.finish()
    expect(up.stats.chunks).toBeGreaterThan(50)

    const reader = await PbsReader.open(client, client.store, dir)
    const readAt = await reader.readAt('root.pxar.didx')
    expect(readAt.size).toBe(bytes.length)
    const acc = await openAccessor(readAt)
    const entry = await acc.lookup('/data/file-123')
    expect(entry).toBeDefined()
    const expected = files.get('data/file-123')!
    const buf = new Uint8Array(expected.length)
    expect(await acc.readFileAt(entry!, buf, 0)).toBe(expected.length)
    expect(buf).toEqual(expected)
    expect(await acc.lookup('/data/missing')).toBeUndefined()
    // only the chunks on the way were fetched
    expect(reader.stats.chunkDownloads).toBeLessThan(up.stats.chunks / 4)
    await reader.close()
  })
})
