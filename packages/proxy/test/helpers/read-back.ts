/** Reads a snapshot archive back with @pxar/datastore and @pxar/codec alone. */
import { decode } from '@pxar/codec'
import {
  type BackupDir,
  type CryptConfig,
  type Datastore,
  IndexReadAt,
  readDynamicIndexFile,
} from '@pxar/datastore'

export interface ReadEntry {
  path: string
  kind: string
  mode: number
  uid: number
  gid: number
  mtime: string
  data?: string
  link?: string
  xattrs?: string
}

export async function openArchive(
  ds: Datastore,
  snap: BackupDir,
  name: string,
  crypt?: CryptConfig,
): Promise<IndexReadAt> {
  const index = await readDynamicIndexFile(`${ds.snapshotDir(snap)}/${name}`)
  const m = await ds.readManifest(snap)
  const f = m.files.find((x) => x.filename === name)
  if (!f) throw new Error(`${name} not in manifest`)
  index.verifyCsum(Buffer.from(f.csum, 'hex'))
  return new IndexReadAt(index, { read: (d) => ds.chunkStore.read(d) }, crypt ? { crypt } : {})
}

export async function readArchive(
  ds: Datastore,
  snap: BackupDir,
  base: string,
  split: boolean,
  crypt?: CryptConfig,
): Promise<ReadEntry[]> {
  const meta = await openArchive(ds, snap, split ? `${base}.mpxar.didx` : `${base}.pxar.didx`, crypt)
  const payload = split ? await openArchive(ds, snap, `${base}.ppxar.didx`, crypt) : undefined
  const out: ReadEntry[] = []
  for await (const e of decode(meta.stream(), payload ? { payload } : {})) {
    if (e.kind === 'version' || e.kind === 'prelude') continue
    const r: ReadEntry = {
      path: e.pathString,
      kind: e.kind,
      mode: e.metadata.stat.mode,
      uid: e.metadata.stat.uid,
      gid: e.metadata.stat.gid,
      mtime: `${e.metadata.stat.mtime.secs}.${e.metadata.stat.mtime.nanos}`,
    }
    if (e.metadata.xattrs.length > 0)
      r.xattrs = e.metadata.xattrs.map((x) => `${Buffer.from(x.name)}=${Buffer.from(x.value)}`).join(',')
    if (e.content) {
      const parts: Uint8Array[] = []
      for await (const p of e.content) parts.push(p.slice())
      r.data = Buffer.concat(parts).toString('hex')
    }
    if (e.kind === 'symlink' && e.linkTarget) r.link = Buffer.from(e.linkTarget).toString()
    out.push(r)
  }
  return out
}
