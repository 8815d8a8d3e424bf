/**
 * `mount`: a read-only FUSE mount of a local `.pxar` file, a split `.mpxar` + `.ppxar` pair, or
 * an archive of a snapshot in a local datastore or on a server (`--repository`). It blocks until
 * the mount is removed from outside (`fusermount -u`) or the process is interrupted
 * (SIGINT/SIGTERM unmount cleanly and exit 0).
 */
import { spawn } from 'node:child_process'
import { constants as fsConstants } from 'node:fs'
import { access, readdir, stat } from 'node:fs/promises'
import { type BackupDir, type BackupManifest, CryptConfig, checkManifestFingerprint } from '@pxar/datastore'
import { isPxarError } from '@pxar/format'
import type { MountSource } from '@pxar/fuse'
import { listSnapshots, PbsReader } from '@pxar/pbs-client'
import type { Command } from 'commander'
import { action, type Context } from '../context.ts'
import { CliError, describeError, type ErrorReport, usageError } from '../errors.ts'
import type { Output } from '../output.ts'
import { passwordFromEnv, readPassword } from '../password.ts'
import { userPath } from '../paths.ts'
import {
  openRepository,
  REPOSITORY_PASSWORD_ENV,
  remoteError,
  repositoryOption,
  resolveTarget,
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

/** Options of `mount`. */
interface MountOpts {
  store?: string
  repository?: string
  ns?: string
  keyfile?: string
  payload?: string
  allowOther?: boolean
  daemon?: boolean
}

/** Environment variable marking the detached child of `mount --daemon`. */
const DAEMON_ENV = 'PXAR_MOUNT_DAEMON'

/** What the parent of `mount --daemon` resolved on the terminal and hands to the child over IPC. */
interface DaemonSecrets {
  /** Raw encryption key of `--keyfile`. */
  readonly key?: number[] | undefined
  /** Password or token secret of `--repository`. */
  readonly password?: string | undefined
}

/** Messages of the daemon child to its parent. */
type DaemonReport =
  | { readonly mounted: Record<string, unknown>; readonly label: string; readonly mountpoint: string }
  | { readonly error: ErrorReport }

/** The FUSE device the mount needs. */
const FUSE_DEVICE = '/dev/fuse'

/** Checks `/dev/fuse` and the mountpoint before anything is opened: one-line errors. */
async function checkMountpoint(mountpoint: string): Promise<void> {
  try {
    await access(FUSE_DEVICE, fsConstants.R_OK | fsConstants.W_OK)
  } catch {
    throw new CliError('ERR_FUSE_UNAVAILABLE', `${FUSE_DEVICE} is missing or not accessible`, {
      hint: 'load the fuse module (modprobe fuse) or run the container with --device /dev/fuse',
    })
  }
  // loaded on use: the FUSE binding costs every other command start-up time
  const { isMounted } = await import('@pxar/fuse')
  if (await isMounted(mountpoint)) {
    throw new CliError('ERR_FUSE_MOUNT', `mountpoint ${mountpoint} is busy (something is mounted there)`, {
      hint: `unmount it first (fusermount -u ${mountpoint}) or choose another directory`,
    })
  }
  let st: Awaited<ReturnType<typeof stat>>
  try {
    st = await stat(mountpoint)
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') {
      throw new CliError('ERR_FUSE_MOUNT', `mountpoint ${mountpoint} does not exist`, {
        hint: 'create an empty directory to mount on',
      })
    }
    throw err
  }
  if (!st.isDirectory()) {
    throw new CliError('ERR_FUSE_MOUNT', `mountpoint ${mountpoint} is not a directory`, {
      hint: 'pass an empty directory',
    })
  }
  if ((await readdir(mountpoint)).length > 0) {
    throw new CliError('ERR_FUSE_MOUNT', `mountpoint ${mountpoint} is not empty`, {
      hint: 'mount on an empty directory (its contents would be hidden)',
    })
  }
}

/** An existing local file, or a one-line error naming it. */
async function requireFile(path: string, what: string, hint: string): Promise<void> {
  let st: Awaited<ReturnType<typeof stat>>
  try {
    st = await stat(path)
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT')
      throw new CliError('ENOENT', `${what} ${path} does not exist`, { hint })
    throw err
  }
  if (st.isDirectory()) throw new CliError('EISDIR', `${what} ${path} is a directory`, { hint })
}

