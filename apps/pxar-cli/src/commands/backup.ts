/**
 * `backup`, `restore` and `agent`: the pull-mode backup engine of @pxar/proxy driven
 * from the command line.
 */
import { randomBytes } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import {
  type BackupDir,
  CRYPT_MODES,
  type CryptConfig,
  type CryptMode,
  formatBackupTime,
} from '@pxar/datastore'
import {
  type BackupResult,
  type FileSystemSource,
  LocalStore,
  openSource,
  type RemoteStore,
  type RestoreOptions,
  type RestoreResult,
  restoreArchive,
  restoreSnapshot,
  runBackup,
  startAgent,
} from '@pxar/proxy'
import { type Command, Option } from 'commander'
import { action, type Context } from '../context.ts'
import { CliError, usageError } from '../errors.ts'
import { formatBytes, formatDuration } from '../output.ts'
import { configDir, defaultKeyPath, userPath } from '../paths.ts'
import { Progress } from '../progress.ts'
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
  type SnapshotSpec,
  snapshotName,
  storeOption,
} from '../store.ts'
import { findMasterPubkey, loadKey, RSA_KEY_BLOB_NAME, rsaEncryptedKeyBlob } from './key.ts'

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

interface BackupOpts {
  store?: string
  ns?: string
  backupId?: string
  backupType: 'host' | 'ct' | 'vm'
  mode: 'legacy' | 'data' | 'metadata'
  keyfile?: string
  cryptMode?: CryptMode
  masterPubkeyFile?: string
  exclude?: string[]
  archiveName: string
  allFileSystems?: boolean
  pxarexclude: boolean
  token?: string
  fingerprint?: string
}

async function openBackupSource(
  source: string,
  opts: BackupOpts,
): Promise<{ src: FileSystemSource; id: string }> {
  const m = /^https:\/\/([^/]+)\/([^/]+)\/?$/.exec(source)
  if (m) {
    const token = opts.token ?? process.env.PXAR_AGENT_TOKEN
    if (!token)
      throw usageError('backing up from an agent needs its token', 'pass --token or set PXAR_AGENT_TOKEN')
    return {
      src: await openSource({
        kind: 'agent',
        url: `https://${m[1]}`,
        token,
        root: m[2]!,
        ...(opts.fingerprint ? { fingerprint: opts.fingerprint } : {}),
      }),
      id: m[2]!,
    }
  }
  const root = userPath(source)
  const st = await stat(root).catch((err: { code?: string }) => {
    if (err.code === 'ENOENT')
      throw new CliError('ENOENT', `backup source ${root} does not exist`, { hint: 'check the path' })
    throw err
  })
  if (!st.isDirectory())
    throw new CliError('ENOTDIR', `backup source ${root} is not a directory`, { hint: 'pass a directory' })
  const base = root.split('/').filter(Boolean).pop() ?? 'root'
  return {
    src: await openSource({ kind: 'local', root }),
    id: base.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[.-]/, '_'),
  }
}

function backupJson(r: BackupResult, uploadedChunks: number | undefined): Record<string, unknown> {
  return {
    snapshot: r.snapshot,
    archives: r.archives,
    files: r.files,
    dirs: r.dirs,
    entries: r.entries,
    bytes: r.bytes,
    bytesRead: r.bytesRead,
    reusedBytes: r.reusedBytes,
    uploadedBytes: r.uploadedBytes,
    ...(uploadedChunks === undefined ? {} : { uploadedChunks }),
    skipped: r.skipped,
    durationMs: r.durationMs,
  }
}

function restoreJson(r: RestoreResult, target: string): Record<string, unknown> {
  return {
    target,
    entries: r.entries,
    files: r.files,
    dirs: r.dirs,
    bytes: r.bytes,
    durationMs: r.durationMs,
  }
}

function restoreOptions(
  opts: { overwrite?: boolean; allowExistingDirs?: boolean; pattern?: string[]; noXattrs?: boolean },
  warn: (p: string, m: string) => void,
): RestoreOptions {
  return {
    overwrite: opts.overwrite === true,
    allowExistingDirs: opts.allowExistingDirs === true || opts.overwrite === true,
    ...(opts.pattern && opts.pattern.length > 0 ? { match: opts.pattern } : {}),
    ...(opts.noXattrs ? { xattrs: false } : {}),
    onWarning: warn,
  }
}

function restoreFlags(cmd: Command): Command {
  return cmd
    .option('--pattern <glob>', 'only restore matching paths (repeatable; !glob excludes)', collect)
    .option('--overwrite', 'replace existing files (and restore into existing directories)')
    .option('--allow-existing-dirs', 'restore into directories that already exist')
    .option('--no-xattrs', 'do not restore xattrs, ACLs and file capabilities')
}

