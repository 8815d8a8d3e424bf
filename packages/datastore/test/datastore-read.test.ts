import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import {
  CryptConfig,
  Datastore,
  decodeBlob,
  decryptKeyConfig,
  parseKeyConfig,
  toHex,
  verifySnapshot,
} from '../src/index.ts'

describe('reading the PBS mini datastore', () => {
  const root = join(vectorsDir('pbs'), 'datastore')
  it('lists groups and snapshots, reads and verifies manifests', async () => {
    const kc = parseKeyConfig(await readFile(join(vectorsDir('pbs'), 'keys', 'scrypt.key')))
    const { cryptConfig } = await decryptKeyConfig(kc, { password: 'correct horse battery' })
    const ds = await Datastore.open(root)
    const groups = await ds.listGroups()
    expect(groups.map((g) => `${g.type}/${g.id}`)).toEqual(['host/vectors', 'vm/100'])
    const host = await ds.listSnapshots(groups[0]!)
    expect(host.map((s) => [s.time, s.files])).toEqual([
      [1704067200, ['catalog.pcat1.didx', 'data.didx', 'index.json.blob']],
    ])
    const vm = (await ds.listSnapshots(groups[1]!))[0]!
    const m = await ds.readManifest(vm.dir, { key: cryptConfig })
    expect(m.signature).toBe('7fbdcddbea9026580fadc5bce6bbe584a5ac4030360a6176647b39733c3370c3')
    await expect(ds.readManifest(vm.dir, { key: new CryptConfig(new Uint8Array(32)) })).rejects.toMatchObject(
      {
        code: 'ERR_MANIFEST_FINGERPRINT',
      },
    )
    // the server (no key) checks CRC and crypt mode; with the key every digest is checked too
    const noKey = await verifySnapshot(ds, vm.dir)
    expect(noKey).toMatchObject({ ok: true, chunksChecked: 3 })
    expect((await verifySnapshot(ds, vm.dir, { key: cryptConfig })).ok).toBe(true)
    const h = await verifySnapshot(ds, host[0]!.dir)
    expect(h.ok).toBe(true)
    expect(h.chunksChecked).toBe(8)
    // the catalog archive of the host snapshot is the chunked basic catalog
    const chunk = await ds.chunkStore.read('51f3c71a430ed9581394010002d8bbc454a20ac6f19a4a922b128d698652e9ec')
    expect(toHex(createHash('sha256').update(decodeBlob(chunk)).digest())).toBe(
      '51f3c71a430ed9581394010002d8bbc454a20ac6f19a4a922b128d698652e9ec',
    )
  })
})

describe('killed writer', () => {
  it('leaves no partial chunk, index or snapshot visible', async () => {
    const base = await mkdtemp(join(tmpdir(), 'pxar-killed-'))
    try {
      const ds = await Datastore.create(base, { prefixDirs: 'lazy' })
      const worker = fileURLToPath(new URL('./helpers/snapshot-writer.ts', import.meta.url))
      const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@pxar/source', worker, base], {
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      await new Promise<void>((resolve, reject) => {
        child.stdout.once('data', () => resolve())
        child.once('exit', (code) => reject(new Error(`writer exited early (${code})`)))
      })
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 300))
      child.kill('SIGKILL')
      await new Promise((r) => child.once('exit', r))
      const g = { ns: [], type: 'host', id: 'killed' } as const
      expect(await ds.listSnapshots(g)).toEqual([])
      const [unfinished] = await ds.listSnapshots(g, { includeUnfinished: true })
      expect(unfinished?.finished).toBe(false)
      // the index never got its final name
      expect(unfinished?.files).toEqual(['conf.blob'])
      expect((await readdir(unfinished!.path)).some((n) => n.endsWith('.tmp_didx'))).toBe(true)
      let n = 0
      for await (const e of ds.chunkStore.listChunks()) {
        n++
        const data = decodeBlob(await ds.chunkStore.read(e.digest))
        expect(toHex(createHash('sha256').update(data).digest())).toBe(e.digest)
      }
      expect(n).toBeGreaterThan(0)
      // prune drops the aborted snapshot once a finished one exists
      const w = await ds.beginSnapshot({ ...g, time: 1700000100 }, { owner: 'root@pam' })
      await w.finish()
      await ds.prune(g, { keepLast: 5 })
      expect((await ds.listSnapshots(g, { includeUnfinished: true })).map((s) => s.time)).toEqual([
        1700000100,
      ])
    } finally {
      await rm(base, { recursive: true, force: true })
    }
  })
})
