/**
 * `catalog dump SNAPSHOT` and `catalog find SNAPSHOT PATTERN`: the file list of a snapshot from
 * its `catalog.pcat1.didx`, read chunk by chunk from the local datastore.
 */
import { join } from 'node:path'
import {
  AsyncCatalogReader,
  type BackupDir,
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
import { openRemoteReader, resolveRemoteSnapshot } from '../remote.ts'
import {
  openRepository,
  type RemoteRepository,
  repositoryOption,
  resolveTarget,
  withRemote,
} from '../repository.ts'
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

function noCatalog(dir: BackupDir): CliError {
  return new CliError('ERR_NO_CATALOG', `snapshot ${snapshotName(dir)} has no ${CATALOG_NAME}`, {
    hint: 'only legacy (.pxar) backups have a catalog; see its archives with `pxar-cli files`',
  })
}

function keyRequired(dir: BackupDir): CliError {
  return new CliError('ERR_KEY_REQUIRED', `the catalog of ${snapshotName(dir)} is encrypted`, {
    hint: 'pass --keyfile with the key used for the backup',
  })
}

/** The catalog of a remote snapshot, read chunk by chunk over the reader protocol. */
async function openRemoteCatalog(
  repo: RemoteRepository,
  snapshot: string,
  opts: CatalogOpts,
): Promise<{ reader: AsyncCatalogReader; name: string; close: () => Promise<void> }> {
  const dir = await resolveRemoteSnapshot(repo, parseSnapshot(snapshot, parseNs(opts.ns), true))
  const crypt = opts.keyfile ? (await loadKey(opts.keyfile)).cryptConfig : undefined
  const session = await openRemoteReader(repo, dir, crypt)
  try {
    const file = (await session.manifest()).files.find((f) => f.filename === CATALOG_NAME)
    if (!file) throw noCatalog(dir)
    if (file.cryptMode === 'encrypt' && !crypt) throw keyRequired(dir)
    const readAt = await session.readAt(CATALOG_NAME)
    return {
      reader: await AsyncCatalogReader.open(readAt),
      name: snapshotName(dir),
      close: () => session.close(),
    }
  } catch (err) {
    await session.close()
    throw err
  }
}

async function openCatalog(
  snapshot: string,
  opts: CatalogOpts,
  cmd: Command,
): Promise<{ reader: AsyncCatalogReader; name: string; close: () => Promise<void> }> {
  const target = resolveTarget(cmd)
  if (target.kind === 'remote') {
    const repo = await openRepository(target.repository)
    return withRemote(repo, () => openRemoteCatalog(repo, snapshot, opts))
  }
  const ds = await openStore(opts)
  const dir = await resolveSnapshot(ds, parseSnapshot(snapshot, parseNs(opts.ns), true))
  const manifest = await ds.readManifest(dir)
  const file = manifest.files.find((f) => f.filename === CATALOG_NAME)
  if (!file) throw noCatalog(dir)
  let crypt: CryptConfig | undefined
  if (file.cryptMode === 'encrypt') {
    if (!opts.keyfile) throw keyRequired(dir)
    crypt = (await loadKey(opts.keyfile)).cryptConfig
  }
  const index = await readDynamicIndexFile(join(ds.snapshotDir(dir), CATALOG_NAME))
  const store = ds.chunkStore
  const readAt = new IndexReadAt(index, { read: (d) => store.read(d) }, crypt ? { crypt } : {})
  return { reader: await AsyncCatalogReader.open(readAt), name: snapshotName(dir), close: async () => {} }
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

async function dump(out: Output, snapshot: string, opts: CatalogOpts, cmd: Command): Promise<void> {
  const { reader, close } = await openCatalog(snapshot, opts, cmd)
  try {
    if (!out.json) {
      for (const line of await reader.dump()) await out.write(`${line}\n`)
      return
    }
    const list = out.list<CatalogWalkEntry>(walkJson, () => '')
    for await (const e of reader.walk()) await list.push(e)
    await list.close()
  } finally {
    await close()
  }
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
    .addOption(repositoryOption())
    .addOption(nsOption())
    .action(action(ctx, (out, [s], opts: CatalogOpts, cmd) => dump(out, s as string, opts, cmd)))

  catalog
    .command('find')
    .description(
      'print the paths matching a glob pattern (*, ?, [..], **; without a / it matches file names)',
    )
    .argument('<snapshot>', 'snapshot TYPE/ID/TIME, or TYPE/ID for the latest')
    .argument('<pattern>', "glob pattern, e.g. '*.conf' or '/etc/**'")
    .option('--keyfile <path>', 'key of an encrypted backup')
    .addOption(storeOption())
    .addOption(repositoryOption())
    .addOption(nsOption())
    .action(
      action(ctx, async (out, [s, p], opts: CatalogOpts, cmd) => {
        const pattern = p as string
        const re = globToRegExp(pattern)
        const byName = !pattern.includes('/')
        const { reader, close } = await openCatalog(s as string, opts, cmd)
        try {
          const list = out.list<CatalogWalkEntry>(walkJson, (e) => `/${dec.decode(e.path)}`)
          for await (const e of reader.walk()) {
            const path = `/${dec.decode(e.path)}`
            const subject = byName ? dec.decode(e.entry.name) : path
            if (re.test(subject)) await list.push(e)
          }
          await list.close()
        } finally {
          await close()
        }
      }),
    )
}
