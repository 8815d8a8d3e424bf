/**
 * Backup benchmark (run: `pnpm exec tsc -b && pnpm exec tsx packages/proxy/bench/backup-tree.ts
 * [tree|small|big|sparse]`). Without `--conditions=@pxar/source` the other packages, and so the
 * encode worker threads, run from their built `dist/` as in production; with it every worker
 * thread loads tsx too, which costs some 30 MiB of RSS each.
 *
 * - `tree`: a 200 MiB tree (100 × 2 MiB random files + 1000 small text files) on disk, backed
 *   up from the local filesystem into a fresh local datastore: first run (data and legacy mode),
 *   then an unchanged rerun in metadata mode.
 * - `big`: one generated file of `BIG_GIB` GiB (default 10) streamed from a synthetic source,
 *   to check that memory stays bounded (peak RSS).
 * - `small`: 100k small files, first run and unchanged metadata-mode rerun.
 * - `sparse`: one sparse file of `BIG_GIB` GiB (default 10) on disk, read through the local
 *   client (or, with `VIA=agent`, through the agent over TLS on 127.0.0.1): bounded memory on the
 *   real read path (the zeros deduplicate, so the store stays small).
 *
 * Prints wall time, MB/s of source bytes and the process's peak RSS.
 */
import { randomFillSync } from 'node:crypto'
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Datastore } from '@pxar/datastore'
import { dirMetadata, fileMetadata } from '@pxar/format'
import {
  type BackupResult,
  connectAgent,
  type FileSystemSource,
  LocalClient,
  LocalStore,
  runBackup,
  startAgent,
} from '../src/index.ts'

const MiB = 1024 * 1024

// MEM_TRACE=1 prints the memory use every 2 s (rss, JS heap, array buffers of the main thread).
if (process.env.MEM_TRACE) {
  setInterval(() => {
    const m = process.memoryUsage()
    const mib = (n: number): number => Math.round(n / MiB)
    console.log(
      `  rss ${mib(m.rss)} MiB, heap ${mib(m.heapUsed)} MiB, array buffers ${mib(m.arrayBuffers)} MiB`,
    )
  }, 2000).unref()
}

function peakRssMiB(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024)
}

function line(label: string, r: BackupResult, bytes: number): void {
  const s = r.durationMs / 1000
  console.log(
    `${label.padEnd(34)} ${s.toFixed(2).padStart(7)} s  ${(bytes / MiB / s).toFixed(1).padStart(7)} MiB/s  read ${(r.bytesRead / MiB).toFixed(1)} MiB  reused ${(r.reusedBytes / MiB).toFixed(1)} MiB  uploaded ${(r.uploadedBytes / MiB).toFixed(1)} MiB  peak RSS ${peakRssMiB()} MiB`,
  )
}

async function tree(): Promise<void> {
  const base = mkdtempSync(join(tmpdir(), 'pxar-bench-'))
  try {
    const src = join(base, 'src')
    mkdirSync(join(src, 'big'), { recursive: true })
    mkdirSync(join(src, 'text'))
    const buf = Buffer.alloc(2 * MiB)
    for (let i = 0; i < 100; i++) writeFileSync(join(src, 'big', `r${i}.bin`), randomFillSync(buf))
    for (let i = 0; i < 1000; i++)
      writeFileSync(join(src, 'text', `t${i}.txt`), `line ${i}\n`.repeat(20 + (i % 50)))
    const bytes = 200 * MiB
    const store = new LocalStore(await Datastore.create(join(base, 'ds'), { prefixDirs: 'lazy' }))
    let t = 1_700_000_000
    line(
      'tree 200 MiB, data (first run)',
      await runBackup(new LocalClient(src), { store, backupId: 'b', mode: 'data', backupTime: ++t }),
      bytes,
    )
    line(
      'tree 200 MiB, metadata (unchanged)',
      await runBackup(new LocalClient(src), { store, backupId: 'b', mode: 'metadata', backupTime: ++t }),
      bytes,
    )
    line(
      'tree 200 MiB, legacy (first run)',
      await runBackup(new LocalClient(src), { store, backupId: 'legacy', backupTime: ++t }),
      bytes,
    )
    line(
      'tree 200 MiB, legacy (rerun)',
      await runBackup(new LocalClient(src), { store, backupId: 'legacy', backupTime: ++t }),
      bytes,
    )
  } finally {
    rmSync(base, { recursive: true, force: true })
  }
}

