/**
 * The REST subset under `/api2/json` (PBS `src/api2/admin/{datastore,namespace}.rs`,
 * `src/api2/version.rs`): what backup clients use to browse a datastore.
 */
import { readFile, statfs } from 'node:fs/promises'
import { join } from 'node:path'
import {
  type BackupDir,
  type BackupGroup,
  type BackupType,
  type Datastore,
  decodeBlob,
  MANIFEST_BLOB_NAME,
  parseManifest,
  type SnapshotInfo,
} from '@pxar/datastore'
import { isOwner } from './auth.ts'
import { BACKUP_TYPE, badRequest, HttpError, namespaceParam, type Params, SAFE_ID } from './http-util.ts'

/** One file of a snapshot listing. */
export interface SnapshotFileJson {
  filename: string
  'crypt-mode'?: string
  size?: number
}

/** The `files` listing of a snapshot, as PBS builds it. */
export async function snapshotFiles(
  ds: Datastore,
  info: SnapshotInfo,
): Promise<{
  files: SnapshotFileJson[]
  size: number | undefined
  fingerprint?: string
  comment?: string
  verification?: unknown
}> {
  const files: SnapshotFileJson[] = []
  let size: number | undefined
  let fingerprint: string | undefined
  let comment: string | undefined
  let verification: unknown
  const listed = new Set<string>()
  if (info.finished) {
    try {
      const blob = await readFile(join(info.path, MANIFEST_BLOB_NAME))
      const m = parseManifest(decodeBlob(blob))
      size = blob.length
      for (const f of m.files) {
        files.push({ filename: f.filename, 'crypt-mode': f.cryptMode, size: f.size })
        listed.add(f.filename)
        size += f.size
      }
      files.push({
        filename: MANIFEST_BLOB_NAME,
        'crypt-mode': m.signature ? 'sign-only' : 'none',
        size: blob.length,
      })
      listed.add(MANIFEST_BLOB_NAME)
      const fp = m.unprotected['key-fingerprint']
      if (typeof fp === 'string') fingerprint = fp
      const notes = m.unprotected.notes
      if (typeof notes === 'string') comment = notes.split('\n')[0]
      if (m.unprotected.verify_state !== undefined) verification = m.unprotected.verify_state
    } catch {
      // unreadable manifest: list the plain files only
    }
  }
  for (const name of info.files) if (!listed.has(name)) files.push({ filename: name })
  void ds
  return {
    files,
    size,
    ...(fingerprint === undefined ? {} : { fingerprint }),
    ...(comment === undefined ? {} : { comment }),
    ...(verification === undefined ? {} : { verification }),
  }
}

function snapshotParams(p: Params): BackupDir {
  return {
    ns: namespaceParam(p),
    type: p.string('backup-type', BACKUP_TYPE) as BackupType,
    id: p.string('backup-id', SAFE_ID),
    time: p.int('backup-time', 1),
  }
}

async function snapshotJson(ds: Datastore, g: BackupGroup, info: SnapshotInfo, owner: string | undefined) {
  const f = await snapshotFiles(ds, info)
  return {
    'backup-type': g.type,
    'backup-id': g.id,
    'backup-time': info.time,
    ...(f.comment === undefined ? {} : { comment: f.comment }),
    ...(f.verification === undefined ? {} : { verification: f.verification }),
    ...(f.fingerprint === undefined ? {} : { fingerprint: f.fingerprint }),
    files: f.files,
    ...(f.size === undefined ? {} : { size: f.size }),
    ...(owner === undefined ? {} : { owner }),
    protected: info.protected,
  }
}

/** What a REST handler gets. */
export interface RestContext {
  readonly ds: Datastore
  readonly store: string
  readonly authId: string
  readonly params: Params
  /** Raw request body (only for upload endpoints). */
  readonly body: () => Promise<Uint8Array>
}

