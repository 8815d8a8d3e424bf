/**
 * Snapshot operations on a remote repository (a Proxmox Backup Server or `pxar-cli serve`):
 * listings and deletions over REST, manifests, catalogs and archives over the reader protocol.
 */
import {
  type BackupDir,
  type BackupGroup,
  type BackupManifest,
  type BackupType,
  type CryptConfig,
  computePruneInfo,
  type KeepOptions,
  MANIFEST_BLOB_NAME,
  type PruneMark,
} from '@pxar/datastore'
import { deleteSnapshot, listGroups, listSnapshots, PbsReader, type SnapshotListItem } from '@pxar/pbs-client'
import { CliError } from './errors.ts'
import type { RemoteRepository } from './repository.ts'
import { type SnapshotSpec, snapshotName } from './store.ts'

/** A snapshot as the server lists it. */
export interface RemoteSnapshot {
  readonly dir: BackupDir
  /** File names, sorted (manifest included when finished). */
  readonly files: readonly string[]
  readonly size: number | undefined
  readonly protected: boolean
  readonly finished: boolean
}

function toSnapshot(ns: readonly string[], s: SnapshotListItem): RemoteSnapshot {
  const files = s.files.map((f) => f.filename).sort()
  // the archives' sizes as the manifest lists them (the manifest blob itself not counted)
  const archives = s.files.filter((f) => f.filename !== MANIFEST_BLOB_NAME)
  const size = archives.every((f) => f.size !== undefined)
    ? archives.reduce((a, f) => a + (f.size ?? 0), 0)
    : undefined
  return {
    dir: { ns, type: s['backup-type'] as BackupType, id: s['backup-id'], time: s['backup-time'] },
    files,
    size,
    protected: s.protected === true,
    finished: files.includes(MANIFEST_BLOB_NAME),
  }
}

/** Snapshots of a namespace (optionally of one group), oldest first per group. */
export async function remoteSnapshots(
  repo: RemoteRepository,
  ns: readonly string[],
  group?: BackupGroup,
): Promise<RemoteSnapshot[]> {
  const list = await listSnapshots(repo.client, repo.store, {
    ns,
    ...(group ? { type: group.type, id: group.id } : {}),
  })
  return list
    .map((s) => toSnapshot(ns, s))
    .sort((a, b) =>
      a.dir.type !== b.dir.type
        ? a.dir.type.localeCompare(b.dir.type)
        : a.dir.id !== b.dir.id
          ? a.dir.id.localeCompare(b.dir.id)
          : a.dir.time - b.dir.time,
    )
}

/** Groups of a namespace. */
export async function remoteGroups(repo: RemoteRepository, ns: readonly string[]): Promise<BackupGroup[]> {
  return (await listGroups(repo.client, repo.store, { ns })).map((g) => ({
    ns,
    type: g['backup-type'],
    id: g['backup-id'],
  }))
}

/** Resolves a snapshot argument on the server (a group means its newest finished snapshot). */
export async function resolveRemoteSnapshot(repo: RemoteRepository, spec: SnapshotSpec): Promise<BackupDir> {
  if ('dir' in spec) return spec.dir
  const list = (await remoteSnapshots(repo, spec.group.ns, spec.group)).filter((s) => s.finished)
  const last = list[list.length - 1]
  if (!last) {
    throw new CliError(
      'ERR_SNAPSHOT_NOT_FOUND',
      `group ${spec.group.type}/${spec.group.id} has no snapshots in ${repo.label}`,
      { hint: 'list the available snapshots with `pxar-cli snapshots --repository …`' },
    )
  }
  return last.dir
}

/** Opens a reader session on a snapshot (with the key for encrypted or signed backups). */
export function openRemoteReader(
  repo: RemoteRepository,
  dir: BackupDir,
  crypt?: CryptConfig,
): Promise<PbsReader> {
  return PbsReader.open(repo.client, repo.store, dir, crypt ? { crypt } : {})
}

/** The manifest of a snapshot (signature checked when a key is given). */
export async function remoteManifest(
  repo: RemoteRepository,
  dir: BackupDir,
  crypt?: CryptConfig,
): Promise<BackupManifest> {
  const reader = await openRemoteReader(repo, dir, crypt)
  try {
    return await reader.manifest()
  } finally {
    await reader.close()
  }
}

/** Removes one snapshot. */
export async function forgetRemote(repo: RemoteRepository, dir: BackupDir): Promise<void> {
  await deleteSnapshot(repo.client, repo.store, dir)
}

/**
 * Prunes a group: the marks are computed as PBS does from the server's listing, and the
 * snapshots marked `remove` are deleted one by one (unless `dryRun`).
 */
export async function pruneRemote(
  repo: RemoteRepository,
  group: BackupGroup,
  keep: KeepOptions,
  options: { dryRun?: boolean } = {},
): Promise<{ snapshot: RemoteSnapshot; mark: PruneMark }[]> {
  const list = await remoteSnapshots(repo, group.ns, group)
  const marks = computePruneInfo(
    list.map((s) => ({ ...s, time: s.dir.time })),
    keep,
  )
  if (!options.dryRun) {
    for (const m of marks) if (m.mark === 'remove') await forgetRemote(repo, m.snapshot.dir)
  }
  return marks.sort((a, b) => b.snapshot.dir.time - a.snapshot.dir.time)
}

/** `TYPE/ID/TIME` of a remote snapshot. */
export function remoteSnapshotName(s: RemoteSnapshot): string {
  return snapshotName(s.dir)
}
