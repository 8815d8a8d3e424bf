/**
 * Remote targets: `--repository` (or `PBS_REPOSITORY`) in the syntax of proxmox-backup-client,
 * credentials from `PBS_PASSWORD` (`_FILE`, `_FD`, or a prompt on a terminal) and the server
 * certificate pin from `PBS_FINGERPRINT`. Errors become one-line {@link CliError}s that never
 * contain the secret.
 */
import { isPxarError } from '@pxar/format'
import {
  formatRepository,
  isTokenAuthId,
  normalizeFingerprint,
  PbsClient,
  PbsRemoteStore,
  parseRepository,
  type Repository,
} from '@pxar/pbs-client'
import { type Command, Option } from 'commander'
import { CliError, EXIT_CODES, usageError } from './errors.ts'
import { passwordFromEnv, readPassword } from './password.ts'
import { storePath } from './store.ts'

/** Environment variable family of the password or API token secret. */
export const REPOSITORY_PASSWORD_ENV = 'PBS_PASSWORD'

/** `--repository <repo>` (env `PBS_REPOSITORY`). */
export function repositoryOption(): Option {
  return new Option(
    '--repository <repo>',
    'repository URL [[user@realm[!token]@]host[:port]:]datastore (password: PBS_PASSWORD, certificate pin: PBS_FINGERPRINT)',
  ).env('PBS_REPOSITORY')
}

/** A remote datastore opened from the command line. */
export interface RemoteRepository {
  /** The parsed repository. */
  readonly repository: Repository
  /** The repository as text (`authid@host[:port]:store`; never contains the secret). */
  readonly label: string
  /** Datastore name on the server. */
  readonly store: string
  /** REST client and protocol upgrades. */
  readonly client: PbsClient
  /** Backup target for `runBackup` of @pxar/proxy; `openReader` for restores. */
  readonly remote: PbsRemoteStore
}

/** Where a command works: a local datastore directory or a remote repository. */
export type Target =
  | { readonly kind: 'local'; readonly path: string }
  | { readonly kind: 'remote'; readonly repository: string }