/** Handlers of `/admin/datastore/{store}/…`, by `METHOD name`. */
export const DATASTORE_ROUTES: Record<string, (ctx: RestContext) => Promise<unknown>> = {
  'GET status': async ({ ds }) => {
    const st = await statfs(ds.base)
    const total = st.blocks * st.bsize
    const avail = st.bavail * st.bsize
    return { total, used: total - st.bfree * st.bsize, avail }
  },
  'GET namespace': async ({ ds, params }) => {
    const parent = namespaceParam(params, 'parent')
    const maxDepth = params.optInt('max-depth', 0, 7) ?? 7
    if (!(await ds.namespaceExists(parent))) throw new HttpError(404, 'namespace not found')
    const out: { ns: string }[] = []
    const walk = async (ns: string[], depth: number): Promise<void> => {
      out.push({ ns: ns.join('/') })
      if (depth >= maxDepth) return
      for (const child of await ds.listNamespaces(ns)) await walk(child, depth + 1)
    }
    await walk(parent, 0)
    return out
  },
  'POST namespace': async ({ ds, params }) => {
    const parent = namespaceParam(params, 'parent')
    const name = params.string('name', SAFE_ID)
    if (name.length > 32) throw badRequest('namespace name too long')
    if (parent.length >= 7) throw badRequest('namespace too deep')
    const ns = [...parent, name]
    if (await ds.namespaceExists(ns)) throw badRequest(`namespace '${ns.join('/')}' already exists`)
    await ds.createNamespace(ns)
    return ns.join('/')
  },
  'GET groups': async ({ ds, params }) => {
    const ns = namespaceParam(params)
    if (!(await ds.namespaceExists(ns))) throw new HttpError(404, 'namespace not found')
    const out = []
    for (const g of await ds.listGroups(ns)) {
      const snaps = await ds.listSnapshots(g)
      const last = snaps[snaps.length - 1]
      if (!last) continue
      const owner = await ds.getOwner(g)
      out.push({
        'backup-type': g.type,
        'backup-id': g.id,
        'last-backup': last.time,
        'backup-count': snaps.length,
        files: last.files,
        ...(owner === undefined ? {} : { owner }),
      })
    }
    return out
  },
  'GET snapshots': async ({ ds, params }) => {
    const ns = namespaceParam(params)
    if (!(await ds.namespaceExists(ns))) throw new HttpError(404, 'namespace not found')
    const type = params.optString('backup-type', BACKUP_TYPE)
    const id = params.optString('backup-id', SAFE_ID)
    const out = []
    for (const g of await ds.listGroups(ns)) {
      if ((type !== undefined && g.type !== type) || (id !== undefined && g.id !== id)) continue
      const owner = await ds.getOwner(g)
      for (const info of await ds.listSnapshots(g, { includeUnfinished: true })) {
        out.push(await snapshotJson(ds, g, info, owner))
      }
    }
    return out
  },
  'DELETE snapshots': async ({ ds, params, authId }) => {
    const s = snapshotParams(params)
    const owner = await ds.getOwner(s)
    if (owner !== undefined && !isOwner(authId, owner)) throw new HttpError(403, 'permission check failed')
    await ds.removeSnapshot(s)
    return null
  },
  'GET files': async ({ ds, params }) => {
    const info = await ds.snapshotInfo(snapshotParams(params))
    return (await snapshotFiles(ds, info)).files
  },
  'GET download': async ({ ds, params }) => {
    const info = await ds.snapshotInfo(snapshotParams(params))
    const name = params.string('file-name', SAFE_ID)
    try {
      return { raw: await readFile(join(info.path, name)) }
    } catch {
      throw new HttpError(404, `file '${name}' not found`)
    }
  },
  'POST upload-backup-log': async ({ ds, params, authId, body }) => {
    const s = snapshotParams(params)
    const owner = await ds.getOwner(s)
    if (owner === undefined || !isOwner(authId, owner)) throw new HttpError(403, 'permission check failed')
    await ds.writeClientLog(s, await body())
    return null
  },
}
