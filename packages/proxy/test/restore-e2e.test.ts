import { createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { CryptConfig, Datastore, generateKey } from '@pxar/datastore'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalClient, LocalStore, restoreFile, restoreSnapshot, runBackup } from '../src/index.ts'
import { openArchive } from './helpers/read-back.ts'
import { diffTrees, makeTree, rand, snapshotTree } from './helpers/tree.ts'

let base: string
let src: string
let ds: Datastore
let store: LocalStore

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'pxar-e2e-'))
  src = join(base, 'src')
  await mkdir(src)
  makeTree(src)
  ds = await Datastore.create(join(base, 'ds'), { prefixDirs: 'lazy' })
  store = new LocalStore(ds)
})
afterAll(async () => {
  await rm(base, { recursive: true, force: true })
})

const group = { ns: [], type: 'host', id: 'e2e' } as const
let time = 1_700_000_000
const opts = { avgChunkSize: 64 * 1024, workers: 0 } as const

describe('backup → restore on a real tree', () => {
  for (const mode of ['legacy', 'data', 'metadata'] as const) {
    it(`${mode} mode restores content and metadata`, async () => {
      const t = ++time
      const client = new LocalClient(src)
      const r = await runBackup(client, { store, backupId: 'e2e', mode, backupTime: t, ...opts })
      expect(r.files).toBeGreaterThan(50)
      const target = join(base, `restore-${mode}`)
      const archive = mode === 'legacy' ? 'root.pxar.didx' : 'root.mpxar'
      await restoreSnapshot(ds, { ...group, time: t }, archive, target)
      expect(
        diffTrees(
          snapshotTree(src, { hardlinkGroups: true }),
          snapshotTree(target, { hardlinkGroups: true }),
        ),
      ).toEqual([])
    })
  }

  it('metadata mode after changing files reads only the changed files', async () => {
    // Baseline split snapshot, then change a few files.
    await runBackup(new LocalClient(src), {
      store,
      backupId: 'e2e',
      mode: 'data',
      backupTime: ++time,
      ...opts,
    })
    await writeFile(join(src, 'many', 'f3'), rand(5555, 9))
    await writeFile(join(src, 'size-100.bin'), rand(100, 77))
    await utimes(join(src, 'many', 'f10'), 1_650_000_000, 1_650_000_000)
    const client = new LocalClient(src)
    const read = new Map<string, number>()
    const counting = {
      stat: client.stat.bind(client),
      listDir: client.listDir.bind(client),
      close: client.close.bind(client),
      async *readFile(path: Uint8Array, start?: number, end?: number) {
        const key = Buffer.from(path).toString()
        for await (const p of client.readFile(path, start, end)) {
          read.set(key, (read.get(key) ?? 0) + p.length)
          yield p
        }
      },
    }
    const t = ++time
    const r = await runBackup(counting, { store, backupId: 'e2e', mode: 'metadata', backupTime: t, ...opts })
    expect(read.get('many/f3')).toBe(5555)
    expect(read.get('size-100.bin')).toBe(100)
    expect(read.get('many/f10')).toBe(3000 + 10 * 1111)
    // Unchanged large files are never read; small unchanged files next to changed ones may be
    // re-read when reusing their chunks would store too much padding.
    expect(read.get('size-700000.bin')).toBeUndefined()
    expect(read.get('size-200000.bin')).toBeUndefined()
    const changed = new Set(['many/f3', 'size-100.bin', 'many/f10'])
    const unchangedRead = [...read].filter(([p]) => !changed.has(p)).reduce((n, [, v]) => n + v, 0)
    expect(unchangedRead).toBeLessThan(0.25 * (r.bytes - 5555 - 100 - 14110))
    expect(r.reusedBytes + unchangedRead).toBe(r.bytes - 5555 - 100 - 14110)
    const target = join(base, 'restore-changed')
    await restoreSnapshot(ds, { ...group, time: t }, 'root.mpxar.didx', target)
    expect(
      diffTrees(snapshotTree(src, { hardlinkGroups: true }), snapshotTree(target, { hardlinkGroups: true })),
    ).toEqual([])
  })

  it('encrypted and sign-only backups restore with the key', async () => {
    const key = new CryptConfig(generateKey())
    for (const cryptMode of ['encrypt', 'sign-only'] as const) {
      const t = ++time
      await runBackup(new LocalClient(src), {
        store,
        backupId: `c-${cryptMode}`,
        mode: 'data',
        cryptMode,
        key,
        backupTime: t,
        ...opts,
      })
      const snap = { ns: [], type: 'host', id: `c-${cryptMode}`, time: t } as const
      const m = await ds.readManifest(snap, { key })
      expect(m.signature).toBeTypeOf('string')
      expect(m.files.every((f) => f.cryptMode === cryptMode)).toBe(true)
      const target = join(base, `restore-${cryptMode}`)
      await restoreSnapshot(ds, snap, 'root.mpxar.didx', target, { crypt: key })
      expect(diffTrees(snapshotTree(src), snapshotTree(target))).toEqual([])
      if (cryptMode === 'encrypt') {
        await expect(restoreSnapshot(ds, snap, 'root.mpxar.didx', join(base, 'nokey'))).rejects.toThrow()
      }
    }
  })

  it('match patterns select paths; existing entries need overwrite', async () => {
    const t = ++time
    await runBackup(new LocalClient(src), { store, backupId: 'e2e', backupTime: t, ...opts })
    const target = join(base, 'restore-match')
    await restoreSnapshot(ds, { ...group, time: t }, 'root.pxar', target, {
      match: ['many/f1*', 'xattr.txt'],
    })
    const got = [...snapshotTree(target).keys()].sort()
    expect(got).toEqual(
      [
        '.',
        'many',
        ...Array.from({ length: 11 }, (_, i) => `many/f1${i === 0 ? '' : i - 1}`).sort(),
        'xattr.txt',
      ].sort(),
    )
    await expect(
      restoreSnapshot(ds, { ...group, time: t }, 'root.pxar', target, { match: ['xattr.txt'] }),
    ).rejects.toMatchObject({ code: 'ERR_RESTORE_EXISTS' })
    await restoreSnapshot(ds, { ...group, time: t }, 'root.pxar', target, {
      match: ['xattr.txt'],
      overwrite: true,
    })
    const warnings: string[] = []
    await restoreSnapshot(ds, { ...group, time: t }, 'root.pxar', join(base, 'restore-hl'), {
      match: ['hl-2'],
      onWarning: (p, m) => warnings.push(`${p}: ${m}`),
    })
    expect(warnings).toEqual([
      `${join(base, 'restore-hl', 'hl-2')}: hardlink skipped: its target was not selected`,
    ])
  })

  it('local .pxar and .mpxar/.ppxar files restore like the snapshot', async () => {
    const t = ++time
    await runBackup(new LocalClient(src), { store, backupId: 'files', mode: 'data', backupTime: t, ...opts })
    const t2 = ++time
    await runBackup(new LocalClient(src), { store, backupId: 'files', backupTime: t2, ...opts })
    const dump = async (tt: number, name: string, file: string): Promise<void> => {
      const r = await openArchive(ds, { ns: [], type: 'host', id: 'files', time: tt }, name)
      await pipeline(Readable.from(r.stream()), createWriteStream(join(base, file)))
    }
    await dump(t, 'root.mpxar.didx', 'root.mpxar')
    await dump(t, 'root.ppxar.didx', 'root.ppxar')
    await dump(t2, 'root.pxar.didx', 'root.pxar')
    await restoreFile(join(base, 'root.mpxar'), join(base, 'from-split'))
    await restoreFile(join(base, 'root.pxar'), join(base, 'from-v1'))
    const want = snapshotTree(src, { hardlinkGroups: true })
    expect(diffTrees(want, snapshotTree(join(base, 'from-split'), { hardlinkGroups: true }))).toEqual([])
    expect(diffTrees(want, snapshotTree(join(base, 'from-v1'), { hardlinkGroups: true }))).toEqual([])
  })
})
