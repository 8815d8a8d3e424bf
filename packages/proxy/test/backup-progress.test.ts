import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Datastore, DynamicIndex } from '@pxar/datastore'
import { EMPTY_ACL, fileMetadata, type Metadata } from '@pxar/format'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  type BackupProgress,
  type BackupSession,
  LocalStore,
  metadataEqual,
  planReuse,
  type RemoteStore,
  runBackup,
} from '../src/index.ts'
import { dir, file, type MemNode, MemorySource } from './helpers/memory-source.ts'
import { readArchive } from './helpers/read-back.ts'
import { rand } from './helpers/tree.ts'

let base: string
let ds: Datastore
let store: LocalStore
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'pxar-progress-'))
  ds = await Datastore.create(join(base, 'ds'), { prefixDirs: 'lazy' })
  store = new LocalStore(ds)
})
afterEach(async () => {
  await rm(base, { recursive: true, force: true })
})

function tree(): MemNode {
  const shared: MemNode = { kind: 'file', data: rand(1000, 3), ino: '99', nlink: 2 }
  return dir({
    'big.bin': file(rand(400_000, 1)),
    'hl-a': shared,
    'hl-b': shared,
    sub: dir(
      Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`f${i}`, file(rand(2000 + i * 300, i + 7))])),
    ),
    link: { kind: 'symlink', target: 'big.bin' },
  })
}

const FILE_BYTES =
  400_000 + 1000 + Array.from({ length: 30 }, (_, i) => 2000 + i * 300).reduce((a, b) => a + b)

/** A store whose sessions record what the engine asks of the previous snapshot. */
function recording(inner: RemoteStore, log: { downloads: string[]; chunkReads: string[] }): RemoteStore {
  return {
    async beginBackup(options) {
      const s = await inner.beginBackup(options)
      const wrapped: BackupSession = {
        snapshot: s.snapshot,
        previousBackupTime: () => s.previousBackupTime(),
        downloadPrevious: (name) => {
          log.downloads.push(name)
          return s.downloadPrevious(name)
        },
        readChunk: (d) => {
          log.chunkReads.push(Buffer.from(d).toString('hex'))
          return s.readChunk(d)
        },
        ...(s.hasChunk
          ? { hasChunk: (d: Uint8Array) => (s.hasChunk as (d: Uint8Array) => Promise<boolean>)(d) }
          : {}),
        createDynamicIndex: (n) => s.createDynamicIndex(n),
        createFixedIndex: (n, size, cs) => s.createFixedIndex(n, size, cs),
        uploadBlob: (n, b) => s.uploadBlob(n, b),
        finish: () => s.finish(),
        abort: () => s.abort(),
      }
      return wrapped
    },
  }
}

describe('progress and result', () => {
  it('progress counters only grow and end at the result; metadata mode reads the previous .mpxar by chunks', async () => {
    const opts = { backupId: 'p', avgChunkSize: 64 * 1024, workers: 0 } as const
    const events: BackupProgress[] = []
    const first = await runBackup(new MemorySource(tree()), {
      store,
      ...opts,
      mode: 'data',
      backupTime: 1_700_000_000,
      onProgress: (p) => events.push({ ...p }),
    })
    expect(first).toMatchObject({
      snapshot: 'host/p/2023-11-14T22:13:20Z',
      archives: ['root.mpxar.didx', 'root.ppxar.didx'],
      files: 33,
      dirs: 2,
      bytes: FILE_BYTES,
      bytesRead: FILE_BYTES,
      reusedBytes: 0,
      skipped: 0,
    })
    // 30 files in sub/, big.bin, two hardlinks, the symlink and sub/ itself (the root is not counted)
    expect(first.entries).toBe(35)
    expect(first.uploadedBytes).toBeGreaterThan(0)
    expect(first.durationMs).toBeGreaterThanOrEqual(0)
    expect(events.length).toBeGreaterThan(5)
    for (let i = 1; i < events.length; i++) {
      const a = events[i - 1] as BackupProgress
      const b = events[i] as BackupProgress
      for (const k of ['entries', 'bytesRead', 'bytesUploaded', 'bytesReused'] as const)
        expect(b[k]).toBeGreaterThanOrEqual(a[k])
    }
    expect(events.at(-1)).toEqual({
      entries: first.entries,
      bytesRead: first.bytesRead,
      bytesUploaded: first.uploadedBytes,
      bytesReused: 0,
    })

    // Unchanged second run in metadata mode: nothing is read, everything is reused.
    const log = { downloads: [] as string[], chunkReads: [] as string[] }
    const last: BackupProgress[] = []
    const second = await runBackup(new MemorySource(tree()), {
      store: recording(store, log),
      ...opts,
      mode: 'metadata',
      backupTime: 1_700_000_100,
      onProgress: (p) => last.push({ ...p }),
    })
    expect(second).toMatchObject({ files: 33, bytes: FILE_BYTES, bytesRead: 0, reusedBytes: FILE_BYTES })
    expect(last.at(-1)).toMatchObject({
      bytesRead: 0,
      bytesReused: FILE_BYTES,
      bytesUploaded: second.uploadedBytes,
    })
    // Only the manifest and the indexes are downloaded; the previous metadata archive is read
    // chunk by chunk through the accessor (each of its chunks a bounded number of times).
    expect(new Set(log.downloads)).toEqual(new Set(['index.json.blob', 'root.mpxar.didx', 'root.ppxar.didx']))
    const prevMeta = DynamicIndex.parse(
      new Uint8Array(
        await readFile(
          join(ds.snapshotDir({ ns: [], type: 'host', id: 'p', time: 1_700_000_000 }), 'root.mpxar.didx'),
        ),
      ),
    )
    const metaChunks = new Set(
      Array.from({ length: prevMeta.count }, (_, i) => Buffer.from(prevMeta.digest(i)).toString('hex')),
    )
    expect(log.chunkReads.length).toBeGreaterThan(0)
    expect(log.chunkReads.every((d) => metaChunks.has(d))).toBe(true)
    expect(log.chunkReads.length).toBeLessThanOrEqual(2 * prevMeta.count)
  })
})

