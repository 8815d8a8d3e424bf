import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Datastore } from '@pxar/datastore'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type BackupSession, LocalStore, type RemoteStore, runBackup } from '../src/index.ts'
import { dir, file, MemorySource } from './helpers/memory-source.ts'

let base: string
let store: LocalStore

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'pxar-proxy-prev-'))
  store = new LocalStore(await Datastore.create(join(base, 'ds'), { prefixDirs: 'lazy' }))
})
afterEach(async () => {
  await rm(base, { recursive: true, force: true })
})

/**
 * A store that behaves like a PBS server towards the client: no existence probe, so only the
 * chunks registered through `downloadPrevious` may be skipped. Counts the uploads per archive.
 */
function pbsLike(inner: RemoteStore, uploads: string[]): RemoteStore {
  return {
    beginBackup: async (o) => {
      const s = await inner.beginBackup(o)
      const session: BackupSession = {
        snapshot: s.snapshot,
        previousBackupTime: () => s.previousBackupTime(),
        downloadPrevious: (n) => s.downloadPrevious(n),
        readChunk: (d) => s.readChunk(d),
        createDynamicIndex: async (n) => {
          const u = await s.createDynamicIndex(n)
          return {
            uploadChunk: (d, size, blob) => {
              uploads.push(n)
              return u.uploadChunk(d, size, blob)
            },
            append: (d, o) => u.append(d, o),
            close: (x) => u.close(x),
          }
        },
        createFixedIndex: (n, size, c) => s.createFixedIndex(n, size, c),
        uploadBlob: (n, b) => s.uploadBlob(n, b),
        finish: () => s.finish(),
        abort: () => s.abort(),
      }
      return session
    },
  }
}

describe('previous snapshot chunks', () => {
  it('an unchanged legacy backup uploads no chunk, the catalog included (its previous index is registered)', async () => {
    const tree = dir({ 'a.txt': file('hello\n'), sub: dir({ 'b.txt': file('world\n') }) })
    const uploads: string[] = []
    const target = pbsLike(store, uploads)
    await runBackup(new MemorySource(tree), {
      store: target,
      backupId: 'x',
      backupTime: 1_700_000_000,
      workers: 0,
    })
    expect(uploads.sort()).toEqual(['catalog.pcat1.didx', 'root.pxar.didx'])
    uploads.length = 0
    await runBackup(new MemorySource(tree), {
      store: target,
      backupId: 'x',
      backupTime: 1_700_000_100,
      workers: 0,
    })
    expect(uploads).toEqual([])
  })
})
