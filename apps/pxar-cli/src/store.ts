/**
 * The local datastore the snapshot commands work on, and snapshot/group names on the command line.
 */
import { existsSync } from 'node:fs'
import {
  BACKUP_TYPES,
  type BackupDir,
  type BackupGroup,
  type BackupType,
  Datastore,
  formatBackupTime,
  parseBackupTime,
  parseNamespace,
} from '@pxar/datastore'
import { Option } from 'commander'
import { CliError, usageError } from './errors.ts'
import { defaultStorePath, userPath } from './paths.ts'

/** `--store DIR` (env `PXAR_STORE`; default the user's data dir). */
export function storeOption(): Option {
  return new Option(
    '--store <dir>',
    'local datastore directory (default: ~/.local/share/pxar/datastore)',
  ).env('PXAR_STORE')
}

/** `--ns NAMESPACE`. */
export function nsOption(): Option {
  return new Option('--ns <namespace>', 'namespace (a/b/c; default: the root namespace)')
}

/** The datastore path from the options. */
export function storePath(opts: { store?: string }): string {
  return opts.store !== undefined ? userPath(opts.store) : defaultStorePath()
}

/** Opens the local datastore; a clear error when there is none. */
export async function openStore(opts: { store?: string }): Promise<Datastore> {
  const path = storePath(opts)
  if (!existsSync(path)) {
    throw new CliError('ERR_STORE_NOT_FOUND', `no datastore at ${path}`, {
      hint: 'run a backup first (it creates the store) or pass --store DIR',
    })
  }
  try {
    return await Datastore.open(path)
  } catch (cause) {
    throw new CliError('ERR_STORE_LAYOUT', `${path} is not a datastore (no .chunks directory)`, {
      hint: 'pass --store DIR pointing at a datastore',
      cause,
    })
  }
}

/** Parses `--ns`. */
export function parseNs(text: string | undefined): string[] {
  if (text === undefined || text === '' || text === '/') return []
  try {
    return parseNamespace(text.replace(/^\/+|\/+$/g, ''))
  } catch {
    throw usageError(`invalid namespace '${text}'`, 'components are letters, digits, _ . -, joined by /')
  }
}

function parseType(t: string, text: string): BackupType {
  if (!(BACKUP_TYPES as readonly string[]).includes(t)) {
    throw usageError(
      `invalid backup type '${t}' in '${text}'`,
      `the type is one of ${BACKUP_TYPES.join(', ')}`,
    )
  }
  return t as BackupType
}

/** Parses `TYPE/ID`. */
export function parseGroup(text: string, ns: readonly string[]): BackupGroup {
  const parts = text.split('/')
  if (parts.length !== 2 || !parts[1])
    throw usageError(`invalid backup group '${text}'`, 'expected TYPE/ID, e.g. host/web1')
  const type = parseType(parts[0]!, text)
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(parts[1])) throw usageError(`invalid backup id in '${text}'`)
  return { ns, type, id: parts[1] }
}

/** A snapshot argument: `TYPE/ID/TIME`, or `TYPE/ID` when `latest` is allowed. */
export type SnapshotSpec = { readonly dir: BackupDir } | { readonly group: BackupGroup }

/** Parses `TYPE/ID/TIME` (TIME as in the snapshot directory name, RFC 3339 UTC, or epoch seconds). */
export function parseSnapshot(text: string, ns: readonly string[], allowGroup = false): SnapshotSpec {
  const parts = text.split('/')
  if (parts.length === 2 && allowGroup) return { group: parseGroup(text, ns) }
  if (parts.length !== 3) {
    throw usageError(
      `invalid snapshot '${text}'`,
      `expected TYPE/ID/TIME, e.g. host/web1/2026-11-24T16:00:00Z${allowGroup ? ' (or TYPE/ID for the latest)' : ''}`,
    )
  }
  const group = parseGroup(`${parts[0]}/${parts[1]}`, ns)
  const t = parts[2]!
  const time = /^\d+$/.test(t) ? Number(t) : parseBackupTime(t)
  if (time === undefined) throw usageError(`invalid backup time '${t}'`, 'expected e.g. 2026-11-24T16:00:00Z')
  return { dir: { ...group, time } }
}

/** Resolves a spec to a snapshot (a group means its latest finished snapshot). */
export async function resolveSnapshot(ds: Datastore, spec: SnapshotSpec): Promise<BackupDir> {
  if ('dir' in spec) return spec.dir
  const last = await ds.lastSnapshot(spec.group)
  if (!last) {
    throw new CliError(
      'ERR_SNAPSHOT_NOT_FOUND',
      `group ${spec.group.type}/${spec.group.id} has no snapshots`,
      {
        hint: 'list the available snapshots with `pxar-cli snapshots`',
      },
    )
  }
  return last.dir
}

/** `TYPE/ID/TIME` of a snapshot (namespace not included). */
export function snapshotName(s: BackupDir): string {
  return `${s.type}/${s.id}/${formatBackupTime(s.time)}`
}

/** All namespaces below `root` (including it), breadth first. */
export async function allNamespaces(ds: Datastore, root: readonly string[]): Promise<(readonly string[])[]> {
  const out: (readonly string[])[] = []
  const queue: (readonly string[])[] = [root]
  while (queue.length > 0) {
    const ns = queue.shift()!
    out.push(ns)
    queue.push(...(await ds.listNamespaces(ns)))
  }
  return out
}
