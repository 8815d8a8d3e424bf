/**
 * Integrity: a single flipped bit in a chunk, a blob, an index or the manifest of a local
 * snapshot (plain and encrypted) is detected by `verifySnapshot`, by `pxar-cli verify` (exit
 * code 3, the damaged snapshot named) and by a restore that reads the damaged part.
 */
import { open, readdir, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type BackupDir,
  CryptConfig,
  createKeyConfig,
  type Datastore,
  DynamicIndex,
  garbageCollect,
  generateKey,
  serializeKeyConfig,
  verifySnapshot,
} from '../../../packages/datastore/src/index.ts'
import { isPxarError } from '../../../packages/format/src/index.ts'
import { ERRNO, openSource, PxarFilesystem } from '../../../packages/fuse/src/index.ts'
import { PbsClient, PbsReader } from '../../../packages/pbs-client/src/index.ts'
import { LocalClient, LocalStore, restoreSnapshot, runBackup } from '../../../packages/proxy/src/index.ts'
import { startServer } from '../../../packages/server/src/index.ts'
import { cli, makeTree, tempDir } from './helpers.ts'

let base: string
let storePath: string
let ds: Datastore
let crypt: CryptConfig
let keyFile: string
const snaps: Record<'plain' | 'enc', { dir: BackupDir; name: string }> = {} as never

beforeAll(async () => {
  base = await tempDir('integrity')
  const src = join(base, 'src')
  await makeTree(src, 30, 40_000)
  storePath = join(base, 'store')
  const store = await LocalStore.open(storePath, { create: true })
  ds = store.datastore
  const key = generateKey()
  crypt = new CryptConfig(key)
  keyFile = join(base, 'key.json')
  await writeFile(keyFile, serializeKeyConfig(await createKeyConfig(key, { kdf: 'none' })))
  for (const kind of ['plain', 'enc'] as const) {
    const client = new LocalClient(src)
    try {
      const r = await runBackup(client, {
        store,
        backupId: kind,
        backupTime: 1_700_000_000,
        avgChunkSize: 64 * 1024,
        workers: 0,
        ...(kind === 'enc' ? { cryptMode: 'encrypt' as const, key: crypt } : {}),
      })
      snaps[kind] = { dir: r.snapshotRef as BackupDir, name: r.snapshot }
    } finally {
      await client.close()
    }
  }
})
afterAll(async () => {
  await rm(base, { recursive: true, force: true })
})

/** Flips one bit of a file in place; returns a function undoing it. */
async function flipBit(path: string, offset: number, bit: number): Promise<() => Promise<void>> {
  const flip = async (): Promise<void> => {
    const fh = await open(path, 'r+')
    try {
      const b = Buffer.alloc(1)
      await fh.read(b, 0, 1, offset)
      b[0]! ^= 1 << bit
      await fh.write(b, 0, 1, offset)
    } finally {
      await fh.close()
    }
  }
  await flip()
  return flip
}

/** Positions to damage in a file of `size` bytes: start, a few seeded middles, the last byte. */
function positions(size: number, seed: number): number[] {
  const out = new Set<number>([0, size - 1])
  let x = seed
  for (let i = 0; i < 3; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff
    out.add(x % size)
  }
  return [...out]
}

async function chunkFiles(kind: 'plain' | 'enc'): Promise<string[]> {
  const idx = DynamicIndex.parse(await readFile(join(ds.snapshotDir(snaps[kind].dir), 'root.pxar.didx')))
  const out: string[] = []
  for (let i = 0; i < idx.count; i++) out.push(ds.chunkStore.chunkPath(idx.digest(i)))
  return out
}

/** verifySnapshot finds damage (or refuses to read the manifest), naming the snapshot. */
async function expectVerifyFails(kind: 'plain' | 'enc', what: string): Promise<void> {
  const { dir, name } = snaps[kind]
  const r = await verifySnapshot(ds, dir, kind === 'enc' ? { key: crypt } : {}).catch((e: unknown) => e)
  if (r instanceof Error) {
    expect(r, what).toSatisfy(isPxarError)
    return
  }
  const res = r as Awaited<ReturnType<typeof verifySnapshot>>
  expect(res.ok, what).toBe(false)
  expect(res.errors.length, what).toBeGreaterThan(0)
  expect(res.snapshot).toContain(`host/${kind}/`)
  expect(name).toContain(`host/${kind}/`)
}

async function expectRestoreFails(kind: 'plain' | 'enc', what: string): Promise<void> {
  const target = join(base, 'restore', `${kind}-${Math.random().toString(36).slice(2)}`)
  const err = await restoreSnapshot(
    ds,
    snaps[kind].dir,
    'root.pxar',
    target,
    kind === 'enc' ? { crypt } : {},
  ).catch((e: unknown) => e)
  expect(err, what).toSatisfy(isPxarError)
  await rm(target, { recursive: true, force: true })
}

