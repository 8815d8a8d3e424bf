/**
 * The real proxmox-backup-client datastore replayed through our engine: its archive is decoded
 * into an in-memory source and backed up again in legacy mode with the same backup time. The
 * result must be what the Proxmox client wrote: the same pxar stream, the same chunk index
 * (`root.pxar.didx` csum) and the same catalog (`catalog.pcat1.didx` csum), i.e. the catalog is
 * byte-exact as PBS writes it.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decode } from '@pxar/codec'
import { CATALOG_NAME, Datastore, IndexReadAt, readDynamicIndexFile } from '@pxar/datastore'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import { LocalStore, runBackup } from '../src/index.ts'
import { type MemNode, MemorySource } from './helpers/memory-source.ts'

const REAL = vectorsDir('pbs-real')
const SNAP = { ns: [], type: 'host', id: 'plain', time: 1_700_000_000 } as const

let base: string
let real: Datastore
let ds: Datastore

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'pxar-replay-'))
  real = await Datastore.open(join(REAL, 'datastore'))
  ds = await Datastore.create(join(base, 'ds'), { prefixDirs: 'lazy' })
})
afterAll(async () => {
  await rm(base, { recursive: true, force: true })
})

async function archiveReadAt(store: Datastore, name: string): Promise<IndexReadAt> {
  const idx = await readDynamicIndexFile(join(store.snapshotDir(SNAP), name))
  return new IndexReadAt(idx, { read: (d) => store.chunkStore.read(d) })
}

/** Decodes a v1 archive into a MemorySource tree (hardlinks share their target's node). */
async function treeOf(stream: AsyncIterable<Uint8Array>): Promise<MemNode> {
  let root: MemNode | undefined
  const byPath = new Map<string, MemNode>()
  const parentOf = (path: string): Extract<MemNode, { kind: 'directory' }> => {
    const p = byPath.get(path.slice(0, path.lastIndexOf('/')) || '/')
    if (p?.kind !== 'directory') throw new Error(`no parent directory for ${path}`)
    return p
  }
  let ino = 1
  for await (const e of decode(stream)) {
    const path = e.pathString
    const name = path.slice(path.lastIndexOf('/') + 1)
    let node: MemNode
    switch (e.kind) {
      case 'directory':
        node = { kind: 'directory', children: new Map(), meta: e.metadata }
        break
      case 'file': {
        const parts: Uint8Array[] = []
        for await (const p of e.content ?? []) parts.push(p.slice())
        node = { kind: 'file', data: Buffer.concat(parts), meta: e.metadata, ino: String(ino++), nlink: 1 }
        break
      }
      case 'hardlink': {
        const target = byPath.get(`/${Buffer.from(e.linkTarget ?? []).toString()}`)
        if (target?.kind !== 'file') throw new Error(`hardlink ${path} without target`)
        target.nlink = (target.nlink ?? 1) + 1
        node = target
        break
      }
      case 'symlink':
        node = { kind: 'symlink', target: Buffer.from(e.linkTarget ?? []).toString(), meta: e.metadata }
        break
      case 'fifo':
      case 'socket':
        node = { kind: e.kind, meta: e.metadata }
        break
      case 'char_device':
      case 'block_device':
        node = {
          kind: e.kind === 'char_device' ? 'char-device' : 'block-device',
          major: Number(e.device?.major ?? 0),
          minor: Number(e.device?.minor ?? 0),
          meta: e.metadata,
        }
        break
      default:
        continue
    }
    if (path === '/') root = node
    else parentOf(path).children.set(name, node)
    byPath.set(path, node)
  }
  if (!root) throw new Error('archive has no root')
  return root
}

describe('replaying the real-client snapshot through runBackup (legacy mode)', () => {
  it('reproduces the pxar stream, the chunk index and the catalog byte for byte', async () => {
    const orig = await archiveReadAt(real, 'root.pxar.didx')
    const root = await treeOf(orig.stream())
    const r = await runBackup(new MemorySource(root), {
      store: new LocalStore(ds),
      backupId: SNAP.id,
      backupTime: SNAP.time,
      workers: 0,
    })
    expect(r.archives).toEqual(['root.pxar.didx', CATALOG_NAME])
    const ours = await ds.readManifest(SNAP)
    const theirs = await real.readManifest(SNAP)
    // Same pxar stream: the SHA-256 the Rust reader computed over the original archive.
    const h = createHash('sha256')
    for await (const p of (await archiveReadAt(ds, 'root.pxar.didx')).stream()) h.update(p)
    const want = readFileSync(
      join(REAL, 'expected', 'host_plain_2023-11-14T22_13_20Z.root.pxar.sha256'),
      'utf8',
    ).trim()
    expect(h.digest('hex')).toBe(want.split(/\s/)[0])
    // Same chunks and the same catalog: index checksums and sizes equal the Proxmox client's.
    const pick = (m: typeof ours) =>
      Object.fromEntries(m.files.map((f) => [f.filename, { csum: f.csum, size: f.size, mode: f.cryptMode }]))
    expect(pick(ours)).toEqual(pick(theirs))
    const cat = async (store: Datastore): Promise<Buffer> => {
      const parts: Uint8Array[] = []
      for await (const p of (await archiveReadAt(store, CATALOG_NAME)).stream()) parts.push(p.slice())
      return Buffer.concat(parts)
    }
    expect((await cat(ds)).equals(await cat(real))).toBe(true)
  })
})