/** The source of `mount FILE MOUNTPOINT`. */
async function fileSource(file: string, opts: MountOpts): Promise<MountSource> {
  let path = userPath(file)
  if (opts.keyfile !== undefined)
    throw usageError('--keyfile applies to snapshots only', 'archive files are not encrypted')
  // the payload half of a split pair names its metadata file
  if (path.endsWith('.ppxar') && opts.payload === undefined) {
    opts = { ...opts, payload: path }
    path = `${path.slice(0, -'.ppxar'.length)}.mpxar`
  }
  await requireFile(path, 'archive', 'check the path')
  if (path.endsWith('.mpxar') || opts.payload !== undefined) {
    let payload: string
    if (opts.payload !== undefined) payload = userPath(opts.payload)
    else payload = `${path.slice(0, -'.mpxar'.length)}.ppxar`
    await requireFile(payload, 'payload file', 'pass the .ppxar of this split archive with --payload')
    return { kind: 'split', metadata: path, payload }
  }
  return { kind: 'pxar', path }
}

/**
 * The manifest's name of a pxar archive: `root.pxar(.didx)`, `root.mpxar(.didx)`, its
 * `.ppxar`, or a bare base name (`root`) looked up in the manifest.
 */
function archiveName(manifest: BackupManifest, archive: string, snapshot: string): string {
  let name = archive.replace(/\.ppxar(\.didx)?$/, '.mpxar')
  if (/\.(pxar|mpxar)$/.test(name)) name = `${name}.didx`
  const files = manifest.files.map((f) => f.filename)
  if (/\.(pxar|mpxar)\.didx$/.test(name)) {
    if (files.includes(name)) return name
  } else {
    const hit = files.find((f) => f === `${name}.pxar.didx` || f === `${name}.mpxar.didx`)
    if (hit) return hit
    if (files.includes(name))
      throw usageError(`${name} of ${snapshot} is not a pxar archive`, 'see `pxar-cli files SNAPSHOT`')
  }
  throw new CliError('ERR_SNAPSHOT_NOT_FOUND', `archive ${archive} not found in ${snapshot}`, {
    hint: `the pxar archives are: ${files.filter((f) => /\.(pxar|mpxar)\.didx$/.test(f)).join(', ') || 'none'}`,
  })
}

/** Maps key problems surfacing from the manifest or the chunks to one line. */
function keyError(err: unknown, keyfile: string | undefined): unknown {
  if (!isPxarError(err)) return err
  if (err.code === 'ERR_MANIFEST_FINGERPRINT' || err.code === 'ERR_MANIFEST_SIGNATURE') {
    return new CliError(
      'ERR_KEY_MISMATCH',
      keyfile === undefined
        ? `the snapshot is encrypted or signed: ${err.message}`
        : `the key ${keyfile} does not match the snapshot: ${err.message}`,
      {
        hint: keyfile === undefined ? 'pass --keyfile' : 'pass the key the backup was made with',
        cause: err,
      },
    )
  }
  if (err.code === 'ERR_BLOB_NO_KEY') {
    return new CliError('ERR_BLOB_NO_KEY', `the archive is encrypted: ${err.message}`, {
      hint: 'pass --keyfile',
      cause: err,
    })
  }
  if (err.code === 'ERR_BLOB_DECRYPT' || err.code === 'ERR_CHUNK_DIGEST') {
    return new CliError('ERR_KEY_MISMATCH', `cannot decrypt the archive: ${err.message}`, {
      hint: 'pass the key the backup was made with',
      cause: err,
    })
  }
  return err
}

/** What to mount and how to describe it. */
interface Plan {
  readonly source: MountSource
  readonly label: string
  readonly json: Record<string, unknown>
}

async function localSnapshotPlan(
  snapshot: string,
  archive: string,
  opts: MountOpts,
  crypt: CryptConfig | undefined,
): Promise<Plan> {
  const ds = await openStore(opts)
  const dir: BackupDir = await resolveSnapshot(ds, parseSnapshot(snapshot, parseNs(opts.ns), true))
  const name = snapshotName(dir)
  let manifest: BackupManifest
  try {
    manifest = await ds.readManifest(dir, crypt ? { key: crypt } : {})
    checkManifestFingerprint(manifest, crypt)
  } catch (err) {
    if (isPxarError(err) && err.code === 'ERR_SNAPSHOT_NOT_FOUND') {
      throw new CliError('ERR_SNAPSHOT_NOT_FOUND', `snapshot ${name} not found`, {
        hint: 'list the available snapshots with `pxar-cli snapshots`',
        cause: err,
      })
    }
    throw keyError(err, opts.keyfile)
  }
  const file = archiveName(manifest, archive, name)
  return {
    source: { kind: 'datastore', store: ds, snapshot: dir, archive: file, crypt },
    label: `${name} ${file}`,
    json: { snapshot: name, archive: file },
  }
}

