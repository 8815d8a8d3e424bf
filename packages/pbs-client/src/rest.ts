/** REST helpers: namespaces, groups, snapshots and their files (`/admin/datastore/{store}/…`). */
import type { PbsClient } from './client.ts'

/** A group as listed by the server. */
export interface GroupListItem {
  readonly 'backup-type': 'vm' | 'ct' | 'host'
  readonly 'backup-id': string
  readonly 'last-backup': number
  readonly 'backup-count': number
  readonly files: readonly string[]
  readonly owner?: string
  readonly comment?: string
}

/** One file of a snapshot listing. */
export interface SnapshotFileItem {
  readonly filename: string
  readonly 'crypt-mode'?: 'none' | 'encrypt' | 'sign-only'
  readonly size?: number
}

/** A snapshot as listed by the server. */
export interface SnapshotListItem {
  readonly 'backup-type': 'vm' | 'ct' | 'host'
  readonly 'backup-id': string
  readonly 'backup-time': number
  readonly files: readonly SnapshotFileItem[]
  readonly size?: number
  readonly owner?: string
  readonly fingerprint?: string
  readonly comment?: string
  readonly protected?: boolean
}

const nsParam = (ns: readonly string[] | undefined): { ns?: string } =>
  ns && ns.length > 0 ? { ns: ns.join('/') } : {}

/** `GET /version`. */
export async function getVersion(
  client: PbsClient,
): Promise<{ version: string; release: string; repoid: string }> {
  return (await client.get('/version')) as { version: string; release: string; repoid: string }
}

/** `GET /admin/datastore/{store}/namespace`: namespaces below (and including) `parent`. */
export async function listNamespaces(
  client: PbsClient,
  store: string,
  options: { parent?: readonly string[]; maxDepth?: number } = {},
): Promise<string[][]> {
  const list = (await client.get(`/admin/datastore/${encodeURIComponent(store)}/namespace`, {
    ...(options.parent && options.parent.length > 0 ? { parent: options.parent.join('/') } : {}),
    ...(options.maxDepth === undefined ? {} : { 'max-depth': options.maxDepth }),
  })) as { ns: string }[]
  return list.map((x) => (x.ns === '' ? [] : x.ns.split('/')))
}

/** `POST /admin/datastore/{store}/namespace`: creates `parent/name`. */
export async function createNamespace(
  client: PbsClient,
  store: string,
  ns: readonly string[],
): Promise<void> {
  if (ns.length === 0) throw new RangeError('cannot create the root namespace')
  await client.request('POST', `/admin/datastore/${encodeURIComponent(store)}/namespace`, {
    name: ns[ns.length - 1]!,
    ...(ns.length > 1 ? { parent: ns.slice(0, -1).join('/') } : {}),
  })
}

/** `GET /admin/datastore/{store}/groups`. */
export async function listGroups(
  client: PbsClient,
  store: string,
  options: { ns?: readonly string[] } = {},
): Promise<GroupListItem[]> {
  return (await client.get(
    `/admin/datastore/${encodeURIComponent(store)}/groups`,
    nsParam(options.ns),
  )) as GroupListItem[]
}

/** `GET /admin/datastore/{store}/snapshots`, sorted by backup time. */
export async function listSnapshots(
  client: PbsClient,
  store: string,
  options: { ns?: readonly string[]; type?: string; id?: string } = {},
): Promise<SnapshotListItem[]> {
  const list = (await client.get(`/admin/datastore/${encodeURIComponent(store)}/snapshots`, {
    ...nsParam(options.ns),
    ...(options.type ? { 'backup-type': options.type } : {}),
    ...(options.id ? { 'backup-id': options.id } : {}),
  })) as SnapshotListItem[]
  return list.sort((a, b) => a['backup-time'] - b['backup-time'])
}

/** `GET /admin/datastore/{store}/files`: the files of one snapshot. */
export async function listSnapshotFiles(
  client: PbsClient,
  store: string,
  snapshot: { ns?: readonly string[]; type: string; id: string; time: number },
): Promise<SnapshotFileItem[]> {
  return (await client.get(`/admin/datastore/${encodeURIComponent(store)}/files`, {
    ...nsParam(snapshot.ns),
    'backup-type': snapshot.type,
    'backup-id': snapshot.id,
    'backup-time': snapshot.time,
  })) as SnapshotFileItem[]
}

/** Snapshot selection parameters of the REST API. */
function snapshotQuery(snapshot: { ns?: readonly string[]; type: string; id: string; time: number }) {
  return {
    ...nsParam(snapshot.ns),
    'backup-type': snapshot.type,
    'backup-id': snapshot.id,
    'backup-time': snapshot.time,
  }
}

/**
 * `POST /admin/datastore/{store}/upload-backup-log`: stores the client log (an encoded DataBlob)
 * of a finished snapshot; owner only, once.
 */
export async function uploadBackupLog(
  client: PbsClient,
  store: string,
  snapshot: { ns?: readonly string[]; type: string; id: string; time: number },
  blob: Uint8Array,
): Promise<void> {
  await client.upload(
    'POST',
    `/admin/datastore/${encodeURIComponent(store)}/upload-backup-log`,
    snapshotQuery(snapshot),
    blob,
  )
}

/** `DELETE /admin/datastore/{store}/snapshots`: removes one snapshot (not a protected one). */
export async function deleteSnapshot(
  client: PbsClient,
  store: string,
  snapshot: { ns?: readonly string[]; type: string; id: string; time: number },
): Promise<void> {
  await client.request(
    'DELETE',
    `/admin/datastore/${encodeURIComponent(store)}/snapshots`,
    snapshotQuery(snapshot),
  )
}
