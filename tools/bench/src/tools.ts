/**
 * The backup tools under comparison and how each is driven: pxar-cli in its three detection
 * modes (plus encrypted metadata mode), restic and borgbackup, each to its own local
 * repository.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'

/** Identifier of a tool configuration. */
export type ToolId = 'pxar-legacy' | 'pxar-data' | 'pxar-metadata' | 'pxar-metadata-enc' | 'restic' | 'borg'

/** Every tool configuration, in report order. */
export const TOOL_IDS: readonly ToolId[] = [
  'pxar-legacy',
  'pxar-data',
  'pxar-metadata',
  'pxar-metadata-enc',
  'restic',
  'borg',
]

/** A command line to run (the measurement wraps it in `/usr/bin/time -v`). */
export interface Command {
  readonly file: string
  readonly args: readonly string[]
  readonly env?: Readonly<Record<string, string>>
  readonly cwd?: string
}

/** How pxar-cli is started. */
export interface PxarCli {
  /** Executable and leading arguments, e.g. `node …/dist/main.js`. */
  readonly file: string
  readonly args: readonly string[]
  /** `dist` (built CLI) or `source` (through tsx). */
  readonly kind: 'dist' | 'source'
}

/** One tool configuration. */
export interface Tool {
  readonly id: ToolId
  /** The settings in words (encryption, compression, mode). */
  readonly settings: string
  /** Version string of the tool. */
  version(): string
  /** Prepares an empty repository at `repo` (not timed). */
  init(repo: string): Command | undefined
  /** One backup of `source` into `repo`; `run` counts backups into this repository. */
  backup(repo: string, source: string, run: number): Command
  /** Whether an exit code means success (borg exits 1 on warnings). */
  ok(code: number): boolean
  /** Backup times have one-second resolution: runs into one repository need distinct seconds. */
  readonly secondResolution: boolean
}

const PASSWORD = 'pxar-bench-password'

/** Finds an executable on PATH. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = join(dir, name)
    if (dir !== '' && existsSync(p)) return p
  }
  return undefined
}

function firstLine(file: string, args: readonly string[]): string {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')[0]!
      .trim()
  } catch {
    return 'unknown'
  }
}

function pxarTool(
  cli: PxarCli,
  id: ToolId,
  mode: 'legacy' | 'data' | 'metadata',
  keyfile: string | undefined,
): Tool {
  const crypt = keyfile === undefined ? 'unencrypted' : 'encrypted (AES-256-GCM, key file)'
  return {
    id,
    settings: `pxar-cli backup --mode ${mode}, ${crypt}, zstd chunk compression, dynamic chunks (4 MiB average), local datastore (${cli.kind} build)`,
    version: () => `pxar-cli ${firstLine(cli.file, [...cli.args, '--version'])}`,
    init: () => undefined,
    backup: (repo, source) => ({
      file: cli.file,
      args: [
        ...cli.args,
        'backup',
        source,
        '--store',
        repo,
        '--backup-id',
        'bench',
        '--mode',
        mode,
        '--output-format',
        'json',
        '--quiet',
        ...(keyfile === undefined ? [] : ['--keyfile', keyfile, '--crypt-mode', 'encrypt']),
      ],
    }),
    ok: (code) => code === 0,
    secondResolution: true,
  }
}

function resticTool(bin: string, home: string): Tool {
  const env = (repo: string): Record<string, string> => ({
    RESTIC_PASSWORD: PASSWORD,
    RESTIC_REPOSITORY: repo,
    RESTIC_CACHE_DIR: `${repo}.cache`,
    HOME: home,
  })
  return {
    id: 'restic',
    settings:
      'restic defaults: repository format 2, compression auto, encryption mandatory (AES-256-CTR + Poly1305-AES, password from the environment), cache beside the repository',
    version: () => firstLine(bin, ['version']),
    init: (repo) => ({ file: bin, args: ['init', '--quiet'], env: env(repo) }),
    backup: (_repo, source) => ({
      file: bin,
      args: ['backup', '--quiet', '--host', 'bench', source],
      env: env(_repo),
    }),
    ok: (code) => code === 0,
    secondResolution: false,
  }
}

function borgTool(bin: string): Tool {
  const env = (repo: string): Record<string, string> => ({
    BORG_PASSPHRASE: PASSWORD,
    BORG_BASE_DIR: `${repo}.home`,
    BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes',
    BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
  })
  return {
    id: 'borg',
    settings:
      'borg create --compression lz4 (its default), repokey encryption (AES-256-CTR + HMAC-SHA256, passphrase from the environment), files cache beside the repository',
    version: () => firstLine(bin, ['--version']),
    init: (repo) => ({ file: bin, args: ['init', '--encryption', 'repokey', repo], env: env(repo) }),
    backup: (repo, source, run) => ({
      file: bin,
      args: ['create', '--compression', 'lz4', `${repo}::run-${run}`, '.'],
      env: env(repo),
      cwd: source,
    }),
    ok: (code) => code === 0 || code === 1,
    secondResolution: false,
  }
}

/** Context the tools need. */
export interface ToolContext {
  readonly cli: PxarCli
  /** A directory for key files and the tools' home. */
  readonly stateDir: string
}

