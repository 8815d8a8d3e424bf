/**
 * The `pxar-cli` program: global options, command registration, error handling and exit codes.
 */
import { Command, CommanderError, Option } from 'commander'
import { registerArchiveCommands } from './commands/archive.ts'
import { registerBackupCommands } from './commands/backup.ts'
import { registerCatalogCommands } from './commands/catalog.ts'
import { registerKeyCommands } from './commands/key.ts'
import { registerMountCommands } from './commands/mount.ts'
import { registerServeCommands } from './commands/serve.ts'
import { registerStoreCommands } from './commands/store.ts'
import { Context } from './context.ts'
import { CliError, EXIT_CODES } from './errors.ts'
import { OUTPUT_FORMATS, Output, type OutputFormat } from './output.ts'

/** Version printed by `--version`. */
export const VERSION = '0.1.0'

/** Builds the command tree. */
export function createProgram(ctx: Context = new Context()): Command {
  const program = new Command('pxar-cli')
    .description('Backups, restores, archives, keys and snapshots in Proxmox Backup formats')
    .version(VERSION, '-V, --version')
    .addOption(
      new Option('--output-format <format>', 'output format of results and errors')
        .choices(OUTPUT_FORMATS)
        .env('PROXMOX_OUTPUT_FORMAT')
        .default('text'),
    )
    .option('-q, --quiet', 'no progress, no informational messages')
    .option('-v, --verbose', 'more details; stack traces with errors')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showSuggestionAfterError(true)
    .allowExcessArguments(false)
  registerBackupCommands(program, ctx)
  registerArchiveCommands(program, ctx)
  registerKeyCommands(program, ctx)
  registerStoreCommands(program, ctx)
  registerMountCommands(program, ctx)
  registerCatalogCommands(program, ctx)
  registerServeCommands(program, ctx)
  return program
}

/** The output format asked for on the command line or in the environment (before parsing). */
function preScanFormat(argv: readonly string[]): OutputFormat {
  let format: string | undefined = process.env.PROXMOX_OUTPUT_FORMAT
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--') break
    if (a === '--output-format') format = argv[i + 1]
    else if (a.startsWith('--output-format=')) format = a.slice('--output-format='.length)
  }
  return (OUTPUT_FORMATS as readonly string[]).includes(format ?? '') ? (format as OutputFormat) : 'text'
}

function applyRecursively(cmd: Command, fn: (c: Command) => void): void {
  fn(cmd)
  for (const sub of cmd.commands) applyRecursively(sub, fn)
}

/**
 * Runs the CLI with `argv` (without the node and script entries) and returns the exit code.
 * Results go to stdout, messages, progress and errors to stderr.
 */
export async function runCli(argv: readonly string[], ctx: Context = new Context()): Promise<number> {
  const program = createProgram(ctx)
  const format = preScanFormat(argv)
  const verbose = argv.includes('--verbose') || argv.includes('-v')
  const early = new Output({ outputFormat: format, quiet: false, verbose }, ctx.streams)
  applyRecursively(program, (c) => {
    c.exitOverride()
    c.configureOutput({
      writeOut: (s) => void (ctx.streams?.stdout ?? process.stdout).write(s),
      writeErr: (s) => void (ctx.streams?.stderr ?? process.stderr).write(s),
      // usage errors are printed by us, as one line (or a JSON object)
      outputError: () => {},
    })
  })
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return ctx.exitCode
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) {
        return EXIT_CODES.ok
      }
      if (err.code === 'commander.help') return EXIT_CODES.usage
      const message = err.message.replace(/^error: /, '')
      return early.error(
        new CliError('ERR_USAGE', message, { exitCode: EXIT_CODES.usage, hint: 'see `pxar-cli help`' }),
      )
    }
    return (ctx.lastOutput ?? early).error(err)
  }
}