async function remoteSnapshotPlan(
  repository: string,
  snapshot: string,
  archive: string,
  opts: MountOpts,
  crypt: CryptConfig | undefined,
  secrets: DaemonSecrets | undefined,
): Promise<Plan> {
  const repo = await openRepository(
    repository,
    secrets === undefined
      ? {}
      : {
          env: { ...process.env, [REPOSITORY_PASSWORD_ENV]: secrets.password },
          prompt: false,
        },
  )
  let reader: PbsReader | undefined
  try {
    const spec = parseSnapshot(snapshot, parseNs(opts.ns), true)
    let dir: BackupDir
    if ('dir' in spec) dir = spec.dir
    else {
      const { group } = spec
      const list = await listSnapshots(repo.client, repo.store, {
        ns: group.ns,
        type: group.type,
        id: group.id,
      })
      const last = list.filter((s) => s.files.some((f) => f.filename === 'index.json.blob')).pop()
      if (!last) {
        throw new CliError(
          'ERR_SNAPSHOT_NOT_FOUND',
          `group ${group.type}/${group.id} has no snapshots in ${repo.label}`,
          { hint: 'list the available snapshots with `pxar-cli snapshots --repository …`' },
        )
      }
      dir = { ...group, time: last['backup-time'] }
    }
    const name = snapshotName(dir)
    reader = await PbsReader.open(repo.client, repo.store, dir, crypt ? { crypt } : {})
    let manifest: BackupManifest
    try {
      manifest = await reader.manifest()
    } catch (err) {
      throw keyError(err, opts.keyfile)
    }
    const file = archiveName(manifest, archive, name)
    return {
      source: { kind: 'pbs', reader, archive: file, crypt },
      label: `${repo.label} ${name} ${file}`,
      json: { repository: repo.label, snapshot: name, archive: file },
    }
  } catch (err) {
    await reader?.close().catch(() => {})
    throw remoteError(err, repo)
  }
}

/** Registers `mount`. */
export function registerMountCommands(program: Command, ctx: Context): void {
  program
    .command('mount')
    .description(
      'mount an archive read-only (FUSE) until interrupted or unmounted: ARCHIVE.pxar MOUNTPOINT, ' +
        'ARCHIVE.mpxar MOUNTPOINT, or SNAPSHOT ARCHIVE MOUNTPOINT (SNAPSHOT as TYPE/ID/TIME, or TYPE/ID for the latest)',
    )
    .argument('<archive-or-snapshot>', 'a .pxar/.mpxar file, or a snapshot TYPE/ID/TIME or TYPE/ID')
    .argument(
      '<mountpoint-or-archive>',
      'the mountpoint, or the archive of the snapshot (root.pxar.didx, root)',
    )
    .argument('[mountpoint]', 'the mountpoint (an empty directory) when mounting an archive of a snapshot')
    .addOption(storeOption())
    .addOption(repositoryOption())
    .addOption(nsOption())
    .option('--keyfile <path>', 'key of an encrypted backup')
    .option('--payload <file>', 'payload (.ppxar) of a split archive (default: beside the .mpxar)')
    .option('--daemon', 'mount in a detached background process: print its pid once mounted, then return')
    .option(
      '--allow-other',
      'let other users access the mount (non-root: user_allow_other in /etc/fuse.conf)',
    )
    .action(
      action(ctx, async (out, [first, second, third], opts: MountOpts, cmd) => {
        const snapshotForm = third !== undefined
        const mountpoint = userPath((snapshotForm ? third : second) as string)
        for (const o of ['store', 'repository', 'ns'] as const) {
          if (!snapshotForm && cmd.getOptionValueSource(o) === 'cli')
            throw usageError(`--${o} applies to snapshots`, `mount SNAPSHOT ARCHIVE MOUNTPOINT --${o} …`)
        }
        if (snapshotForm && opts.payload !== undefined)
          throw usageError(
            '--payload applies to archive files only',
            'a snapshot names its payload index itself',
          )
        await checkMountpoint(mountpoint)
        if (opts.daemon === true) {
          await startDaemon(out, cmd, opts, snapshotForm)
          return
        }
        const child = process.env[DAEMON_ENV] === '1' && process.send !== undefined
        const secrets = child ? await receiveSecrets() : undefined
        let plan: Plan
        try {
          if (snapshotForm) {
            const target = resolveTarget(cmd)
            let crypt: CryptConfig | undefined
            if (secrets?.key !== undefined) crypt = new CryptConfig(Uint8Array.from(secrets.key))
            else if (opts.keyfile) crypt = (await loadKey(userPath(opts.keyfile))).cryptConfig
            plan =
              target.kind === 'remote'
                ? await remoteSnapshotPlan(
                    target.repository,
                    first as string,
                    second as string,
                    opts,
                    crypt,
                    secrets,
                  )
                : await localSnapshotPlan(
                    first as string,
                    second as string,
                    { ...opts, store: target.path },
                    crypt,
                  )
          } else {
            const source = await fileSource(first as string, opts)
            const path = source.kind === 'pxar' ? source.path : source.kind === 'split' ? source.metadata : ''
            plan = { source, label: path, json: { archive: path } }
          }
        } catch (err) {
          if (child) report({ error: describeError(err) })
          throw err
        }
        try {
          await runMount(out, plan, mountpoint, opts, child)
        } catch (err) {
          if (plan.source.kind === 'pbs') await plan.source.reader.close().catch(() => {})
          if (child) report({ error: describeError(err) })
          throw err
        }
      }),
    )
}

