// Reads the datastore written by the real proxmox-backup-client (pbs-real vectors).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import {
  CatalogReader,
  Datastore,
  DynamicIndex,
  decodeBlob,
  decryptKeyConfig,
  manifestToJsonValue,
  parseBackupTime,
  parseKeyConfig,
  prettyJson,
  verifyDatastore,
} from '../src/index.ts'

const root = vectorsDir('pbs-real')
const password = readFileSync(join(root, 'enc.key.password'), 'utf8').split('\n')[0]!
const key = decryptKeyConfig(parseKeyConfig(readFileSync(join(root, 'enc.key'))), { password }).then(
  (k) => k.cryptConfig,
)

const SNAPSHOTS = [
  ['plain', '2023-11-14T22:13:20Z'],
  ['plain', '2023-11-14T23:13:20Z'],
  ['enc', '2023-11-14T22:15:00Z'],
] as const

describe('datastore written by the real client', () => {
  it('lists its groups and snapshots', async () => {
    const ds = await Datastore.open(join(root, 'datastore'))
    const groups = await ds.listGroups()
    expect(groups.map((g) => g.id)).toEqual(['enc', 'plain'])
    expect(await ds.getOwner(groups[0]!)).toMatch(/@/)
    expect((await ds.listSnapshots(groups[1]!)).map((s) => s.files)).toEqual([
      ['catalog.pcat1.didx', 'index.json.blob', 'root.pxar.didx'],
      ['catalog.pcat1.didx', 'index.json.blob', 'root.pxar.didx'],
    ])
  })

  for (const [id, time] of SNAPSHOTS) {
    const name = `host_${id}_${time.replaceAll(':', '_')}`
    it(`${id}/${time}: manifest, catalog dump and verification match`, async () => {
      const ds = await Datastore.open(join(root, 'datastore'))
      const dir = { ns: [], type: 'host', id, time: parseBackupTime(time)! } as const
      const k = id === 'enc' ? await key : undefined
      const m = await ds.readManifest(dir, k ? { key: k } : {})
      expect(prettyJson(manifestToJsonValue(m))).toBe(
        readFileSync(join(root, 'expected', `${name}.index.json`), 'utf8').trim(),
      )
      // the catalog stream = the chunks of catalog.pcat1.didx
      const idx = DynamicIndex.parse(readFileSync(join(ds.snapshotDir(dir), 'catalog.pcat1.didx')))
      const parts: Uint8Array[] = []
      for (let i = 0; i < idx.count; i++) {
        parts.push(decodeBlob(await ds.chunkStore.read(idx.digest(i)), { crypt: k, digest: idx.digest(i) }))
      }
      const catalog = new CatalogReader(Buffer.concat(parts))
      const expected = readFileSync(join(root, 'expected', `${name}.catalog.txt`), 'utf8')
        .split('\n')
        .filter((l) => l)
      expect(catalog.dump()).toEqual(expected)
    })
  }

  it('verifies every snapshot (server view without key, and with the key)', async () => {
    const ds = await Datastore.open(join(root, 'datastore'))
    expect((await verifyDatastore(ds)).failed).toEqual([])
    const withKey = await verifyDatastore(ds, { key: await key })
    expect(withKey.failed).toEqual([])
    expect(withKey.snapshots.length).toBe(3)
  })
})
