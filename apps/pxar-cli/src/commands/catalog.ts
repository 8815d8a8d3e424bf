/**
 * `catalog dump SNAPSHOT` and `catalog find SNAPSHOT PATTERN`: the file list of a snapshot from
 * its `catalog.pcat1.didx`, read chunk by chunk from the local datastore.
 */
import { join } from 'node:path'
import {
  AsyncCatalogReader,
  CATALOG_NAME,
  type CatalogWalkEntry,
  type CryptConfig,
  IndexReadAt,
  readDynamicIndexFile,
} from '@pxar/datastore'
import type { Command } from 'commander'
import { action, type Context } from '../context.ts'
import { CliError } from '../errors.ts'
import { globToRegExp } from '../glob.ts'
import type { Output } from '../output.ts'
import {
  nsOption,
  openStore,
  parseNs,
  parseSnapshot,
  resolveSnapshot,
  snapshotName,
  storeOption,
} from '../store.ts'
import { loadKey } from './key.ts'

interface CatalogOpts {
  store?: string
  ns?: string
  keyfile?: string
}

async function openCatalog(
  snapshot: string,
  opts: CatalogOpts,
): Promise<{ reader: AsyncCatalogReader; name: string }> {
  const ds = await openStore(opts)
  const dir = await resolveSnapshot(ds, parseSnapshot(snapshot, parseNs(opts.ns), true))
  const manifest = await ds.readManifest(dir)
  const file = manifest.files.find((f) => f.filename === CATALOG_NAME)
  if (!file) {
    throw new CliError('ERR_NO_CATALOG', `snapshot ${snapshotName(dir)} has no ${CATALOG_NAME}`, {
      hint: 'only legacy (.pxar) backups have a catalog; see its archives with `pxar-cli files`',
    })
  }
  let crypt: CryptConfig | undefined
  if (file.cryptMode === 'encrypt') {
    if (!opts.keyfile) {
      throw new CliError('ERR_KEY_REQUIRED', `the catalog of ${snapshotName(dir)} is encrypted`, {
        hint: 'pass --keyfile with the key used for the backup',
      })
    }
    crypt = (await loadKey(opts.keyfile)).cryptConfig
  }
  const index = await readDynamicIndexFile(join(ds.snapshotDir(dir), CATALOG_NAME))
  const store = ds.chunkStore
  const readAt = new IndexReadAt(index, { read: (d) => store.read(d) }, crypt ? { crypt } : {})
  return { reader: await AsyncCatalogReader.open(readAt), name: snapshotName(dir) }
}

const dec = new TextDecoder()

function walkJson(e: CatalogWalkEntry): Record<string, unknown> {
  const out: Record<string, unknown> = { path: `/${dec.decode(e.path)}`, type: e.entry.type }
  if (e.entry.type === 'f') {
    out.size = e.entry.size
    out.mtime = e.entry.mtime
  }
  return out
}

async function dump(out: Output, snapshot: string, opts: CatalogOpts): Promise<void> {
  const { reader } = await openCatalog(snapshot, opts)
  if (!out.json) {
    for (const line of await reader.dump()) await out.write(`${line}\n`)
    return
  }
  const list = out.list<CatalogWalkEntry>(walkJson, () => '')
  for await (const e of reader.walk()) await list.push(e)
  await list.close()
}

/** Registers `catalog dump` and `catalog find`. */
export function registerCatalogCommands(program: Command, ctx: Context): void {
  const catalog = program.command('catalog').description("read a snapshot's catalog (file list)")
  catalog
    .command('dump')
    .description('print every entry of the catalog, as proxmox-backup-client catalog dump does')
    .argument('<snapshot>', 'snapshot TYPE/ID/TIME, or TYPE/ID for the latest')
    .option('--keyfile <path>', 'key of an encrypted backup')
    .addOption(storeOption())
    .addOption(nsOption())
    .action(action(ctx, (out, [s], opts: CatalogOpts) => dump(out, s as string, opts)))

  catalog
    .command('find')
    .description(
      'print the paths matching a glob pattern (*, ?, [..], **; without a / it matches file names)',
    )
    .argument('<snapshot>', 'snapshot TYPE/ID/TIME, or TYPE/ID for the latest')
    .argument('<pattern>', "glob pattern, e.g. '*.conf' or '/etc/**'")
    .option('--keyfile <path>', 'key of an encrypted backup')
    .addOption(storeOption())
    .addOption(nsOption())
    .action(
      action(ctx, async (out, [s, p], opts: CatalogOpts) => {
        const pattern = p as string
        const re = globToRegExp(pattern)
        const byName = !pattern.includes('/')
        const { reader } = await openCatalog(s as string, opts)
        const list = out.list<CatalogWalkEntry>(walkJson, (e) => `/${dec.decode(e.path)}`)
        for await (const e of reader.walk()) {
          const path = `/${dec.decode(e.path)}`
          const subject = byName ? dec.decode(e.entry.name) : path
          if (re.test(subject)) await list.push(e)
        }
        await list.close()
      }),
    )
}
