/**
 * Passphrases: from the environment (`PBS_ENCRYPTION_PASSWORD`, `…_FILE`, `…_FD`, as
 * proxmox-backup-client reads them) or prompted on the terminal without echo. Never logged.
 */
import { readFileSync } from 'node:fs'
import { CliError, EXIT_CODES } from './errors.ts'

/** Environment variable family of the encryption key passphrase. */
export const PASSWORD_ENV = 'PBS_ENCRYPTION_PASSWORD'
/** Environment variable family of a new passphrase (keygen, change-passphrase, master key). */
export const NEW_PASSWORD_ENV = 'PXAR_NEW_ENCRYPTION_PASSWORD'

function firstLine(text: string): string {
  const nl = text.search(/\r?\n/)
  return nl < 0 ? text : text.slice(0, nl)
}

/** The passphrase from `NAME`, `NAME_FILE` (first line) or `NAME_FD` (first line), if set. */
export function passwordFromEnv(name: string): string | undefined {
  const direct = process.env[name]
  if (direct !== undefined) return direct
  const file = process.env[`${name}_FILE`]
  if (file !== undefined) {
    try {
      return firstLine(readFileSync(file, 'utf8'))
    } catch (cause) {
      throw new CliError('ERR_PASSWORD_SOURCE', `unable to read ${name}_FILE (${file})`, { cause })
    }
  }
  const fd = process.env[`${name}_FD`]
  if (fd !== undefined) {
    const n = Number(fd)
    if (!Number.isSafeInteger(n) || n < 0)
      throw new CliError('ERR_PASSWORD_SOURCE', `${name}_FD is not a file descriptor`)
    try {
      return firstLine(readFileSync(n, 'utf8'))
    } catch (cause) {
      throw new CliError('ERR_PASSWORD_SOURCE', `unable to read ${name}_FD (${fd})`, { cause })
    }
  }
  return undefined
}

/** Reads one line from the terminal with echo off. */
export function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin
  const stderr = process.stderr
  return new Promise((resolve, reject) => {
    let value = ''
    // echo off before the prompt appears, so nothing typed after it is ever echoed
    stdin.setRawMode(true)
    stderr.write(prompt)
    stdin.setEncoding('utf8')
    stdin.resume()
    const finish = (err?: Error): void => {
      stdin.off('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
      stderr.write('\n')
      if (err) reject(err)
      else resolve(value)
    }
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          finish()
          return
        }
        if (ch === '\u0003') {
          finish(new CliError('ERR_INTERRUPTED', 'interrupted', { exitCode: EXIT_CODES.interrupted }))
          return
        }
        if (ch === '\u0004') {
          finish(value === '' ? new CliError('ERR_PASSWORD_SOURCE', 'no passphrase entered') : undefined)
          return
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1)
        else if (ch === '\u0015') value = ''
        else if (ch >= ' ') value += ch
      }
    }
    stdin.on('data', onData)
  })
}

/** Options of {@link readPassword}. */
export interface ReadPasswordOptions {
  /** Environment variable family to consult first. */
  readonly env: string
  /** Prompt shown on a terminal. */
  readonly prompt: string
  /** Ask twice on a terminal and compare (new passphrases). */
  readonly confirm?: boolean
  /** What the passphrase is for, used in the error when none can be read. */
  readonly what: string
}

/**
 * A passphrase from the environment or the terminal.
 * @throws CliError when neither is available or the two entries differ.
 */
export async function readPassword(options: ReadPasswordOptions): Promise<string> {
  const fromEnv = passwordFromEnv(options.env)
  if (fromEnv !== undefined) return fromEnv
  if (!process.stdin.isTTY) {
    throw new CliError('ERR_PASSWORD_SOURCE', `no ${options.what}: not running on a terminal`, {
      hint: `set ${options.env} (or ${options.env}_FILE / ${options.env}_FD)`,
    })
  }
  const first = await promptHidden(options.prompt)
  if (options.confirm) {
    const second = await promptHidden('Verify Password: ')
    if (first !== second)
      throw new CliError('ERR_PASSWORD_MISMATCH', 'passphrases do not match', { hint: 'try again' })
  }
  return first
}