/**
 * Restores an archive of a remote snapshot through the reader protocol: the metadata (or v1)
 * stream with chunks fetched ahead in parallel, the payload of a split archive as a `ReadAt`
 * over the remote `.ppxar.didx`.
 */
async function restoreRemote(
  repo: RemoteRepository,
  spec: SnapshotSpec,
  archiveArg: string,
  target: string,
  options: RestoreOptions & { crypt?: CryptConfig; quiet: boolean },
): Promise<{ dir: BackupDir; archive: string; result: RestoreResult }> {
  const dir = await resolveRemoteSnapshot(repo, spec)
  const reader = await openRemoteReader(repo, dir, options.crypt)
  try {
    const manifest = await reader.manifest()
    let archive = archiveArg.endsWith('.didx') ? archiveArg : `${archiveArg}.didx`
    if (!/\.(pxar|mpxar)\.didx$/.test(archive)) {
      const hit = manifest.files.find(
        (f) => f.filename === `${archiveArg}.pxar.didx` || f.filename === `${archiveArg}.mpxar.didx`,
      )
      if (!hit)
        throw usageError(
          `${archiveArg} is not a pxar archive of ${snapshotName(dir)}`,
          'see `pxar-cli files SNAPSHOT --repository …`',
        )
      archive = hit.filename
    }
    if (!manifest.files.some((f) => f.filename === archive))
      throw new CliError(
        'ERR_SNAPSHOT_NOT_FOUND',
        `snapshot ${snapshotName(dir)} has no archive ${archive}`,
        {
          hint: 'see `pxar-cli files SNAPSHOT --repository …`',
        },
      )
    const payload = archive.endsWith('.mpxar.didx')
      ? await reader.readAt(archive.replace(/\.mpxar\.didx$/, '.ppxar.didx'))
      : undefined
    // progress: bytes fetched over the reader protocol (encoded chunk bytes)
    const progress = new Progress({ label: 'restore', enabled: !options.quiet, entries: false })
    const report = (): void =>
      progress.update({
        bytes: reader.stats.chunkBytes,
        detail: `${reader.stats.chunkDownloads} chunks fetched`,
      })
    const tick = setInterval(report, 500)
    tick.unref()
    try {
      const result = await restoreArchive(
        { archive: reader.restore(archive, { ahead: 16 }), payload },
        target,
        options,
      )
      return { dir, archive, result }
    } finally {
      clearInterval(tick)
      report()
      progress.stop()
    }
  } finally {
    await reader.close()
  }
}

