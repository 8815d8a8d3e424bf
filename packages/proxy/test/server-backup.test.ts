import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CatalogReader, Datastore, IndexReadAt, readDynamicIndexFile } from '@pxar/datastore'
import { fileMetadata } from '@pxar/format'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { LocalStore, runBackup } from '../src/index.ts'
import { dir, file, type MemNode, MemorySource } from './helpers/memory-source.ts'
import { readArchive } from './helpers/read-back.ts'

function rand(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

function tree(): MemNode {
  const shared: MemNode = { kind: 'file', data: new TextEncoder().encode('linked\n'), ino: '77', nlink: 2 }
  return dir({
    'empty.txt': file(''),
    'small.txt': file('hello\n'),
    'big.bin': file(rand(300_000, 1)),
    'mid.bin': file(rand(70_000, 2)),
    'ünïcödé ✓.txt': file('unicode\n'),
    deep: dir({ a: dir({ b: dir({ c: dir({ 'leaf.txt': file('deep\n') }) }) }) }),
    link: { kind: 'symlink', target: 'small.txt' },
    'hl-a': shared,
    'hl-b': shared,
    fifo: { kind: 'fifo' },
    sock: { kind: 'socket' },
    tty: { kind: 'char-device', major: 4, minor: 64 },
    xa: file(
      'x',
      fileMetadata(0o600).owner(1000, 1000).mtime(1_600_000_000, 123).xattr('user.a', 'b').build(),
    ),
    many: dir(
      Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`f${i}`, file(rand(5000 + i * 97, 10 + i))])),
    ),
  })
}

let base: string
let ds: Datastore
let store: LocalStore

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'pxar-proxy-'))
  ds = await Datastore.create(join(base, 'ds'), { prefixDirs: 'lazy' })
  store = new LocalStore(ds)
})
afterEach(async () => {
  await rm(base, { recursive: true, force: true })
})

const group = { ns: [], type: 'host', id: 'test' } as const

