/**
 * CLI errors: exit codes, one-line messages with a hint about what to do, JSON error objects.
 */
import { isPxarError } from '@pxar/format'

/** Documented exit codes. */
export const EXIT_CODES = {
  /** Success. */
  ok: 0,
  /** The command failed (I/O, format, wrong passphrase, …). */
  failure: 1,
  /** Bad command line (unknown option, missing or malformed argument). */
  usage: 2,
  /** `verify` found damaged or missing data. */
  damaged: 3,
  /** Interrupted (Ctrl-C). */
  interrupted: 130,
} as const

/** An error the CLI reports as one line, with a code, an exit code and an optional hint. */
export class CliError extends Error {
  readonly code: string
  readonly exitCode: number
  readonly hint: string | undefined

  constructor(
    code: string,
    message: string,
    options: { exitCode?: number; hint?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined)
    this.name = 'CliError'
    this.code = code
    this.exitCode = options.exitCode ?? EXIT_CODES.failure
    this.hint = options.hint
  }
}

/** A usage error (exit code 2). */
export function usageError(message: string, hint?: string): CliError {
  return new CliError('ERR_USAGE', message, { exitCode: EXIT_CODES.usage, ...(hint ? { hint } : {}) })
}

/** What the CLI prints for an error. */
export interface ErrorReport {
  readonly code: string
  readonly message: string
  readonly hint: string | undefined
  readonly exitCode: number
}

const HINTS: Record<string, string> = {
  ERR_KEY_PASSWORD: 'check the passphrase (prompted on a terminal, or PBS_ENCRYPTION_PASSWORD[_FILE|_FD])',
  ERR_KEY_FORMAT: 'pass a key file created by `pxar-cli keygen` or proxmox-backup-client',
  ERR_KEY_FINGERPRINT: 'the key file is damaged or does not belong to this backup',
  ERR_SNAPSHOT_NOT_FOUND: 'list the available snapshots with `pxar-cli snapshots`',
  ERR_SNAPSHOT_PROTECTED: 'the snapshot is protected; pass --force to remove it anyway',
  ERR_SNAPSHOT_LOCKED: 'another process is using the datastore; try again when it has finished',
  ERR_STORE_LAYOUT: 'pass --store DIR pointing at a datastore (one is created by the first backup)',
  ERR_CHUNK_MISSING: 'the datastore is damaged; run `pxar-cli verify`',
  ERR_BLOB_CRYPT: 'the data is encrypted; pass --keyfile',
  ERR_BLOB_NO_KEY: 'the data is encrypted; pass --keyfile',
  ERR_PXAR_TRUNCATED: 'the archive is incomplete or not a pxar archive',
  ERR_PXAR_BAD_HEADER: 'the file is not a pxar archive, or it is damaged',
  ERR_PXAR_UNKNOWN_ITEM: 'the file is not a pxar archive, or it is damaged',
  ERR_PXAR_SIZE: 'the archive is damaged',
  ERR_PXAR_BAD_GOODBYE: 'the archive is damaged',
  ERR_PXAR_INVALID_DATA: 'the archive is damaged',
  ERR_RESTORE_EXISTS:
    'pass --overwrite to replace existing files, or --allow-existing-dirs to merge into directories',
}

const ERRNO: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EEXIST: 'file exists',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  ENOSPC: 'no space left on device',
}

/** Turns anything thrown into the one-line report the CLI prints. */
export function describeError(err: unknown): ErrorReport {
  if (err instanceof CliError) {
    return { code: err.code, message: err.message, hint: err.hint, exitCode: err.exitCode }
  }
  if (isPxarError(err)) {
    const offset = (err as { offset?: number }).offset
    const at =
      typeof offset === 'number' && !/offset|at byte/.test(err.message) ? ` (at byte offset ${offset})` : ''
    return {
      code: err.code,
      message: `${err.message}${at}`,
      hint: HINTS[err.code],
      exitCode: EXIT_CODES.failure,
    }
  }
  const e = err as { code?: unknown; path?: unknown; syscall?: unknown; message?: unknown }
  if (typeof e?.code === 'string' && e.code in ERRNO) {
    const path = typeof e.path === 'string' ? `${e.path}: ` : ''
    const what = typeof e.syscall === 'string' ? ` (${e.syscall})` : ''
    return {
      code: e.code,
      message: `${path}${ERRNO[e.code]}${what}`,
      hint: undefined,
      exitCode: EXIT_CODES.failure,
    }
  }
  const message = err instanceof Error ? err.message : String(err)
  return { code: 'ERR_INTERNAL', message, hint: undefined, exitCode: EXIT_CODES.failure }
}
