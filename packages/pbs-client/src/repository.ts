/**
 * Repository addressing as `proxmox-backup-client` does it (`pbs-client/src/backup_repo.rs`):
 * `[[auth-id@]host[:port]:]datastore`, where the auth id is `user@realm` or
 * `user@realm!token`; defaults `root@pam`, `localhost`, port 8007.
 */
import { PxarError } from '@pxar/format'

/** Default PBS port. */
export const DEFAULT_PORT = 8007

/** A parsed repository string. */
export interface Repository {
  /** `user@realm` or `user@realm!token`. */
  readonly authId: string
  /** Host name or IP address (IPv6 without brackets). */
  readonly host: string
  readonly port: number
  /** Datastore name. */
  readonly store: string
}

const SAFE_ID = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/
const AUTH_ID = /^[^\s:/@!]+@[A-Za-z0-9_][A-Za-z0-9._-]*(?:![A-Za-z0-9_][A-Za-z0-9._-]*)?$/
const REPO = /^(?:(?:(.+)@)?(\[[0-9A-Fa-f:.]+\]|[^:@[\]\s]+)(?::([0-9]+))?:)?([A-Za-z0-9_][A-Za-z0-9._-]*)$/

/**
 * Parses `[[user@realm[!token]@]host[:port]:]datastore`.
 *
 * @throws PxarError `ERR_PBS_REPOSITORY` for malformed strings.
 * @example
 * ```ts
 * parseRepository('backup@pbs!ci@pbs.example.com:8007:store1')
 * // { authId: 'backup@pbs!ci', host: 'pbs.example.com', port: 8007, store: 'store1' }
 * ```
 */
export function parseRepository(text: string): Repository {
  const m = REPO.exec(text.trim())
  if (!m) throw new PxarError('ERR_PBS_REPOSITORY', `unable to parse repository '${text}'`)
  const authId = m[1] ?? 'root@pam'
  if (!AUTH_ID.test(authId))
    throw new PxarError('ERR_PBS_REPOSITORY', `invalid auth id '${authId}' in repository`)
  let host = m[2] ?? 'localhost'
  if (host.startsWith('[')) host = host.slice(1, -1)
  const port = m[3] === undefined ? DEFAULT_PORT : Number(m[3])
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new PxarError('ERR_PBS_REPOSITORY', `invalid port in repository '${text}'`)
  }
  const store = m[4]!
  if (!SAFE_ID.test(store)) throw new PxarError('ERR_PBS_REPOSITORY', `invalid datastore name '${store}'`)
  return { authId, host, port, store }
}

/** Formats a repository back into its string form (the port only when not 8007). */
export function formatRepository(r: Repository): string {
  const host = r.host.includes(':') ? `[${r.host}]` : r.host
  return `${r.authId}@${host}${r.port === DEFAULT_PORT ? '' : `:${r.port}`}:${r.store}`
}

/** True for a token auth id (`user@realm!name`). */
export function isTokenAuthId(authId: string): boolean {
  return authId.includes('!')
}

/** Connection settings gathered from the environment, as the official client reads them. */
export interface RepositoryEnv {
  readonly repository?: Repository
  /** `PBS_PASSWORD`: the password (ticket login) or the API token secret. */
  readonly password?: string
  /** `PBS_FINGERPRINT`: the expected SHA-256 certificate fingerprint. */
  readonly fingerprint?: string
}

/**
 * Reads `PBS_REPOSITORY`, `PBS_PASSWORD` and `PBS_FINGERPRINT`.
 *
 * @throws PxarError `ERR_PBS_REPOSITORY` for a malformed `PBS_REPOSITORY`.
 */
export function repositoryFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
): RepositoryEnv {
  const repo = env.PBS_REPOSITORY
  const password = env.PBS_PASSWORD
  const fingerprint = env.PBS_FINGERPRINT
  return {
    ...(repo ? { repository: parseRepository(repo) } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(fingerprint ? { fingerprint } : {}),
  }
}

/**
 * Normalizes a certificate fingerprint to lowercase colon-separated hex (accepts any case,
 * with or without colons).
 *
 * @throws PxarError `ERR_PBS_CERT` unless it is 32 bytes of hex.
 */
export function normalizeFingerprint(fp: string): string {
  const hex = fp.replaceAll(':', '').toLowerCase()
  if (!/^[0-9a-f]{64}$/.test(hex))
    throw new PxarError('ERR_PBS_CERT', `invalid certificate fingerprint '${fp}'`)
  return hex.match(/../g)!.join(':')
}
