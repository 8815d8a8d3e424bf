/**
 * Local pxar archives, like the `pxar` tool: `create ARCHIVE DIR`, `list ARCHIVE [PATH]`,
 * `extract ARCHIVE [TARGET]`.
 */
import { createReadStream, existsSync } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { type AccessorEntry, decode, type Entry, openAccessor, type ReadAt } from '@pxar/codec'
import { LocalClient, type RestoreResult, restoreArchive } from '@pxar/proxy'
import type { Command } from 'commander'
import { action, type Context } from '../context.ts'
import { type CreateArchiveResult, createArchive } from '../create.ts'
import { displayPath, entryJson, entryLine } from '../entries.ts'
import { CliError, EXIT_CODES, usageError } from '../errors.ts'
import { openReadAt } from '../files.ts'
import { formatBytes, formatDuration, type Output } from '../output.ts'
import { userPath } from '../paths.ts'
import { Progress, progressFor } from '../progress.ts'

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

/** The `.ppxar` beside a `.mpxar`, if it exists. */
export function payloadBeside(archive: string): string | undefined {
  if (!archive.endsWith('.mpxar')) return undefined
  const p = `${archive.slice(0, -'.mpxar'.length)}.ppxar`
  return existsSync(p) ? p : undefined
}

/** Ctrl-C while `body` runs aborts its signal instead of killing the process (temp files get removed). */
async function interruptible<T>(body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController()
  const onSignal = (): void => ac.abort()
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    return await body(ac.signal)
  } catch (err) {
    if (ac.signal.aborted)
      throw new CliError('ERR_INTERRUPTED', 'interrupted', { exitCode: EXIT_CODES.interrupted, cause: err })
    throw err
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

interface CreateOpts {
  payloadOutput?: string
  exclude?: string[]
  pxarexclude: boolean
  xattrs: boolean
  acls: boolean
  fcaps: boolean
  deviceNodes: boolean
  fifos: boolean
  sockets: boolean
  allFileSystems?: boolean
  overwrite?: boolean
}

function createJson(r: CreateArchiveResult, source: string): Record<string, unknown> {
  return {
    archive: r.archive,
    payloadOutput: r.payloadOutput ?? null,
    source,
    entries: r.entries,
    files: r.files,
    dirs: r.dirs,
    symlinks: r.symlinks,
    hardlinks: r.hardlinks,
    special: r.special,
    bytes: r.bytes,
    archiveSize: r.archiveSize,
    payloadSize: r.payloadSize ?? null,
    skipped: r.skipped,
    durationMs: r.durationMs,
  }
}

function extractJson(r: RestoreResult, archive: string, target: string): Record<string, unknown> {
  return {
    archive,
    target,
    entries: r.entries,
    files: r.files,
    dirs: r.dirs,
    bytes: r.bytes,
    durationMs: r.durationMs,
  }
}

async function mustExist(path: string, what: string): Promise<void> {
  await stat(path).catch((err: { code?: string }) => {
    if (err.code === 'ENOENT')
      throw new CliError('ENOENT', `${what} ${path} does not exist`, { hint: 'check the path' })
    throw err
  })
}

function registerCreate(program: Command, ctx: Context): void {
  program
    .command('create')
    .description(
      'create a local pxar archive from a directory (v1 .pxar, or a split .mpxar + .ppxar with --payload-output)',
    )
    .argument('<archive>', 'archive file to write (.pxar, or .mpxar with --payload-output)')
    .argument('<source>', 'directory to archive')
    .option('--payload-output <file>', 'write a split archive: file data goes to this .ppxar')
    .option('--exclude <pattern>', 'exclude matching paths (repeatable, .pxarexclude syntax)', collect)
    .option('--no-pxarexclude', 'ignore .pxarexclude files in the tree')
    .option('--no-xattrs', 'do not store extended attributes')
    .option('--no-acls', 'do not store POSIX ACLs')
    .option('--no-fcaps', 'do not store file capabilities')
    .option('--no-device-nodes', 'leave out block and character devices')
    .option('--no-fifos', 'leave out FIFOs')
    .option('--no-sockets', 'leave out sockets')
    .option('--all-file-systems', 'descend into other mounted file systems (default: stay on one)')
    .option('--overwrite', 'replace an existing archive')
    .action(
      action(ctx, async (out, [a, s], opts: CreateOpts) => {
        const archive = userPath(a as string)
        const source = userPath(s as string)
        const st = await stat(source).catch((err: { code?: string }) => {
          if (err.code === 'ENOENT')
            throw new CliError('ENOENT', `source ${source} does not exist`, { hint: 'check the path' })
          throw err
        })
        if (!st.isDirectory())
          throw new CliError('ENOTDIR', `source ${source} is not a directory`, { hint: 'pass a directory' })
        const payloadOutput = opts.payloadOutput === undefined ? undefined : userPath(opts.payloadOutput)
        for (const f of [archive, payloadOutput]) {
          if (f === undefined) continue
          const dir = await stat(dirname(f)).catch(() => undefined)
          if (!dir?.isDirectory())
            throw new CliError('ENOENT', `directory ${dirname(f)} for ${f} does not exist`, {
              hint: 'create it first or write the archive elsewhere',
            })
        }
        if (payloadOutput === archive) throw usageError('--payload-output must differ from the archive')
        if (payloadOutput !== undefined && !archive.endsWith('.mpxar'))
          out.warn(`split archives are usually named .mpxar (metadata) and .ppxar (payload)`)
        const progress = progressFor(out, 'create')
        let r: CreateArchiveResult
        try {
          r = await interruptible((signal) =>
            createArchive(new LocalClient(source), {
              archive,
              payloadOutput,
              exclude: opts.exclude ?? [],
              pxarexclude: opts.pxarexclude,
              xattrs: opts.xattrs,
              acls: opts.acls,
              fcaps: opts.fcaps,
              deviceNodes: opts.deviceNodes,
              fifos: opts.fifos,
              sockets: opts.sockets,
              oneFileSystem: opts.allFileSystems !== true,
              overwrite: opts.overwrite === true,
              signal,
              onProgress: (p) => progress.update({ entries: p.entries, bytes: p.bytesRead }),
              onSkip: (p, code, message) => out.warn(`skipped ${p}: ${code} ${message}`),
              ...(out.verbose ? { onEntry: (p: string) => out.debug(displayPath(p)) } : {}),
            }),
          )
        } catch (err) {
          if ((err as { code?: string }).code === 'EEXIST')
            throw new CliError('EEXIST', `${(err as { path?: string }).path ?? archive} already exists`, {
              hint: 'pass --overwrite to replace it, or choose another name',
            })
          throw err
        } finally {
          progress.stop()
        }
        out.debug(`${r.entries} entries written in ${formatDuration(r.durationMs)}`)
        await out.result(createJson(r, source), () => [
          `created ${archive}${r.payloadOutput ? ` + ${r.payloadOutput}` : ''} from ${source}`,
          `${r.files} files, ${r.dirs} dirs, ${r.symlinks} symlinks, ${r.hardlinks} hardlinks, ${r.special} special; ${formatBytes(r.bytes)} of file data${r.skipped ? `, ${r.skipped} skipped` : ''}`,
          `archive ${formatBytes(r.archiveSize)}${r.payloadSize !== undefined ? `, payload ${formatBytes(r.payloadSize)}` : ''}, duration ${formatDuration(r.durationMs)}`,
        ])
      }),
    )
}

function registerList(program: Command, ctx: Context): void {
  program
    .command('list')
    .description('list the entries of a local pxar archive (.pxar, or .mpxar of a split archive)')
    .argument('<archive>', 'archive file')
    .argument('[path]', 'only list this entry (and everything below it, for a directory)')
    .option('-l, --long', 'show mode, owner, size and modification time')
    .action(
      action(ctx, async (out, [a, p], opts: { long?: boolean }) => {
        const archive = userPath(a as string)
        const long = opts.long === true
        const src = await openReadAt(archive, 'archive')
        const list = out.list<Entry>(entryJson, (e) => entryLine(e, long))
        const progress = new Progress({
          label: 'list',
          stream: out.stderr,
          enabled: !out.quiet && out.stderr.isTTY === true,
        })
        progress.update({ totalBytes: src.size })
        try {
          if (p !== undefined) {
            const acc = await openAccessor(src)
            const start = await acc.lookup(p as string)
            if (!start) {
              throw new CliError('ERR_NOT_FOUND', `${p} not found in ${archive}`, {
                hint: 'list the archive without a path to see its entries',
              })
            }
            const walk = async (e: AccessorEntry): Promise<void> => {
              await list.push(e)
              progress.update({ entries: list.count })
              if (e.kind !== 'directory') return
              for await (const child of acc.readDir(e)) await walk(child)
            }
            await walk(start)
          } else {
            let pos = 0
            const stream = createReadStream(archive, { highWaterMark: 1 << 20 })
            stream.on('data', (b) => {
              pos += b.length
              progress.update({ bytes: pos })
            })
            for await (const e of decode(stream)) {
              if (e.kind === 'version' || e.kind === 'prelude') continue
              await list.push(e)
              progress.update({ entries: list.count })
            }
          }
          await list.close()
        } finally {
          progress.stop()
          await src.close()
        }
      }),
    )
}

interface ExtractOpts {
  payloadInput?: string
  pattern?: string[]
  filesFrom?: string
  overwrite?: boolean
  allowExistingDirs?: boolean
  xattrs: boolean
  acls: boolean
  fcaps: boolean
  deviceNodes: boolean
  fifos: boolean
  sockets: boolean
}

/** A ReadAt that counts what it reads. */
function counting(src: ReadAt, add: (n: number) => void): ReadAt {
  return {
    size: src.size,
    read: async (buf, position) => {
      const n = await src.read(buf, position)
      add(n)
      return n
    },
  }
}

async function extract(
  out: Output,
  archive: string,
  target: string,
  opts: ExtractOpts,
): Promise<RestoreResult> {
  await mustExist(archive, 'archive')
  const payloadPath =
    opts.payloadInput !== undefined
      ? userPath(opts.payloadInput)
      : archive.endsWith('.mpxar')
        ? `${archive.slice(0, -'.mpxar'.length)}.ppxar`
        : undefined
  if (payloadPath !== undefined && opts.payloadInput === undefined && !existsSync(payloadPath))
    throw new CliError('ENOENT', `payload ${payloadPath} of the split archive does not exist`, {
      hint: 'pass the .ppxar with --payload-input',
    })
  const match = [...(opts.pattern ?? [])]
  if (opts.filesFrom !== undefined) {
    const text = await readFile(userPath(opts.filesFrom), 'utf8')
    for (const line of text.split('\n')) if (line.trim() !== '') match.push(line.replace(/\r$/, ''))
  }
  const payload = payloadPath === undefined ? undefined : await openReadAt(payloadPath, 'payload')
  const { size: archiveSize } = await stat(archive)
  const progress = progressFor(out, 'extract')
  let done = 0
  let entries = 0
  const add = (n: number): void => {
    done += n
    progress.update({ bytes: done })
  }
  progress.update({ totalBytes: archiveSize + (payload?.size ?? 0) })
  try {
    return await interruptible(async (signal) => {
      const stream = createReadStream(archive, { highWaterMark: 1 << 20, signal })
      stream.on('data', (b) => add(b.length))
      return restoreArchive(
        { archive: stream, payload: payload ? counting(payload, add) : undefined },
        target,
        {
          overwrite: opts.overwrite === true,
          allowExistingDirs: opts.allowExistingDirs === true || opts.overwrite === true,
          ...(match.length > 0 ? { match } : {}),
          xattrs: opts.xattrs,
          acls: opts.acls,
          fcaps: opts.fcaps,
          fifos: opts.fifos,
          sockets: opts.sockets,
          ...(opts.deviceNodes ? {} : { devices: false }),
          onEntry: (p) => {
            entries++
            progress.update({ entries })
            if (out.verbose) out.debug(displayPath(p))
          },
          onWarning: (p, m) => out.warn(`${p}: ${m}`),
        },
      )
    })
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_RESTORE_EXISTS')
      throw new CliError('ERR_RESTORE_EXISTS', (err as Error).message, {
        hint: 'pass --overwrite to replace existing files, or --allow-existing-dirs to merge into directories',
        cause: err,
      })
    throw err
  } finally {
    progress.stop()
    await payload?.close()
  }
}

function registerExtract(program: Command, ctx: Context): void {
  program
    .command('extract')
    .description('extract a local pxar archive (.pxar, or .mpxar with its .ppxar) into a directory')
    .argument('<archive>', 'archive file')
    .argument('[target]', 'target directory (created if missing; default: the current directory)', '.')
    .option('--payload-input <file>', 'payload (.ppxar) of a split archive (default: beside the .mpxar)')
    .option('--pattern <glob>', 'only extract matching paths (repeatable; !glob deselects)', collect)
    .option('--files-from <file>', 'read match patterns from a file, one a line')
    .option('--overwrite', 'replace existing files (and extract into existing directories)')
    .option('--allow-existing-dirs', 'extract into directories that already exist')
    .option('--no-xattrs', 'do not restore extended attributes')
    .option('--no-acls', 'do not restore POSIX ACLs')
    .option('--no-fcaps', 'do not restore file capabilities')
    .option('--no-device-nodes', 'do not create device nodes (they are only created as root anyway)')
    .option('--no-fifos', 'do not create FIFOs')
    .option('--no-sockets', 'do not create sockets')
    .action(
      action(ctx, async (out, [a, t], opts: ExtractOpts) => {
        const archive = userPath(a as string)
        const target = userPath((t as string | undefined) ?? '.')
        const r = await extract(out, archive, target, opts)
        await out.result(
          extractJson(r, archive, target),
          () =>
            `extracted ${archive} to ${target}: ${r.files} files, ${r.dirs} dirs, ${formatBytes(r.bytes)} in ${formatDuration(r.durationMs)}`,
        )
      }),
    )
}

/** Registers the local archive commands: `create`, `list`, `extract`. */
export function registerArchiveCommands(program: Command, ctx: Context): void {
  registerCreate(program, ctx)
  registerList(program, ctx)
  registerExtract(program, ctx)
}
