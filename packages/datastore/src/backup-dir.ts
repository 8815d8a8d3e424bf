/**
 * Names and paths of namespaces, backup groups and snapshots (PBS `pbs-api-types` /
 * `pbs-datastore/src/backup_info.rs`).
 */
import { PxarError } from '@pxar/format'
import { BACKUP_TYPES, type BackupType } from './manifest.ts'

/** Maximum namespace depth below the root. */
export const MAX_NAMESPACE_DEPTH = 7
/** Maximum textual namespace length (components joined with `/`). */
export const MAX_BACKUP_NAMESPACE_LENGTH = 256

const SAFE_ID = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/
const TIME_RE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z$/

/** A namespace: 0..7 components; `[]` is the root namespace. */
export type BackupNamespace = readonly string[]

/** A backup group: namespace, type and id. */
export interface BackupGroup {
  readonly ns: BackupNamespace
  readonly type: BackupType
  readonly id: string
}

/** A snapshot: its group plus the backup time (epoch seconds). */
export interface BackupDir extends BackupGroup {
  readonly time: number
}

function invalid(msg: string): never {
  throw new PxarError('ERR_SNAPSHOT_INVALID', msg)
}

/** True if `s` matches the PBS safe-id regex. */
export function isSafeId(s: string): boolean {
  return SAFE_ID.test(s)
}

/**
 * Parses (and validates) a namespace's textual form `a/b/c`; `''` is the root.
 * @throws PxarError `ERR_SNAPSHOT_INVALID`.
 */
export function parseNamespace(text: string): string[] {
  if (text === '') return []
  if (text.length > MAX_BACKUP_NAMESPACE_LENGTH) invalid('namespace too long')
  const parts = text.split('/')
  checkNamespace(parts)
  return parts
}

/** @throws PxarError `ERR_SNAPSHOT_INVALID` if the namespace is not valid. */
export function checkNamespace(ns: BackupNamespace): void {
  if (ns.length > MAX_NAMESPACE_DEPTH) invalid(`namespace deeper than ${MAX_NAMESPACE_DEPTH}`)
  for (const c of ns) if (!SAFE_ID.test(c)) invalid(`invalid namespace component '${c}'`)
  if (ns.join('/').length > MAX_BACKUP_NAMESPACE_LENGTH) invalid('namespace too long')
}

/** Relative directory of a namespace: `ns/a/ns/b` (`''` for the root). */
export function namespacePath(ns: BackupNamespace): string {
  checkNamespace(ns)
  return ns.map((c) => `ns/${c}`).join('/')
}

/** @throws PxarError `ERR_SNAPSHOT_INVALID` for a bad type or id. */
export function checkGroup(g: BackupGroup): void {
  checkNamespace(g.ns)
  if (!(BACKUP_TYPES as readonly string[]).includes(g.type)) invalid(`invalid backup type '${g.type}'`)
  if (!SAFE_ID.test(g.id)) invalid(`invalid backup id '${g.id}'`)
}

/** Relative directory of a group: `[ns/...]/type/id`. */
export function groupPath(g: BackupGroup): string {
  checkGroup(g)
  const ns = namespacePath(g.ns)
  return ns ? `${ns}/${g.type}/${g.id}` : `${g.type}/${g.id}`
}

/** Relative directory of a snapshot: `[ns/...]/type/id/YYYY-MM-DDTHH:MM:SSZ`. */
export function snapshotPath(s: BackupDir): string {
  return `${groupPath(s)}/${formatBackupTime(s.time)}`
}

/**
 * Formats a backup time as the snapshot directory name (RFC 3339 UTC, second precision).
 * @throws RangeError outside years 0..9999 or for non-integers.
 */
export function formatBackupTime(epoch: number): string {
  if (!Number.isSafeInteger(epoch)) throw new RangeError('backup time must be an integer')
  const d = new Date(epoch * 1000)
  const y = d.getUTCFullYear()
  if (Number.isNaN(y) || y < 0 || y > 9999) throw new RangeError('backup time out of range')
  const p = (n: number) => String(n).padStart(2, '0')
  return `${String(y).padStart(4, '0')}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(
    d.getUTCMinutes(),
  )}:${p(d.getUTCSeconds())}Z`
}

/** Parses a snapshot directory name; undefined if it is not one. */
export function parseBackupTime(name: string): number | undefined {
  const m = TIME_RE.exec(name)
  if (!m) return undefined
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number]
  const ms = Date.UTC(y, mo - 1, d, h, mi, s)
  const back = new Date(ms)
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d)
    return undefined
  if (h > 23 || mi > 59 || s > 59) return undefined
  return ms / 1000
}

/** Server listing order of backup types: `ct` < `host` < `vm`, then by id. */
export function compareGroups(a: BackupGroup, b: BackupGroup): number {
  if (a.type !== b.type) return a.type < b.type ? -1 : 1
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}