async function expectCliVerifyFails(kind: 'plain' | 'enc', what: string): Promise<void> {
  const args = ['verify', '--store', storePath]
  if (kind === 'enc') args.push('--keyfile', keyFile)
  const r = await cli(args)
  expect(r.code, `${what}: ${r.stdout}${r.stderr}`).toBe(3)
  const text = r.stdout + r.stderr
  expect(text, what).toMatch(new RegExp(`FAILED\\s+${snaps[kind].name}`))
  expect(text).toMatch(/1 damaged/)
}

describe('a flipped bit is detected', () => {
  it('the intact snapshots verify and restore', async () => {
    for (const kind of ['plain', 'enc'] as const) {
      const r = await verifySnapshot(ds, snaps[kind].dir, kind === 'enc' ? { key: crypt } : {})
      expect(r.ok, JSON.stringify(r.errors)).toBe(true)
      const target = join(base, 'restore', `${kind}-ok`)
      await restoreSnapshot(ds, snaps[kind].dir, 'root.pxar', target, kind === 'enc' ? { crypt } : {})
      await rm(target, { recursive: true })
    }
    const r = await cli(['verify', '--store', storePath, '--keyfile', keyFile])
    expect(r.code, r.stderr).toBe(0)
  })

  for (const kind of ['plain', 'enc'] as const) {
    it(`in any chunk (${kind})`, async () => {
      const files = await chunkFiles(kind)
      expect(files.length).toBeGreaterThan(3)
      let seed = 1
      for (const file of [files[0]!, files[Math.floor(files.length / 2)]!, files[files.length - 1]!]) {
        const size = (await readFile(file)).length
        for (const at of positions(size, seed++)) {
          const undo = await flipBit(file, at, seed % 8)
          const what = `${kind} chunk ${file} byte ${at}`
          try {
            await expectVerifyFails(kind, what)
            await expectRestoreFails(kind, what)
          } finally {
            await undo()
          }
        }
      }
      // one CLI run over a damaged chunk
      const undo = await flipBit(files[1]!, 100, 3)
      try {
        await expectCliVerifyFails(kind, `${kind} chunk (cli)`)
      } finally {
        await undo()
      }
    })

    it(`in the index, the blobs and the manifest (${kind})`, async () => {
      const dir = ds.snapshotDir(snaps[kind].dir)
      const names = (await readdir(dir)).filter((n) => /\.(didx|fidx|blob)$/.test(n)).sort()
      expect(names).toEqual(
        expect.arrayContaining(['index.json.blob', 'root.pxar.didx', 'catalog.pcat1.didx']),
      )
      let seed = 11
      for (const name of names) {
        const file = join(dir, name)
        const size = (await readFile(file)).length
        // an index header's uuid, ctime and reserved bytes carry no data (PBS does not check
        // them either): damage is aimed at the magic and the digest/offset table
        const spots = name.endsWith('idx')
          ? [0, 7, ...positions(size - 4096, seed++).map((p) => 4096 + p)]
          : positions(size, seed++)
        for (const at of spots) {
          const undo = await flipBit(file, at, seed % 8)
          const what = `${kind} ${name} byte ${at}`
          try {
            await expectVerifyFails(kind, what)
            if (name === 'root.pxar.didx' || name === 'index.json.blob') await expectRestoreFails(kind, what)
          } finally {
            await undo()
          }
        }
        const undo = await flipBit(file, name.endsWith('idx') ? 4100 : Math.floor(size / 2), 1)
        try {
          await expectCliVerifyFails(kind, `${kind} ${name} (cli)`)
        } finally {
          await undo()
        }
      }
    })
  }

  it('a missing or truncated chunk and a missing index are detected too', async () => {
    for (const kind of ['plain', 'enc'] as const) {
      const files = await chunkFiles(kind)
      const victim = files[Math.floor(files.length / 2)]!
      await rename(victim, `${victim}.away`)
      try {
        await expectVerifyFails(kind, `${kind} missing chunk`)
        await expectRestoreFails(kind, `${kind} missing chunk`)
        await expectCliVerifyFails(kind, `${kind} missing chunk (cli)`)
      } finally {
        await rename(`${victim}.away`, victim)
      }
      const saved = await readFile(victim)
      await truncate(victim, Math.floor(saved.length / 2))
      try {
        await expectVerifyFails(kind, `${kind} truncated chunk`)
        await expectRestoreFails(kind, `${kind} truncated chunk`)
      } finally {
        await writeFile(victim, saved)
      }
      const index = join(ds.snapshotDir(snaps[kind].dir), 'root.pxar.didx')
      await rename(index, `${index}.away`)
      try {
        await expectVerifyFails(kind, `${kind} missing index`)
        await expectRestoreFails(kind, `${kind} missing index`)
      } finally {
        await rename(`${index}.away`, index)
      }
    }
    expect((await cli(['verify', '--store', storePath, '--keyfile', keyFile])).code).toBe(0)
  })

  it('garbage collection stops on a damaged index and names it', async () => {
    const index = join(ds.snapshotDir(snaps.plain.dir), 'root.pxar.didx')
    const undo = await flipBit(index, 4, 2)
    try {
      const err = await garbageCollect(ds).catch((e: unknown) => e)
      expect(err).toSatisfy(isPxarError)
      expect((err as Error).message).toContain(join('host', 'plain'))
      const r = await cli(['gc', '--store', storePath])
      expect(r.code).toBe(1)
      expect(r.stderr).toContain(join('host', 'plain'))
    } finally {
      await undo()
    }
  })

  it('a mounted snapshot with a damaged chunk answers EIO, never wrong bytes', async () => {
    for (const kind of ['plain', 'enc'] as const) {
      const files = await chunkFiles(kind)
      const undo = await flipBit(files[Math.floor(files.length / 2)]!, 200, 5)
      const src = await openSource({
        kind: 'datastore',
        store: ds,
        snapshot: snaps[kind].dir,
        archive: 'root.pxar',
        ...(kind === 'enc' ? { crypt } : {}),
      })
      let eio = 0
      let good = 0
      try {
        const fs = new PxarFilesystem(src.accessor)
        const walk = async (dir: string): Promise<void> => {
          const list = await fs.readdir(dir)
          if (typeof list === 'number') {
            expect(list).toBe(-ERRNO.EIO)
            eio++
            return
          }
          for (const e of list.slice(2)) {
            const name = Buffer.from(e.name).toString()
            const p = `${dir === '/' ? '' : dir}/${name}`
            if ((e.stat.mode & 0o170000) === 0o040000) {
              await walk(p)
              continue
            }
            const fd = await fs.open(p)
            if (fd < 0) {
              expect(fd).toBe(-ERRNO.EIO)
              eio++
              continue
            }
            const buf = new Uint8Array(e.stat.size)
            const n = await fs.read(fd, buf, 0)
            fs.release(fd)
            if (n < 0) {
              expect(n).toBe(-ERRNO.EIO)
              eio++
            } else {
              expect(Buffer.from(buf.subarray(0, n)).equals(await readFile(join(base, 'src', p))), p).toBe(
                true,
              )
              good++
            }
          }
        }
        await walk('/')
      } finally {
        await src.close()
        await undo()
      }
      expect(eio, kind).toBeGreaterThan(0)
      expect(good, kind).toBeGreaterThan(0)
    }
  })

  it('a chunk replaced by another valid chunk is caught by its digest (local and over the server)', async () => {
    const server = await startServer({
      datastore: ds,
      listen: '127.0.0.1:0',
      tokens: { 'root@pam!int': 'c0ffee00-1111-4222-8333-944445555666' },
      authFailureDelayMs: 0,
    })
    try {
      for (const kind of ['plain', 'enc'] as const) {
        const files = await chunkFiles(kind)
        const victim = files[1]!
        const saved = await readFile(victim)
        // a well-formed blob (right CRC) with someone else's content
        await writeFile(victim, await readFile(files[2]!))
        try {
          await expectVerifyFails(kind, `${kind} swapped chunk`)
          await expectRestoreFails(kind, `${kind} swapped chunk`)
          const client = new PbsClient({
            host: '127.0.0.1',
            port: server.port,
            authId: 'root@pam!int',
            password: 'c0ffee00-1111-4222-8333-944445555666',
            fingerprint: server.fingerprint,
          })
          const reader = await PbsReader.open(
            client,
            server.name,
            snaps[kind].dir,
            kind === 'enc' ? { crypt } : {},
          )
          try {
            const err = await (async () => {
              for await (const _ of reader.restore('root.pxar.didx')) {
                // drain
              }
            })().catch((e: unknown) => e)
            expect(err, `${kind} over the server`).toSatisfy(isPxarError)
            expect((err as { code: string }).code).toMatch(/^ERR_(CHUNK_DIGEST|BLOB_DECRYPT)$/)
          } finally {
            await reader.close()
          }
        } finally {
          await writeFile(victim, saved)
        }
      }
    } finally {
      await server.stop()
    }
  })
})