describe('runBackup', () => {
  it('legacy: v1 archive and catalog readable with @pxar/datastore', async () => {
    const src = new MemorySource(tree())
    const r = await runBackup(src, {
      store,
      backupId: 'test',
      backupTime: 1_700_000_100,
      avgChunkSize: 64 * 1024,
      workers: 0,
    })
    expect(r.snapshot).toBe('host/test/2023-11-14T22:15:00Z')
    expect(r.archives).toEqual(['root.pxar.didx', 'catalog.pcat1.didx'])
    const snap = { ...group, time: 1_700_000_100 }
    const entries = await readArchive(ds, snap, 'root', false)
    const byPath = new Map(entries.map((e) => [e.path, e]))
    expect(byPath.get('/big.bin')?.data).toBe(Buffer.from(rand(300_000, 1)).toString('hex'))
    expect(byPath.get('/empty.txt')?.data).toBe('')
    expect(byPath.get('/deep/a/b/c/leaf.txt')?.data).toBe(Buffer.from('deep\n').toString('hex'))
    expect(byPath.get('/ünïcödé ✓.txt')?.kind).toBe('file')
    expect(byPath.get('/link')?.link).toBe('small.txt')
    expect(byPath.get('/hl-b')?.kind).toBe('hardlink')
    expect(byPath.get('/tty')?.kind).toBe('char_device')
    expect(byPath.get('/fifo')?.kind).toBe('fifo')
    expect(byPath.get('/xa')).toMatchObject({
      uid: 1000,
      gid: 1000,
      mtime: '1600000000.123',
      xattrs: 'user.a=b',
    })
    expect(entries.length).toBe(r.entries + 1)
    // Catalog lists the files under the archive name.
    const cidx = await readDynamicIndexFile(join(ds.snapshotDir(snap), 'catalog.pcat1.didx'))
    const cat = new Uint8Array(cidx.size)
    await new IndexReadAt(cidx, { read: (d) => ds.chunkStore.read(d) }).read(cat, 0)
    const reader = new CatalogReader(cat)
    expect(reader.lookupPath('/root.pxar.didx/deep/a/b/c/leaf.txt')).toBeDefined()
    expect(reader.lookupPath('/root.pxar.didx/big.bin')).toMatchObject({ size: 300_000n })
  })

  it('data mode writes split archives; metadata mode reuses unchanged files', async () => {
    const root = tree()
    const src = new MemorySource(root)
    const r1 = await runBackup(src, {
      store,
      backupId: 'test',
      mode: 'data',
      backupTime: 1_700_000_100,
      avgChunkSize: 64 * 1024,
      workers: 0,
    })
    expect(r1.archives).toEqual(['root.mpxar.didx', 'root.ppxar.didx'])
    const first = await readArchive(ds, { ...group, time: 1_700_000_100 }, 'root', true)
    expect(first.find((e) => e.path === '/big.bin')?.data).toBe(Buffer.from(rand(300_000, 1)).toString('hex'))

    // Change two files, then back up in metadata mode.
    if (root.kind !== 'directory') throw new Error()
    root.children.set('small.txt', file('changed!\n', fileMetadata(0o644).mtime(1_700_000_500).build()))
    const many = root.children.get('many')
    if (many?.kind !== 'directory') throw new Error()
    many.children.set('f7', file(rand(9000, 999), fileMetadata(0o644).mtime(1_700_000_600).build()))
    const src2 = new MemorySource(root)
    const r2 = await runBackup(src2, {
      store,
      backupId: 'test',
      mode: 'metadata',
      backupTime: 1_700_000_200,
      avgChunkSize: 64 * 1024,
      workers: 0,
    })
    expect(r2.reusedBytes).toBeGreaterThan(300_000)
    expect(src2.reads.get('big.bin')).toBeUndefined()
    expect(src2.reads.get('many/f3')).toBeUndefined()
    expect(src2.reads.get('small.txt')).toBe(9)
    expect(src2.reads.get('many/f7')).toBe(9000)
    const second = await readArchive(ds, { ...group, time: 1_700_000_200 }, 'root', true)
    const want = await (async () => {
      const r3 = await runBackup(new MemorySource(root), {
        store,
        backupId: 'test',
        mode: 'data',
        backupTime: 1_700_000_300,
        avgChunkSize: 64 * 1024,
        workers: 0,
      })
      expect(r3.reusedBytes).toBe(0)
      return readArchive(ds, { ...group, time: 1_700_000_300 }, 'root', true)
    })()
    expect(second).toEqual(want)
    // Every manifest verifies and the datastore stays consistent.
    for (const t of [1_700_000_100, 1_700_000_200, 1_700_000_300]) {
      const m = await ds.readManifest({ ...group, time: t })
      expect(m.files.map((f) => f.filename)).toEqual(['root.mpxar.didx', 'root.ppxar.didx'])
    }
  })
})

describe('walk options', () => {
  it('excludes (cli patterns and .pxarexclude files) and one-file-system', async () => {
    const root = dir({
      '.pxarexclude': file('*.tmp\n!keep.tmp\ncache/\n'),
      'a.tmp': file('x'),
      'keep.tmp': file('kept'),
      'b.txt': file('b'),
      cache: dir({ 'c.bin': file('c') }),
      logs: dir({
        'x.log': file('l'),
        '.pxarexclude': file('/inner\n'),
        inner: dir({ y: file('y') }),
        sub: dir({ inner: file('not anchored here') }),
      }),
      other: { kind: 'directory', children: new Map([['mounted.txt', file('m')]]), dev: '2' },
      'skip-me': file('cli'),
    })
    const r = await runBackup(new MemorySource(root), {
      store,
      backupId: 'test',
      backupTime: 1_700_000_100,
      exclude: ['skip-*'],
      workers: 0,
    })
    const entries = await readArchive(ds, { ...group, time: 1_700_000_100 }, 'root', false)
    expect(entries.map((e) => e.path).sort()).toEqual(
      [
        '/',
        '/.pxarexclude',
        '/b.txt',
        '/keep.tmp',
        '/logs',
        '/logs/.pxarexclude',
        '/logs/sub',
        '/logs/sub/inner',
        '/logs/x.log',
        '/other',
      ].sort(),
    )
    expect(r.files).toBe(6)
    const all = await runBackup(new MemorySource(root), {
      store,
      backupId: 'test',
      backupTime: 1_700_000_200,
      oneFileSystem: false,
      pxarexclude: false,
      workers: 0,
    })
    expect(all.files).toBe(11)
  })

  it('the snapshot verifies with @pxar/datastore and an aborted backup leaves nothing', async () => {
    const { verifySnapshot } = await import('@pxar/datastore')
    await runBackup(new MemorySource(tree()), {
      store,
      backupId: 'test',
      mode: 'data',
      backupTime: 1_700_000_100,
      workers: 0,
    })
    const v = await verifySnapshot(ds, { ...group, time: 1_700_000_100 })
    expect(v.ok).toBe(true)
    const failing = new MemorySource(tree())
    failing.readFile = async function* () {
      yield new Uint8Array(1)
      throw Object.assign(new Error('disk on fire'), { code: 'EIO' })
    }
    await expect(
      runBackup(failing, { store, backupId: 'test', mode: 'data', backupTime: 1_700_000_200, workers: 0 }),
    ).rejects.toThrow('disk on fire')
    expect((await ds.listSnapshots(group, { includeUnfinished: true })).map((s) => s.time)).toEqual([
      1_700_000_100,
    ])
  })
})