/** Registers `backup`, `restore` and `agent`. */
export function registerBackupCommands(program: Command, ctx: Context): void {
  program
    .command('backup')
    .description(
      'back up a directory (or an agent root https://HOST:PORT/ROOT) into the local datastore or a repository',
    )
    .argument('<source>', 'directory, or https://HOST:PORT/ROOT of a `pxar-cli agent`')
    .addOption(storeOption())
    .addOption(repositoryOption())
    .addOption(nsOption())
    .option('--backup-id <id>', 'backup id (default: the source directory name)')
    .addOption(
      new Option('--backup-type <type>', 'backup type').choices(['host', 'ct', 'vm']).default('host'),
    )
    .addOption(
      new Option(
        '--mode <mode>',
        'legacy: one .pxar; data/metadata: split .mpxar+.ppxar (metadata reuses unchanged files)',
      )
        .choices(['legacy', 'data', 'metadata'])
        .default('legacy'),
    )
    .option('--archive-name <name>', 'archive base name', 'root')
    .option('--keyfile <path>', 'encryption key file (default key used when --crypt-mode needs one)')
    .addOption(new Option('--crypt-mode <mode>', 'none, encrypt or sign-only').choices(CRYPT_MODES))
    .option(
      '--master-pubkey-file <path>',
      'also store the key wrapped for this RSA master public key (default: PBS_MASTER_PUBKEY[_FILE|_FD] or ~/.config/proxmox-backup/master-public.pem when present)',
    )
    .option('--exclude <pattern>', 'exclude matching paths (repeatable, .pxarexclude syntax)', collect)
    .option('--no-pxarexclude', 'ignore .pxarexclude files')
    .option('--all-file-systems', 'descend into other mounted file systems')
    .option('--token <token>', 'agent token (or PXAR_AGENT_TOKEN)')
    .option('--fingerprint <sha256>', 'agent certificate fingerprint to pin (as the agent prints it)')
    .action(
      action(ctx, async (out, [source], opts: BackupOpts, cmd) => {
        const target = resolveTarget(cmd)
        const cryptMode: CryptMode = opts.cryptMode ?? (opts.keyfile ? 'encrypt' : 'none')
        const keyPath = opts.keyfile ? userPath(opts.keyfile) : defaultKeyPath()
        const loaded = cryptMode === 'none' ? undefined : await loadKey(keyPath)
        const key = loaded?.cryptConfig
        // as proxmox-backup-client: with a key, also store it wrapped for the master key if one is set up
        const master = loaded ? await findMasterPubkey(opts.masterPubkeyFile) : undefined
        const extraBlobs =
          loaded && master
            ? [{ name: RSA_KEY_BLOB_NAME, blob: await rsaEncryptedKeyBlob(keyPath, loaded, master.pem) }]
            : []
        if (!loaded && opts.masterPubkeyFile !== undefined)
          throw usageError(
            '--master-pubkey-file needs an encrypted or signed backup (--keyfile/--crypt-mode)',
          )
        const repo = target.kind === 'remote' ? await openRepository(target.repository) : undefined
        const { src, id } = await openBackupSource(source as string, opts)
        const where = repo ? repo.label : target.kind === 'local' ? target.path : ''
        // count the chunk uploads of the remote session(s)
        const sessions: { stats: { chunkUploads: number } }[] = []
        let store: RemoteStore
        if (repo) {
          store = {
            beginBackup: async (o) => {
              const s = await repo.remote.beginBackup(o)
              sessions.push(s)
              return s
            },
          }
        } else store = await LocalStore.open(where, { create: true })
        const progress = new Progress({
          label: 'backup',
          enabled: !out.quiet && !(out.json && !process.stderr.isTTY),
        })
        let result: BackupResult
        try {
          const run = (): Promise<BackupResult> =>
            runBackup(src, {
              store,
              backupId: opts.backupId ?? id,
              backupType: opts.backupType,
              ns: parseNs(opts.ns),
              mode: opts.mode,
              archiveName: opts.archiveName,
              cryptMode,
              ...(key ? { key } : {}),
              extraBlobs,
              exclude: opts.exclude ?? [],
              pxarexclude: opts.pxarexclude,
              oneFileSystem: opts.allFileSystems !== true,
              onProgress: (p) =>
                progress.update({
                  entries: p.entries,
                  bytes: p.bytesRead,
                  detail: `${formatBytes(p.bytesUploaded)} uploaded, ${formatBytes(p.bytesReused)} reused`,
                }),
              onSkip: (p, code, message) =>
                out.warn(`skipped ${Buffer.from(p).toString()}: ${code} ${message}`),
            })
          result = repo ? await withRemote(repo, run) : await run()
        } finally {
          progress.stop()
          await src.close()
        }
        const uploadedChunks = repo ? sessions.reduce((a, s) => a + s.stats.chunkUploads, 0) : undefined
        await out.result(backupJson(result, uploadedChunks), () => [
          `snapshot ${result.snapshot} in ${where}`,
          `archives: ${result.archives.join(', ')}`,
          `${result.files} files, ${result.dirs} dirs, ${formatBytes(result.bytes)} (${formatBytes(result.bytesRead)} read, ${formatBytes(result.reusedBytes)} reused, ${formatBytes(result.uploadedBytes)} uploaded after dedup)${result.skipped ? `, ${result.skipped} skipped` : ''}`,
          `duration: ${formatDuration(result.durationMs)}`,
        ])
      }),
    )

  restoreFlags(
    program
      .command('restore')
      .description(
        'restore an archive of a snapshot (TYPE/ID/TIME, or TYPE/ID for the latest) into a directory',
      )
      .argument('<snapshot>', 'snapshot TYPE/ID/TIME or group TYPE/ID')
      .argument('<archive>', 'archive name as stored (root.pxar.didx, root.mpxar.didx) or without .didx')
      .argument('<target>', 'target directory (created if missing)')
      .addOption(storeOption())
      .addOption(repositoryOption())
      .addOption(nsOption())
      .option('--keyfile <path>', 'key of an encrypted backup'),
  ).action(
    action(
      ctx,
      async (
        out,
        [s, a, t],
        opts: { store?: string; ns?: string; keyfile?: string } & Parameters<typeof restoreOptions>[0],
        cmd,
      ) => {
        const where = resolveTarget(cmd)
        const spec = parseSnapshot(s as string, parseNs(opts.ns), true)
        let archive = a as string
        if (archive.endsWith('.ppxar') || archive.endsWith('.ppxar.didx'))
          archive = archive.replace(/\.ppxar(\.didx)?$/, '.mpxar')
        const crypt = opts.keyfile ? (await loadKey(userPath(opts.keyfile))).cryptConfig : undefined
        const target = userPath(t as string)
        if (where.kind === 'remote') {
          const repo = await openRepository(where.repository)
          const r = await withRemote(repo, () =>
            restoreRemote(repo, spec, archive, target, {
              ...restoreOptions(opts, (p, m) => out.warn(`${p}: ${m}`)),
              ...(crypt ? { crypt } : {}),
              quiet: out.quiet || (out.json && !process.stderr.isTTY),
            }),
          )
          await out.result(
            { snapshot: snapshotName(r.dir), archive: r.archive, ...restoreJson(r.result, target) },
            () =>
              `restored ${snapshotName(r.dir)} ${r.archive} from ${repo.label} to ${target}: ${r.result.files} files, ${r.result.dirs} dirs, ${formatBytes(r.result.bytes)} in ${formatDuration(r.result.durationMs)}`,
          )
          return
        }
        const ds = await openStore(opts)
        const dir = await resolveSnapshot(ds, spec)
        if (!/\.(pxar|mpxar)(\.didx)?$/.test(archive)) {
          const m = await ds.readManifest(dir)
          const hit = m.files.find(
            (f) => f.filename === `${archive}.pxar.didx` || f.filename === `${archive}.mpxar.didx`,
          )
          if (!hit)
            throw usageError(
              `${archive} is not a pxar archive of ${snapshotName(dir)}`,
              'see `pxar-cli files SNAPSHOT`',
            )
          archive = hit.filename
        }
        const progress = new Progress({
          label: 'restore',
          enabled: !out.quiet && !(out.json && !process.stderr.isTTY),
        })
        let r: RestoreResult
        try {
          r = await restoreSnapshot(ds, dir, archive, target, {
            ...restoreOptions(opts, (p, m) => out.warn(`${p}: ${m}`)),
            ...(crypt ? { crypt } : {}),
          })
        } finally {
          progress.stop()
        }
        await out.result(
          { snapshot: snapshotName(dir), archive, ...restoreJson(r, target) },
          () =>
            `restored ${snapshotName(dir)} ${archive} to ${target}: ${r.files} files, ${r.dirs} dirs, ${formatBytes(r.bytes)} in ${formatDuration(r.durationMs)}`,
        )
      },
    ),
  )

  program
    .command('agent')
    .description(
      'serve directories to a backup server over HTTP/2 + TLS (self-signed certificate, bearer token)',
    )
    .requiredOption('--root <dir>', 'directory to serve as NAME=DIR or DIR (repeatable)', collect)
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:8008')
    .option('--token <token>', 'bearer token clients must present (default: generated, or PXAR_AGENT_TOKEN)')
    .option('--cert-dir <dir>', 'where agent.pem/agent.key live (created on first start)')
    .action(
      action(
        ctx,
        async (out, _args, opts: { root: string[]; listen: string; token?: string; certDir?: string }) => {
          const roots: Record<string, string> = {}
          for (const r of opts.root) {
            const eq = r.indexOf('=')
            const dir = userPath(eq > 0 ? r.slice(eq + 1) : r)
            const name = eq > 0 ? r.slice(0, eq) : (dir.split('/').filter(Boolean).pop() ?? 'root')
            roots[name] = dir
          }
          const m = /^(.*):(\d+)$/.exec(opts.listen)
          if (!m)
            throw usageError(`invalid --listen '${opts.listen}'`, 'expected HOST:PORT, e.g. 127.0.0.1:8008')
          const token = opts.token ?? process.env.PXAR_AGENT_TOKEN ?? randomBytes(24).toString('base64url')
          const agent = await startAgent({
            roots,
            listen: { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) },
            token,
            certDir: opts.certDir ? userPath(opts.certDir) : join(configDir(), '..', 'pxar', 'agent'),
          })
          const shown = (opts.token ?? process.env.PXAR_AGENT_TOKEN) ? '(as given)' : token
          await out.result(
            { url: agent.url, fingerprint: agent.fingerprint, roots: Object.keys(roots), token: shown },
            () => [
              `agent listening on ${agent.url}`,
              `fingerprint: ${agent.fingerprint}`,
              `token: ${shown}`,
              ...Object.keys(roots).map(
                (n) =>
                  `back up with: pxar-cli backup ${agent.url}/${n} --fingerprint ${agent.fingerprint} --token …`,
              ),
            ],
          )
          await new Promise<void>((resolve) => {
            const stop = (): void => {
              process.off('SIGINT', stop)
              process.off('SIGTERM', stop)
              void agent.close().then(resolve)
            }
            process.on('SIGINT', stop)
            process.on('SIGTERM', stop)
          })
        },
      ),
    )
  void formatBackupTime
  void readFile
}