async function runMount(
  out: Output,
  plan: Plan,
  mountpoint: string,
  opts: MountOpts,
  child: boolean,
): Promise<void> {
  try {
    const { mountAndWait } = await import('@pxar/fuse')
    await mountAndWait({
      source: plan.source,
      mountpoint,
      allowOther: opts.allowOther === true,
      onMounted: () => {
        if (child) {
          report({ mounted: { ...plan.json, mountpoint, pid: process.pid }, label: plan.label, mountpoint })
          return
        }
        void out.result({ ...plan.json, mountpoint, pid: process.pid }, () => [
          `mounted ${plan.label} on ${mountpoint}`,
          `unmount with Ctrl-C or: fusermount -u ${mountpoint}`,
        ])
      },
    })
  } catch (err) {
    if (isPxarError(err) && (err.code === 'ERR_FUSE_UNAVAILABLE' || err.code === 'ERR_FUSE_MOUNT')) {
      throw new CliError(err.code, err.message, {
        hint:
          err.code === 'ERR_FUSE_UNAVAILABLE'
            ? 'install libfuse2 and fuse3, and make /dev/fuse available'
            : 'pass an existing, empty directory that nothing is mounted on',
        cause: err,
      })
    }
    throw keyError(err, opts.keyfile)
  }
  out.info(`unmounted ${mountpoint}`)
}

/** Sends a report to the parent of a daemon child and lets go of it. */
function report(message: DaemonReport): void {
  if (process.send === undefined || !process.connected) return
  process.send(message, () => process.disconnect())
}

/** The secrets the daemon parent sends first. */
function receiveSecrets(): Promise<DaemonSecrets> {
  return new Promise((resolve) => process.once('message', (m) => resolve(m as DaemonSecrets)))
}

/** The command line without `--daemon`, for the child. */
function childArgs(): string[] {
  return process.argv.slice(2).filter((a) => a !== '--daemon')
}

/**
 * `mount --daemon`: resolves what needs the terminal (key passphrase, repository password), starts
 * the same command detached (own session, no terminal), hands the secrets over IPC, and returns
 * once the child reports the mount (or its error).
 */
async function startDaemon(out: Output, cmd: Command, opts: MountOpts, snapshotForm: boolean): Promise<void> {
  const secrets: { key?: number[]; password?: string } = {}
  if (snapshotForm) {
    if (opts.keyfile) secrets.key = [...(await loadKey(userPath(opts.keyfile))).cryptConfig.encKey]
    if (resolveTarget(cmd).kind === 'remote') {
      const password =
        passwordFromEnv(REPOSITORY_PASSWORD_ENV) ??
        (process.stdin.isTTY
          ? await readPassword({
              env: REPOSITORY_PASSWORD_ENV,
              prompt: 'Password: ',
              what: 'repository password',
            })
          : undefined)
      if (password !== undefined) secrets.password = password
    }
  }
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...childArgs()], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    env: { ...process.env, [DAEMON_ENV]: '1' },
  })
  const reply = await new Promise<DaemonReport>((resolve, reject) => {
    child.once('message', (m) => resolve(m as DaemonReport))
    child.once('error', reject)
    child.once('exit', (code) =>
      reject(new CliError('ERR_FUSE_MOUNT', `the mount process exited (code ${code}) before mounting`)),
    )
    child.send(secrets)
  })
  child.removeAllListeners()
  if (child.connected) child.disconnect()
  child.unref()
  if ('error' in reply) {
    const e = reply.error
    throw new CliError(e.code, e.message, { exitCode: e.exitCode, ...(e.hint ? { hint: e.hint } : {}) })
  }
  await out.result(reply.mounted, () => [
    `mounted ${reply.label} on ${reply.mountpoint} (pid ${child.pid})`,
    `unmount with: fusermount -u ${reply.mountpoint} (or kill ${child.pid})`,
  ])
}