/** Parses a repository string into a usage error when malformed. */
export function parseRepositoryArg(text: string): Repository {
  try {
    return parseRepository(text)
  } catch (cause) {
    throw new CliError(
      'ERR_USAGE',
      `invalid repository '${text}': ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        exitCode: EXIT_CODES.usage,
        hint: 'expected [[user@realm[!token]@]host[:port]:]datastore, e.g. root@pam!ci@pbs.example.com:8007:store',
        cause,
      },
    )
  }
}

/**
 * Picks the target of a command that takes `--store` and `--repository`: one given on the
 * command line wins over one from the environment; both on the command line (or both only
 * from the environment) is a usage error. Neither means the default local store.
 */
export function resolveTarget(cmd: Command): Target {
  const opts = cmd.opts() as { store?: string; repository?: string }
  const storeSrc = opts.store === undefined ? undefined : cmd.getOptionValueSource('store')
  const repoSrc = opts.repository === undefined ? undefined : cmd.getOptionValueSource('repository')
  if (storeSrc !== undefined && repoSrc !== undefined) {
    if (storeSrc === 'cli' && repoSrc !== 'cli') return { kind: 'local', path: storePath(opts) }
    if (repoSrc === 'cli' && storeSrc !== 'cli') return { kind: 'remote', repository: opts.repository! }
    throw usageError(
      '--store and --repository are mutually exclusive',
      storeSrc === 'cli' ? 'pass one of them' : 'unset PXAR_STORE or PBS_REPOSITORY',
    )
  }
  if (repoSrc !== undefined) return { kind: 'remote', repository: opts.repository! }
  return { kind: 'local', path: storePath(opts) }
}

/** Options of {@link openRepository}. */
export interface OpenRepositoryOptions {
  /** Environment to read (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Prompt for the password on a terminal when no environment variable gives it (default true). */
  readonly prompt?: boolean
}

/**
 * Opens a repository: parses it, reads the password or token secret and the certificate pin,
 * and returns the client. Connects lazily (the first request checks certificate and credentials).
 *
 * @throws CliError `ERR_USAGE` for a malformed repository, `ERR_PBS_AUTH` without a password,
 *   `ERR_PBS_CERT` for a malformed `PBS_FINGERPRINT`.
 */
export async function openRepository(
  text: string,
  options: OpenRepositoryOptions = {},
): Promise<RemoteRepository> {
  const repository = parseRepositoryArg(text)
  const env = options.env ?? process.env
  const token = isTokenAuthId(repository.authId)
  const what = token ? `secret of API token ${repository.authId}` : `password of ${repository.authId}`
  let password = options.env
    ? (env[REPOSITORY_PASSWORD_ENV] ?? undefined)
    : passwordFromEnv(REPOSITORY_PASSWORD_ENV)
  if (password === undefined && options.prompt !== false && process.stdin.isTTY) {
    password = await readPassword({
      env: REPOSITORY_PASSWORD_ENV,
      prompt: `Password for "${repository.authId}": `,
      what,
    })
  }
  if (password === undefined) {
    throw new CliError('ERR_PBS_AUTH', `no ${what}`, {
      hint: `set ${REPOSITORY_PASSWORD_ENV} (or ${REPOSITORY_PASSWORD_ENV}_FILE / ${REPOSITORY_PASSWORD_ENV}_FD)`,
    })
  }
  const fpText = env.PBS_FINGERPRINT
  let fingerprint: string | undefined
  if (fpText !== undefined && fpText !== '') {
    try {
      fingerprint = normalizeFingerprint(fpText)
    } catch (cause) {
      throw new CliError('ERR_PBS_CERT', `PBS_FINGERPRINT is not a SHA-256 fingerprint`, {
        hint: 'use the fingerprint the server prints (64 hex digits, colons optional)',
        cause,
      })
    }
  }
  const client = new PbsClient({
    host: repository.host,
    port: repository.port,
    authId: repository.authId,
    password,
    ...(fingerprint ? { fingerprint } : {}),
  })
  return {
    repository,
    label: formatRepository(repository),
    store: repository.store,
    client,
    remote: new PbsRemoteStore(client, repository.store),
  }
}

/**
 * Turns a client error into the one-line CLI error: certificate problems (a pin never turns
 * verification off, so a mismatch fails closed), failed authentication, refused connections.
 * Other errors are returned unchanged.
 */
export function remoteError(err: unknown, repo: Pick<RemoteRepository, 'label' | 'repository'>): unknown {
  if (err instanceof CliError || !isPxarError(err)) return err
  const where = `${repo.repository.host}:${repo.repository.port}`
  switch (err.code) {
    case 'ERR_PBS_CERT':
      return new CliError('ERR_PBS_CERT', `TLS certificate of ${where} not accepted: ${err.message}`, {
        hint: 'set PBS_FINGERPRINT to the fingerprint the server printed (`pxar-cli serve` shows it first)',
        cause: err,
      })
    case 'ERR_PBS_AUTH':
      return new CliError('ERR_PBS_AUTH', `authentication of ${repo.repository.authId} at ${where} failed`, {
        hint: isTokenAuthId(repo.repository.authId)
          ? 'check the token secret in PBS_PASSWORD (`pxar-cli serve-token --create` prints a new one)'
          : 'check the password in PBS_PASSWORD',
        cause: err,
      })
    case 'ERR_PBS_HTTP': {
      const status = (err as { status?: number }).status
      if (status === 403)
        return new CliError('ERR_PBS_PERMISSION', `${repo.label}: ${err.message}`, {
          hint: 'the user or token lacks the permission (or does not own the backup group)',
          cause: err,
        })
      if (status === 404)
        return new CliError('ERR_SNAPSHOT_NOT_FOUND', `${repo.label}: ${err.message}`, {
          hint: 'list the snapshots with `pxar-cli snapshots --repository …`',
          cause: err,
        })
      return new CliError('ERR_PBS_HTTP', `${repo.label}: ${err.message}`, { cause: err })
    }
    default:
      return err
  }
}

/** Runs `fn` and maps its errors with {@link remoteError}. */
export async function withRemote<T>(repo: RemoteRepository, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw remoteError(err, repo)
  }
}
