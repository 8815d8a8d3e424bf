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
  type VerifyResult,
  verifySnapshot,
} from '@pxar/datastore'
import { type Command, Option } from 'commander'
import { action, type Context } from '../context.ts'
import { EXIT_CODES, usageError } from '../errors.ts'
import { formatBytes, formatDuration, table } from '../output.ts'
import { Progress } from '../progress.ts'
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

function snapshotJson(s: SnapshotInfo, size: number | undefined): Record<string, unknown> {
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

/** Registers the datastore commands. */
export function registerStoreCommands(program: Command, ctx: Context): void {
  program
    .command('snapshots')
    .description('list snapshots in the local datastore (all groups, or one group TYPE/ID)')
    .argument('[group]', 'backup group TYPE/ID')
    .addOption(storeOption())
    .addOption(nsOption())
    .action(
      action(ctx, async (out, [g], opts: StoreOpts) => {
        const ds = await openStore(opts)
        const ns = parseNs(opts.ns)
        const groups: BackupGroup[] = g ? [parseGroup(g as string, ns)] : await ds.listGroups(ns)
        const rows: { info: SnapshotInfo; size: number | undefined }[] = []
        for (const group of groups) {
          for (const info of await ds.listSnapshots(group)) {
            const size = await ds
              .readManifest(info.dir)
              .then((m) => m.files.reduce((a, f) => a + f.size, 0))
              .catch(() => undefined)
            rows.push({ info, size })
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
    .addOption(nsOption())
    .action(
      action(ctx, async (out, [s], opts: StoreOpts) => {
        const ds = await openStore(opts)
        const dir = await resolveSnapshot(ds, parseSnapshot(s as string, parseNs(opts.ns), true))
        const m = await ds.readManifest(dir)
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
    .option('--force', 'also remove a protected snapshot')
    .addOption(storeOption())
    .addOption(nsOption())
    .action(
      action(ctx, async (out, [s], opts: StoreOpts & { force?: boolean }) => {
        const ds = await openStore(opts)
        const spec = parseSnapshot(s as string, parseNs(opts.ns))
        const dir = await resolveSnapshot(ds, spec)
        await ds.removeSnapshot(dir, { force: opts.force === true })
        await out.result({ snapshot: snapshotName(dir), removed: true }, () => `removed ${snapshotName(dir)}`)
      }),
    )

  const prune = program
    .command('prune')
    .description('remove the snapshots of a group that the --keep-* options do not keep')
    .argument('<group>', 'backup group TYPE/ID')
    .option('--dry-run', 'only show what would be removed')
    .addOption(storeOption())
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
        const ds = await openStore(opts)
        const group = parseGroup(g as string, parseNs(opts.ns))
        const result = await ds.prune(group, keep, { dryRun: opts.dryRun === true })
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
            const r = await verifySnapshot(ds, t.dir, {
              verified,
              corrupt,
              ...(key ? { key } : {}),
              ...(opts.quarantine ? { quarantine: true } : {}),
            })
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
    .description('show the local datastore: location, disk usage, groups, snapshots, last GC')
    .addOption(storeOption())
    .action(
      action(ctx, async (out, _args, opts: StoreOpts) => {
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