describe('metadata mode with many small files', () => {
  it('runs cut to bound memory share their edge chunks: every unchanged file is still reused', async () => {
    const small = (): MemNode =>
      dir(
        Object.fromEntries(
          Array.from({ length: 3 }, (_, d) => [
            `d${d}`,
            dir(
              Object.fromEntries(
                Array.from({ length: 1000 }, (_, i) => [
                  `f${i}.txt`,
                  file(`file ${d}/${i}\n`.repeat(1 + (i % 7))),
                ]),
              ),
            ),
          ]),
        ),
      )
    const opts = {
      store,
      backupId: 'small',
      avgChunkSize: 64 * 1024,
      workers: 0,
      maxReuseRunFiles: 100,
    } as const
    const first = await runBackup(new MemorySource(small()), {
      ...opts,
      mode: 'data',
      backupTime: 1_700_000_000,
    })
    const src = new MemorySource(small())
    const second = await runBackup(src, { ...opts, mode: 'metadata', backupTime: 1_700_000_100 })
    expect(second.files).toBe(3000)
    expect(src.reads.size).toBe(0)
    expect(second.reusedBytes).toBe(first.bytes)
    const snap = (time: number) => ({ ns: [], type: 'host', id: 'small', time }) as const
    // runs continue inside the chunk they share: no chunk is injected twice
    const payload = async (time: number) =>
      (await ds.readManifest(snap(time))).files.find((f) => f.filename === 'root.ppxar.didx')
    const [p1, p2] = [await payload(1_700_000_000), await payload(1_700_000_100)]
    // all old chunks once, plus the new archive's own start and tail markers (16 bytes each)
    expect(p2?.size).toBe((p1?.size ?? 0) + 32)
    expect(await readArchive(ds, snap(1_700_000_100), 'root', true)).toEqual(
      await readArchive(ds, snap(1_700_000_000), 'root', true),
    )
    await expect(
      runBackup(new MemorySource(small()), { ...opts, maxReuseRunFiles: 0, backupTime: 1_700_000_200 }),
    ).rejects.toThrow(RangeError)
  })
})

