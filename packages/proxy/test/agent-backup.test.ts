/**
 * The agent path (HTTP/2 over TLS on 127.0.0.1, pinned fingerprint, token) gives the same
 * snapshot as the local path: same index checksums and sizes, same catalog, same decoded
 * entries, in every detection mode, including a metadata-mode run after a change.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type BackupManifest, Datastore } from '@pxar/datastore'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type Agent,
  type BackupResult,
  connectAgent,
  type DetectionMode,
  type FileSystemSource,
  LocalClient,
  LocalStore,
  restoreSnapshot,
  runBackup,
  startAgent,
} from '../src/index.ts'
import { readArchive } from './helpers/read-back.ts'
import { diffTrees, makeTree, rand, snapshotTree } from './helpers/tree.ts'

let base: string
let src: string
let ds: Datastore
let store: LocalStore
let agent: Agent
const token = randomBytes(24).toString('hex')

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'pxar-agent-backup-'))
  src = join(base, 'src')
  await mkdir(src)
  makeTree(src)
  ds = await Datastore.create(join(base, 'ds'), { prefixDirs: 'lazy' })
  store = new LocalStore(ds)
  agent = await startAgent({
    roots: { data: src },
    token,
    certDir: join(base, 'cert'),
    listen: { host: '127.0.0.1', port: 0 },
  })
})
afterAll(async () => {
  await agent?.close()
  await rm(base, { recursive: true, force: true })
})

const opts = { avgChunkSize: 64 * 1024, workers: 0 } as const

async function backup(
  via: 'local' | 'agent',
  mode: DetectionMode,
  time: number,
): Promise<{ result: BackupResult; manifest: BackupManifest }> {
  const source: FileSystemSource =
    via === 'local'
      ? new LocalClient(src)
      : await connectAgent({ url: agent.url, token, fingerprint: agent.fingerprint, root: 'data' })
  try {
    const result = await runBackup(source, {
      store,
      backupId: `${via}-${mode}`,
      mode,
      backupTime: time,
      ...opts,
    })
    const manifest = await ds.readManifest({ ns: [], type: 'host', id: `${via}-${mode}`, time })
    return { result, manifest }
  } finally {
    await source.close()
  }
}

const files = (m: BackupManifest) =>
  m.files.map((f) => ({ filename: f.filename, csum: f.csum, size: f.size, cryptMode: f.cryptMode }))

const counts = (r: BackupResult) => ({
  archives: r.archives,
  files: r.files,
  dirs: r.dirs,
  entries: r.entries,
  bytes: r.bytes,
  bytesRead: r.bytesRead,
  reusedBytes: r.reusedBytes,
  skipped: r.skipped,
})

describe('agent over TLS vs local', () => {
  it.each(['legacy', 'data'] as const)('%s mode: the same snapshot either way', async (mode) => {
    const t = 1_700_000_000
    const local = await backup('local', mode, t)
    const remote = await backup('agent', mode, t)
    expect(agent.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    expect(files(remote.manifest)).toEqual(files(local.manifest))
    expect(counts(remote.result)).toEqual(counts(local.result))
    const split = mode !== 'legacy'
    const a = await readArchive(ds, { ns: [], type: 'host', id: `local-${mode}`, time: t }, 'root', split)
    const b = await readArchive(ds, { ns: [], type: 'host', id: `agent-${mode}`, time: t }, 'root', split)
    expect(b).toEqual(a)
    expect(a.length).toBeGreaterThan(50)
  })

  it('metadata mode after a change: the same snapshot and the same reuse either way', async () => {
    await backup('local', 'metadata', 1_700_000_100)
    await backup('agent', 'metadata', 1_700_000_100)
    await writeFile(join(src, 'many', 'f5'), rand(7777, 5))
    const local = await backup('local', 'metadata', 1_700_000_200)
    const remote = await backup('agent', 'metadata', 1_700_000_200)
    expect(local.result.reusedBytes).toBeGreaterThan(0)
    expect(counts(remote.result)).toEqual(counts(local.result))
    expect(files(remote.manifest)).toEqual(files(local.manifest))
    const target = join(base, 'restored')
    await restoreSnapshot(
      ds,
      { ns: [], type: 'host', id: 'agent-metadata', time: 1_700_000_200 },
      'root.mpxar.didx',
      target,
    )
    expect(
      diffTrees(snapshotTree(src, { hardlinkGroups: true }), snapshotTree(target, { hardlinkGroups: true })),
    ).toEqual([])
  })
})
