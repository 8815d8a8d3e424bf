/**
 * Snapshot management on a local datastore: `snapshots`, `files`, `forget`, `prune`, `verify`,
 * `gc`, `status`.
 */
import { readFile, statfs } from 'node:fs/promises'
import { join } from 'node:path'
import {
  type BackupGroup,
  formatBackupTime,
  garbageCollect,
  type KeepOptions,
  type SnapshotInfo,
  snapshotPath,
  type VerifyResult,
  verifySnapshot,
} from '@pxar/datastore'
import { getVersion, listGroups, listNamespaces } from '@pxar/pbs-client'
import { type Command, Option } from 'commander'
import { action, type Context } from '../context.ts'
import { EXIT_CODES, usageError } from '../errors.ts'
import { formatBytes, formatDuration, table } from '../output.ts'
import { Progress } from '../progress.ts'
import {
  forgetRemote,
  pruneRemote,
  remoteManifest,
  remoteSnapshots,
  resolveRemoteSnapshot,
} from '../remote.ts'
import {
  openRepository,
  type RemoteRepository,
  repositoryOption,
  resolveTarget,
  withRemote,
} from '../repository.ts'
import {
  allNamespaces,
  nsOption,
  openStore,
  parseGroup,
  parseNs,
  parseSnapshot,
  resolveSnapshot,
  snapshotName,
  storeOption,
  storePath,
} from '../store.ts'
import { loadKey } from './key.ts'

interface StoreOpts {
  store?: string
  ns?: string
}

/** The repository when the command targets one (`--repository` / `PBS_REPOSITORY`). */
async function remoteTarget(cmd: Command): Promise<RemoteRepository | undefined> {
  const t = resolveTarget(cmd)
  return t.kind === 'remote' ? await openRepository(t.repository) : undefined
}

type SnapshotRow = Pick<SnapshotInfo, 'dir' | 'files' | 'protected' | 'finished'>

function snapshotJson(s: SnapshotRow, size: number | undefined): Record<string, unknown> {
  return {
    snapshot: snapshotName(s.dir),
    ns: s.dir.ns.join('/'),
    backupType: s.dir.type,
    backupId: s.dir.id,
    backupTime: s.dir.time,
    files: s.files,
    ...(size !== undefined ? { size } : {}),
    protected: s.protected,
    finished: s.finished,
  }
}

const KEEPS = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const

function count(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < 0)
    throw usageError(`--keep-${name} needs a non-negative integer, not '${text}'`)
  return n
}

/** Version, disk usage and contents of a remote datastore. */
async function remoteStatus(repo: RemoteRepository) {
  const version = await getVersion(repo.client)
  const usage = (await repo.client.get(`/admin/datastore/${encodeURIComponent(repo.store)}/status`)) as {
    total: number
    used: number
    avail: number
  }
  const namespaces = await listNamespaces(repo.client, repo.store)
  let groups = 0
  let snapshots = 0
  let last: { name: string; time: number } | undefined
  for (const ns of namespaces) {
    for (const g of await listGroups(repo.client, repo.store, { ns })) {
      groups++
      snapshots += g['backup-count']
      if (!last || g['last-backup'] > last.time)
        last = {
          name: snapshotName({ ns, type: g['backup-type'], id: g['backup-id'], time: g['last-backup'] }),
          time: g['last-backup'],
        }
    }
  }
  return {
    repository: repo.label,
    version: `${version.version}-${version.release}`,
    total: usage.total,
    used: usage.used,
    avail: usage.avail,
    namespaces: namespaces.length,
    groups,
    snapshots,
    lastSnapshot: last?.name ?? null,
  }
}