describe('planReuse (metadata mode: reuse whole chunks, re-encode when the padding is too high)', () => {
  // previous payload chunks: [0,100) [100,200) [200,300) [300,400)
  const idx = { start: (i: number) => i * 100, end: (i: number) => (i + 1) * 100 }
  const f = (start: number, end: number) => ({
    start,
    end,
    firstChunk: Math.floor(start / 100),
    lastChunk: Math.floor((end - 1) / 100),
  })

  it('reuses a run that fills its chunks', () => {
    expect(planReuse([f(0, 100), f(100, 250), f(250, 400)], idx, 0.1)).toEqual([
      { firstFile: 0, lastFile: 2, firstChunk: 0, lastChunk: 3 },
    ])
  })

  it('accepts padding up to the limit and trims the edge files beyond it', () => {
    const files = [f(10, 20), f(20, 380)]
    // 30 of 400 bytes are padding: fine at 10 %, too much at 5 % (and nothing lies wholly inside)
    expect(planReuse(files, idx, 0.1)).toEqual([{ firstFile: 0, lastFile: 1, firstChunk: 0, lastChunk: 3 }])
    expect(planReuse(files, idx, 0.05)).toEqual([])
  })

  it('keeps the files of the inner chunks when the edge chunks carry the waste', () => {
    const files = [f(90, 100), f(100, 200), f(200, 300), f(300, 310)]
    expect(planReuse(files, idx, 0.1)).toEqual([{ firstFile: 1, lastFile: 2, firstChunk: 1, lastChunk: 2 }])
  })

  it('does not count the bytes of a chunk shared with a neighbouring run as padding', () => {
    // a run cut in the middle of chunk 1 (by the memory bounds): [0,150) here, [150, ...) next
    const head = [f(0, 100), f(100, 150)]
    expect(planReuse(head, idx, 0.1)).toEqual([])
    expect(planReuse(head, idx, 0.1, { freeTail: true })).toEqual([
      { firstFile: 0, lastFile: 1, firstChunk: 0, lastChunk: 1 },
    ])
    const tail = [f(150, 200), f(200, 300)]
    expect(planReuse(tail, idx, 0.1)).toEqual([])
    expect(planReuse(tail, idx, 0.1, { freeHead: true })).toEqual([
      { firstFile: 0, lastFile: 1, firstChunk: 1, lastChunk: 2 },
    ])
  })

  it('plans each gap-separated group on its own', () => {
    expect(planReuse([f(0, 100), f(200, 300), f(300, 400)], idx, 0.1)).toEqual([
      { firstFile: 0, lastFile: 0, firstChunk: 0, lastChunk: 0 },
      { firstFile: 1, lastFile: 2, firstChunk: 2, lastChunk: 3 },
    ])
    // a gap inside what would be one group: [150, 400) wastes 50 of 300 bytes, and trimming its
    // edge files leaves nothing, so those files are re-encoded
    expect(planReuse([f(0, 100), f(150, 300), f(300, 400)], idx, 0.1)).toEqual([
      { firstFile: 0, lastFile: 0, firstChunk: 0, lastChunk: 0 },
    ])
  })
})

describe('metadataEqual (what decides reuse)', () => {
  const base = fileMetadata(0o644).owner(1, 2).mtime(1_700_000_000, 5).xattr('user.a', 'b').build()
  const withAcl = (acl: Partial<Metadata['acl']>): Metadata => ({ ...base, acl: { ...EMPTY_ACL, ...acl } })

  it('compares stat, xattrs, fcaps and ACLs field by field', () => {
    expect(metadataEqual(base, { ...base })).toBe(true)
    expect(
      metadataEqual(
        base,
        fileMetadata(0o644).owner(1, 2).mtime(1_700_000_000, 6).xattr('user.a', 'b').build(),
      ),
    ).toBe(false)
    expect(metadataEqual(base, { ...base, fcaps: Uint8Array.of(1) })).toBe(false)
    const a = withAcl({ users: [{ uid: 1000, permissions: 6 }], groupObj: { permissions: 4 } })
    // the same values as numbers or bigints are equal
    expect(
      metadataEqual(a, withAcl({ users: [{ uid: 1000n, permissions: 6n }], groupObj: { permissions: 4n } })),
    ).toBe(true)
    expect(
      metadataEqual(a, withAcl({ users: [{ uid: 1000, permissions: 7 }], groupObj: { permissions: 4 } })),
    ).toBe(false)
    expect(metadataEqual(a, withAcl({ users: [{ uid: 1000, permissions: 6 }] }))).toBe(false)
    const d = { userObjPermissions: 7, groupObjPermissions: 5, otherPermissions: 0, maskPermissions: 7 }
    expect(metadataEqual(withAcl({ default: d }), withAcl({ default: { ...d } }))).toBe(true)
    expect(metadataEqual(withAcl({ default: d }), withAcl({ default: { ...d, otherPermissions: 1 } }))).toBe(
      false,
    )
    expect(metadataEqual(withAcl({ default: d }), base)).toBe(false)
    expect(metadataEqual(withAcl({ defaultGroups: [{ gid: 5, permissions: 1 }] }), base)).toBe(false)
  })
})