/**
 * The tool configuration `id`, or `undefined` when its program is not installed (restic, borg).
 * The encrypted pxar configuration creates its key file (no KDF) in the state directory.
 */
export function makeTool(id: ToolId, ctx: ToolContext): Tool | undefined {
  switch (id) {
    case 'pxar-legacy':
      return pxarTool(ctx.cli, id, 'legacy', undefined)
    case 'pxar-data':
      return pxarTool(ctx.cli, id, 'data', undefined)
    case 'pxar-metadata':
      return pxarTool(ctx.cli, id, 'metadata', undefined)
    case 'pxar-metadata-enc': {
      const keyfile = join(ctx.stateDir, 'bench.key.json')
      if (!existsSync(keyfile)) {
        mkdirSync(ctx.stateDir, { recursive: true })
        execFileSync(ctx.cli.file, [...ctx.cli.args, 'key', 'create', '--kdf', 'none', '--quiet', keyfile], {
          stdio: 'ignore',
        })
      }
      return pxarTool(ctx.cli, id, 'metadata', keyfile)
    }
    case 'restic': {
      const bin = which('restic')
      return bin === undefined ? undefined : resticTool(bin, ctx.stateDir)
    }
    case 'borg': {
      const bin = which('borg')
      return bin === undefined ? undefined : borgTool(bin)
    }
  }
}

/**
 * Expands a tool list: ids, `pxar` (all pxar-cli configurations) or `all`.
 */
export function parseTools(text: string): ToolId[] {
  const out: ToolId[] = []
  for (const part of text.split(',').map((s) => s.trim())) {
    if (part === '') continue
    const ids =
      part === 'all'
        ? TOOL_IDS
        : part === 'pxar'
          ? TOOL_IDS.filter((t) => t.startsWith('pxar-'))
          : TOOL_IDS.includes(part as ToolId)
            ? [part as ToolId]
            : undefined
    if (ids === undefined)
      throw new Error(`unknown tool ${JSON.stringify(part)} (${TOOL_IDS.join('|')}|pxar|all)`)
    for (const id of ids) if (!out.includes(id)) out.push(id)
  }
  return out
}

/**
 * Installs restic, borgbackup and GNU time with apt-get when missing (as root only). Returns
 * what it did, for the log.
 */
export function installMissing(want: readonly ToolId[]): string | undefined {
  const pkgs: string[] = []
  if (want.includes('restic') && which('restic') === undefined) pkgs.push('restic')
  if (want.includes('borg') && which('borg') === undefined) pkgs.push('borgbackup')
  if (!existsSync('/usr/bin/time')) pkgs.push('time')
  if (pkgs.length === 0) return undefined
  const apt = which('apt-get')
  if (apt === undefined || process.getuid?.() !== 0)
    return `missing ${pkgs.join(', ')} (install them with apt-get)`
  execFileSync(apt, ['install', '-y', ...pkgs], { stdio: ['ignore', 'ignore', 'inherit'] })
  return `installed ${pkgs.join(', ')}`
}