describe('extra blobs', () => {
  it('stores them beside the archives and lists them in the manifest with the crypt mode', async () => {
    const { CryptConfig, encodeBlob, generateKey, verifySnapshot } = await import('@pxar/datastore')
    const { createHash } = await import('node:crypto')
    const { readFile } = await import('node:fs/promises')
    const key = new CryptConfig(generateKey())
    const blob = encodeBlob(new Uint8Array(256).fill(7))
    const snap = { ...group, time: 1_700_000_300 }
    const r = await runBackup(new MemorySource(tree()), {
      store,
      backupId: 'test',
      backupTime: snap.time,
      cryptMode: 'encrypt',
      key,
      extraBlobs: [{ name: 'rsa-encrypted.key.blob', blob }],
      workers: 0,
    })
    expect(r.archives).toContain('rsa-encrypted.key.blob')
    expect(await readFile(join(ds.snapshotDir(snap), 'rsa-encrypted.key.blob'))).toEqual(Buffer.from(blob))
    const m = await ds.readManifest(snap)
    expect(m.files.find((f) => f.filename === 'rsa-encrypted.key.blob')).toMatchObject({
      cryptMode: 'encrypt',
      size: blob.length,
      csum: createHash('sha256').update(blob).digest('hex'),
    })
    expect((await verifySnapshot(ds, snap, { key })).ok).toBe(true)
    for (const name of ['index.json.blob', '../x.blob', 'x.didx'])
      await expect(
        runBackup(new MemorySource(tree()), { store, backupId: 'test', extraBlobs: [{ name, blob }] }),
      ).rejects.toThrow(TypeError)
  })
})

describe('unreadable files', () => {
  it('a file that vanished before it was read is skipped and reported, with its hardlinks', async () => {
    const src = new MemorySource(tree())
    const readFile = src.readFile.bind(src)
    src.readFile = (path, start, end) => {
      const p = Buffer.from(path).toString()
      if (p === 'small.txt' || p === 'hl-a') {
        return (async function* () {
          yield* []
          throw Object.assign(new Error('gone'), { code: 'ENOENT' })
        })()
      }
      return readFile(path, start, end)
    }
    const skipped: string[] = []
    const r = await runBackup(src, {
      store,
      backupId: 'test',
      backupTime: 1_700_000_100,
      workers: 0,
      onSkip: (path, code) => skipped.push(`${Buffer.from(path)}:${code}`),
    })
    expect(skipped).toEqual(['hl-a:ENOENT', 'small.txt:ENOENT'])
    expect(r.skipped).toBe(2)
    const paths = (await readArchive(ds, { ...group, time: 1_700_000_100 }, 'root', false)).map((e) => e.path)
    expect(paths).not.toContain('/small.txt')
    expect(paths).not.toContain('/hl-a')
    expect(paths).not.toContain('/hl-b')
    expect(paths).toContain('/big.bin')
  })
})