/** Registers the datastore commands. */
export function registerStoreCommands(program: Command, ctx: Context): void {
  program
    .command('snapshots')
    .description('list snapshots in the local datastore or a repository (all groups, or one group TYPE/ID)')
    .argument('[group]', 'backup group TYPE/ID')
    .addOption(storeOption())
    .addOption(repositoryOption())
    .addOption(nsOption())
    .action(
      action(ctx, async (out, [g], opts: StoreOpts, cmd) => {
        const ns = parseNs(opts.ns)
        const group = g ? parseGroup(g as string, ns) : undefined
        const rows: { info: SnapshotRow; size: number | undefined }[] = []
        const repo = await remoteTarget(cmd)
        if (repo) {
          const list = await withRemote(repo, () => remoteSnapshots(repo, ns, group))
          for (const info of list) if (info.finished) rows.push({ info, size: info.size })
        } else {
          const ds = await openStore(opts)
          const groups: BackupGroup[] = group ? [group] : await ds.listGroups(ns)
          for (const group of groups) {
            for (const info of await ds.listSnapshots(group)) {
              const size = await ds
                .readManifest(info.dir)
                .then((m) => m.files.reduce((a, f) => a + f.size, 0))
                .catch(() => undefined)
              rows.push({ info, size })
            }
          }
        }
        await out.result(
          rows.map((r) => snapshotJson(r.info, r.size)),
          () =>
            rows.length === 0
              ? ['no snapshots']
              : table(
                  ['snapshot', 'size', 'files'],
                  rows.map((r) => [
                    snapshotName(r.info.dir) + (r.info.protected ? ' (protected)' : ''),
                    r.size !== undefined ? formatBytes(r.size) : '-',
                    r.info.files.filter((f) => f !== 'index.json.blob').join(' '),
                  ]),
                ),
        )
      }),
    )

  program
    .command('files')
    .description('list the archives of a snapshot (TYPE/ID/TIME, or TYPE/ID for the latest)')
    .argument('<snapshot>', 'snapshot TYPE/ID/TIME')
    .addOption(storeOption())
    .addOption(repositoryOption())
    .addOption(nsOption())
    .action(
      action(ctx, async (out, [s], opts: StoreOpts, cmd) => {
        const spec = parseSnapshot(s as string, parseNs(opts.ns), true)
        const repo = await remoteTarget(cmd)
        let dir: import('@pxar/datastore').BackupDir
        let m: import('@pxar/datastore').BackupManifest
        if (repo) {
          dir = await withRemote(repo, () => resolveRemoteSnapshot(repo, spec))
          m = await withRemote(repo, () => remoteManifest(repo, dir))
        } else {
          const ds = await openStore(opts)
          dir = await resolveSnapshot(ds, spec)
          m = await ds.readManifest(dir)
        }
        const files = [
          ...m.files,
          { filename: 'index.json.blob', cryptMode: 'none', size: undefined, csum: undefined },
        ]
        await out.result(
          {
            snapshot: snapshotName(dir),
            files: m.files.map((f) => ({
              filename: f.filename,
              cryptMode: f.cryptMode,
              size: f.size,
              csum: f.csum,
            })),
          },
          () =>
            table(
              ['filename', 'crypt-mode', 'size'],
              files.map((f) => [f.filename, f.cryptMode, f.size !== undefined ? String(f.size) : '-']),
            ),
        )
      }),
    )

  program
    .command('forget')
    .description('remove a snapshot from the local datastore')
    .argument('<snapshot>', 'snapshot TYPE/ID/TIME')
    .option('--force', 'also remove a protected snapshot (local datastore only)')
    .addOption(storeOption())
    .addOption(repositoryOption())
    .addOption(nsOption())
    .action(
      action(ctx, async (out, [s], opts: StoreOpts & { force?: boolean }, cmd) => {
        const spec = parseSnapshot(s as string, parseNs(opts.ns))
        const repo = await remoteTarget(cmd)
        let dir: import('@pxar/datastore').BackupDir
        if (repo) {
          dir = await withRemote(repo, () => resolveRemoteSnapshot(repo, spec))
          await withRemote(repo, () => forgetRemote(repo, dir))
        } else {
          const ds = await openStore(opts)
          dir = await resolveSnapshot(ds, spec)
          await ds.removeSnapshot(dir, { force: opts.force === true })
        }
        await out.result({ snapshot: snapshotName(dir), removed: true }, () => `removed ${snapshotName(dir)}`)
      }),
    )

  const prune = program
    .command('prune')
    .description('remove the snapshots of a group that the --keep-* options do not keep')
    .argument('<group>', 'backup group TYPE/ID')
    .option('--dry-run', 'only show what would be removed')
    .addOption(storeOption())
    .addOption(repositoryOption())
    .addOption(nsOption())
  for (const k of KEEPS)
    prune.addOption(
      new Option(`--keep-${k} <n>`, `keep the last n ${k === 'last' ? 'snapshots' : `${k} snapshots`}`),
    )
  prune.action(
    action(
      ctx,
      async (
        out,
        [g],
        opts: StoreOpts & { dryRun?: boolean } & Partial<
            Record<`keep${Capitalize<(typeof KEEPS)[number]>}`, string>
          >,
        cmd: Command,
      ) => {
        const keep: { -readonly [K in keyof KeepOptions]: KeepOptions[K] } = {}
        const setKeep = (key: keyof KeepOptions, text: string | undefined, name: string): void => {
          const n = count(text, name)
          if (n !== undefined) keep[key] = n
        }
        setKeep('keepLast', opts.keepLast, 'last')
        setKeep('keepHourly', opts.keepHourly, 'hourly')
        setKeep('keepDaily', opts.keepDaily, 'daily')
        setKeep('keepWeekly', opts.keepWeekly, 'weekly')
        setKeep('keepMonthly', opts.keepMonthly, 'monthly')
        setKeep('keepYearly', opts.keepYearly, 'yearly')
        if (Object.keys(keep).length === 0) {
          throw usageError(
            'prune needs at least one --keep-* option',
            'e.g. --keep-last 3 (without any, nothing would be removed)',
          )
        }
        const group = parseGroup(g as string, parseNs(opts.ns))
        const repo = await remoteTarget(cmd)
        const result: { snapshot: { dir: import('@pxar/datastore').BackupDir }; mark: string }[] = repo
          ? await withRemote(repo, () => pruneRemote(repo, group, keep, { dryRun: opts.dryRun === true }))
          : await (await openStore(opts)).prune(group, keep, { dryRun: opts.dryRun === true })
        const removed = result.filter((r) => r.mark === 'remove').length
        await out.result(
          {
            group: `${group.type}/${group.id}`,
            dryRun: opts.dryRun === true,
            snapshots: result.map((r) => ({ snapshot: snapshotName(r.snapshot.dir), mark: r.mark })),
            removed,
            kept: result.length - removed,
          },
          () => [
            ...table(
              ['snapshot', 'action'],
              result.map((r) => [
                snapshotName(r.snapshot.dir),
                r.mark === 'remove' ? (opts.dryRun ? 'would remove' : 'removed') : r.mark,
              ]),
            ),
            `${opts.dryRun ? 'would remove' : 'removed'} ${removed} of ${result.length} snapshots`,
          ],
        )
      },
    ),
  )

  program
    .command('verify')
    .description(
      'check snapshots against their manifests and every chunk they reference (exit code 3 on damage)',
    )
    .argument('[snapshot]', 'snapshot TYPE/ID/TIME, or a group TYPE/ID (default: every snapshot)')
    .option('--keyfile <path>', 'key to decrypt and check encrypted chunks')
    .option('--quarantine', 'rename damaged chunks to <digest>.<n>.bad')
    .addOption(storeOption())
    .addOption(nsOption())
    .action(
      action(ctx, async (out, [s], opts: StoreOpts & { keyfile?: string; quarantine?: boolean }) => {
        const ds = await openStore(opts)
        const ns = parseNs(opts.ns)
        const targets: { dir: import('@pxar/datastore').BackupDir }[] = []
        if (s !== undefined) {
          const spec = parseSnapshot(s as string, ns, true)
          if ('dir' in spec) targets.push({ dir: spec.dir })
          else for (const i of await ds.listSnapshots(spec.group)) targets.push({ dir: i.dir })
        } else {
          for (const n of await allNamespaces(ds, ns))
            for (const g of await ds.listGroups(n))
              for (const i of await ds.listSnapshots(g)) targets.push({ dir: i.dir })
        }
        let key: import('@pxar/datastore').CryptConfig | undefined
        if (opts.keyfile) key = (await loadKey(opts.keyfile)).cryptConfig
        const progress = new Progress({
          label: 'verify',
          enabled: !out.quiet && !(out.json && !process.stderr.isTTY),
        })
        const verified = new Set<string>()
        const corrupt = new Set<string>()
        const results: VerifyResult[] = []
        try {
          for (const t of targets) {
            progress.update({ detail: snapshotName(t.dir) })
            // an unreadable manifest fails this snapshot (named in the report), not the whole run
            const r = await verifySnapshot(ds, t.dir, {
              verified,
              corrupt,
              ...(key ? { key } : {}),
              ...(opts.quarantine ? { quarantine: true } : {}),
            }).catch(
              (err: unknown): VerifyResult => ({
                snapshot: snapshotPath(t.dir),
                ok: false,
                errors: [
                  {
                    file: 'index.json.blob',
                    code: (err as { code?: string }).code ?? 'ERR_VERIFY_FAILED',
                    message: err instanceof Error ? err.message : String(err),
                  },
                ],
                damagedChunks: [],
                chunksChecked: 0,
              }),
            )
            results.push(r)
            progress.update({ entries: results.length, detail: `${verified.size} chunks ok` })
          }
        } finally {
          progress.stop()
        }
        const failed = results.filter((r) => !r.ok)
        if (failed.length > 0) ctx.exitCode = EXIT_CODES.damaged
        await out.result(
          {
            ok: failed.length === 0,
            snapshots: results.map((r) => ({
              snapshot: r.snapshot,
              ok: r.ok,
              chunksChecked: r.chunksChecked,
              errors: r.errors,
              damagedChunks: r.damagedChunks,
            })),
            failed: failed.map((r) => r.snapshot),
          },
          () => [
            ...results.flatMap((r) => [
              `${r.ok ? 'ok    ' : 'FAILED'} ${r.snapshot} (${r.chunksChecked} chunks checked)`,
              ...r.errors.map((e) => `         ${e.file}${e.chunk ? ` chunk ${e.chunk}` : ''}: ${e.message}`),
            ]),
            failed.length === 0
              ? `verified ${results.length} snapshots: all ok`
              : `verified ${results.length} snapshots: ${failed.length} damaged`,
          ],
        )
      }),
    )

  program
    .command('gc')
    .description('garbage-collect chunks no snapshot references (older than 24h5m, as PBS does)')
    .addOption(storeOption())
    .action(
      action(ctx, async (out, _args, opts: StoreOpts) => {
        const ds = await openStore(opts)
        const t0 = performance.now()
        out.info(`garbage collection of ${ds.base}…`)
        const st = await garbageCollect(ds)
        const ms = performance.now() - t0
        await out.result({ ...st, durationMs: Math.round(ms) }, () => [
          `index files:     ${st.indexFileCount} (${formatBytes(st.indexDataBytes)} referenced)`,
          `removed chunks:  ${st.removedChunks} (${formatBytes(st.removedBytes)})`,
          `pending chunks:  ${st.pendingChunks} (${formatBytes(st.pendingBytes)}, removed by a later run)`,
          `chunks on disk:  ${st.diskChunks} (${formatBytes(st.diskBytes)})`,
          ...(st.removedBad || st.stillBad
            ? [`bad chunks:      ${st.removedBad} removed, ${st.stillBad} still present`]
            : []),
          `duration:        ${formatDuration(ms)}`,
        ])
      }),
    )

  program
    .command('status')
    .description(
      'show the local datastore or a repository: location, disk usage, groups, snapshots (last GC: local only)',
    )
    .addOption(storeOption())
    .addOption(repositoryOption())
    .action(
      action(ctx, async (out, _args, opts: StoreOpts, cmd) => {
        const repo = await remoteTarget(cmd)
        if (repo) {
          const st = await withRemote(repo, () => remoteStatus(repo))
          await out.result(st, () => [
            `repository: ${repo.label}`,
            `server:     version ${st.version}`,
            `disk:       ${formatBytes(st.used)} used of ${formatBytes(st.total)} (${st.total ? ((100 * st.used) / st.total).toFixed(1) : '0'}%), ${formatBytes(st.avail)} available`,
            `contents:   ${st.groups} groups, ${st.snapshots} snapshots${st.namespaces > 1 ? `, ${st.namespaces - 1} namespaces` : ''}`,
            `latest:     ${st.lastSnapshot ?? '-'}`,
          ])
          return
        }
        const path = storePath(opts)
        const ds = await openStore(opts)
        const fs = await statfs(path)
        const total = fs.blocks * fs.bsize
        const avail = fs.bavail * fs.bsize
        const used = total - fs.bfree * fs.bsize
        let groups = 0
        let snapshots = 0
        let namespaces = 0
        for (const ns of await allNamespaces(ds, [])) {
          namespaces++
          for (const g of await ds.listGroups(ns)) {
            groups++
            snapshots += (await ds.listSnapshots(g)).length
          }
        }
        const gc = await readFile(join(path, '.gc-status'), 'utf8')
          .then((t) => JSON.parse(t) as Record<string, unknown>)
          .catch(() => undefined)
        const last = await (async () => {
          let best: { name: string; time: number } | undefined
          for (const ns of await allNamespaces(ds, []))
            for (const g of await ds.listGroups(ns)) {
              const l = await ds.lastSnapshot(g)
              if (l && (!best || l.time > best.time)) best = { name: snapshotName(l.dir), time: l.time }
            }
          return best
        })()
        await out.result(
          {
            store: path,
            total,
            used,
            avail,
            namespaces,
            groups,
            snapshots,
            lastSnapshot: last?.name ?? null,
            gc: gc ?? null,
          },
          () => [
            `store:      ${path}`,
            `disk:       ${formatBytes(used)} used of ${formatBytes(total)} (${total ? ((100 * used) / total).toFixed(1) : '0'}%), ${formatBytes(avail)} available`,
            `contents:   ${groups} groups, ${snapshots} snapshots${namespaces > 1 ? `, ${namespaces - 1} namespaces` : ''}`,
            `latest:     ${last ? `${last.name}` : '-'}`,
            `last GC:    ${gc ? `${gc['removed-chunks'] ?? 0} chunks removed, ${gc['disk-chunks'] ?? 0} on disk` : 'never'}`,
          ],
        )
      }),
    )
  void formatBackupTime
}