async function small(): Promise<void> {
  const base = mkdtempSync(join(tmpdir(), 'pxar-bench-'))
  try {
    const src = join(base, 'src')
    let bytes = 0
    for (let d = 0; d < 100; d++) {
      mkdirSync(join(src, `d${d}`), { recursive: true })
      for (let i = 0; i < 1000; i++) {
        const text = `file ${d}/${i}\n`.repeat(1 + (i % 20))
        bytes += text.length
        writeFileSync(join(src, `d${d}`, `f${i}.txt`), text)
      }
    }
    const store = new LocalStore(await Datastore.create(join(base, 'ds'), { prefixDirs: 'lazy' }))
    let t = 1_700_000_000
    line(
      '100k small files, data (first run)',
      await runBackup(new LocalClient(src), { store, backupId: 's', mode: 'data', backupTime: ++t }),
      bytes,
    )
    line(
      '100k small files, metadata (unchanged)',
      await runBackup(new LocalClient(src), { store, backupId: 's', mode: 'metadata', backupTime: ++t }),
      bytes,
    )
  } finally {
    rmSync(base, { recursive: true, force: true })
  }
}

/** A synthetic source: a root with one file of `size` bytes of pseudo-random data. */
function bigSource(size: number): FileSystemSource {
  const file = fileMetadata(0o644).mtime(1_700_000_000).build()
  const root = {
    name: new Uint8Array(0),
    kind: 'directory' as const,
    metadata: dirMetadata().build(),
    size: 0,
    dev: '1',
    ino: '1',
    nlink: 1,
  }
  return {
    stat: async () => root,
    listDir: async () => ({
      entries: [
        {
          name: new TextEncoder().encode('big.img'),
          kind: 'file',
          metadata: file,
          size,
          dev: '1',
          ino: '2',
          nlink: 1,
        },
      ],
      skipped: [],
    }),
    async *readFile(_path, start = 0, end = size) {
      const piece = Buffer.alloc(MiB)
      for (let p = start; p < end; p += MiB) {
        const out = Buffer.allocUnsafe(Math.min(MiB, end - p))
        randomFillSync(piece)
        piece.copy(out)
        yield out
      }
    },
    close: async () => {},
  }
}

async function big(): Promise<void> {
  const gib = Number(process.env.BIG_GIB ?? 10)
  const base = mkdtempSync(join(tmpdir(), 'pxar-bench-'))
  try {
    const store = new LocalStore(await Datastore.create(join(base, 'ds'), { prefixDirs: 'lazy' }))
    const size = gib * 1024 * MiB
    line(
      `one ${gib} GiB file, data`,
      await runBackup(bigSource(size), {
        store,
        backupId: 'big',
        mode: 'data',
        ...(process.env.WORKERS ? { workers: Number(process.env.WORKERS) } : {}),
      }),
      size,
    )
  } finally {
    rmSync(base, { recursive: true, force: true })
  }
}

async function sparse(): Promise<void> {
  const gib = Number(process.env.BIG_GIB ?? 10)
  const base = mkdtempSync(join(tmpdir(), 'pxar-bench-'))
  mkdirSync(join(base, 'src'))
  const agent =
    process.env.VIA === 'agent'
      ? await startAgent({
          roots: { src: join(base, 'src') },
          token: 'bench-token-0123456789',
          certDir: join(base, 'cert'),
        })
      : undefined
  try {
    const size = gib * 1024 * MiB
    const fd = openSync(join(base, 'src', 'sparse.img'), 'w')
    ftruncateSync(fd, size)
    closeSync(fd)
    const store = new LocalStore(await Datastore.create(join(base, 'ds'), { prefixDirs: 'lazy' }))
    const source: FileSystemSource = agent
      ? await connectAgent({
          url: agent.url,
          token: 'bench-token-0123456789',
          fingerprint: agent.fingerprint,
          root: 'src',
        })
      : new LocalClient(join(base, 'src'))
    try {
      line(
        `sparse ${gib} GiB file, data${agent ? ' (agent)' : ''}`,
        await runBackup(source, { store, backupId: 'sparse', mode: 'data' }),
        size,
      )
    } finally {
      await source.close()
    }
  } finally {
    await agent?.close()
    rmSync(base, { recursive: true, force: true })
  }
}

const which = process.argv[2] ?? 'tree'
if (which === 'tree') await tree()
else if (which === 'small') await small()
else if (which === 'big') await big()
else if (which === 'sparse') await sparse()
else throw new Error(`unknown benchmark ${which}`)
