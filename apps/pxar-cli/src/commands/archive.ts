/**
 * Local pxar archives, like the `pxar` tool: `list ARCHIVE [PATH] [--long]`.
 */
import { createReadStream, existsSync } from 'node:fs'
import { type AccessorEntry, decode, type Entry, openAccessor } from '@pxar/codec'
import type { Command } from 'commander'
import { action, type Context } from '../context.ts'
import { entryJson, entryLine } from '../entries.ts'
import { CliError } from '../errors.ts'
import { openReadAt } from '../files.ts'
import { userPath } from '../paths.ts'
import { Progress } from '../progress.ts'

/** The `.ppxar` beside a `.mpxar`, if it exists. */
export function payloadBeside(archive: string): string | undefined {
  if (!archive.endsWith('.mpxar')) return undefined
  const p = `${archive.slice(0, -'.mpxar'.length)}.ppxar`
  return existsSync(p) ? p : undefined
}

/** Registers the local archive commands. */
export function registerArchiveCommands(program: Command, ctx: Context): void {
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
        const progress = new Progress({ label: 'list', enabled: !out.quiet && process.stderr.isTTY === true })
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
