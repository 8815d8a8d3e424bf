/**
 * Mount benchmarks (real FUSE mounts; run as root with /dev/fuse):
 *
 *   tsx --conditions=@pxar/source packages/fuse/bench/mount-bench.ts [FILE_MIB] [ENTRIES]
 *
 * 1. Sequential read (`dd bs=1M`) of a FILE_MIB (default 1024) file through a mount of a split
 *    archive stored in a local datastore snapshot (incompressible data, so every chunk is
 *    CRC-checked and digest-verified on read).
 * 2. `find | wc -l` over a mounted .pxar with ENTRIES (default 100000) entries.
 *
 * With PXAR_BENCH_DIR=DIR the work directory is kept (and the snapshot reused when it is there),
 * for repeated runs and profiling (`node --cpu-prof …`).
 *
 * Shell commands run asynchronously: the FUSE requests are answered by this process.
 */
import { exec } from 'node:child_process'
import { createReadStream, existsSync } from 'node:fs'
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { BufferSink, drain, Encoder } from '@pxar/codec'
import {
  type BackupDir,
  chunkStoreSink,
  Datastore,
  DynamicIndexFileWriter,
  storeDynamic,
} from '@pxar/datastore'
import { dirMetadata, fileMetadata } from '@pxar/format'
import { mount } from '../src/index.ts'

const sh = promisify(exec)
const MIB = 1024 * 1024

async function writeSplitArchive(dir: string, size: number): Promise<void> {
  const m = await open(join(dir, 'big.mpxar'), 'w')
  const p = await open(join(dir, 'big.ppxar'), 'w')
  const out = new BufferSink()
  const payload = new BufferSink()
  const flush = async (): Promise<void> => {
    await drain(out, (c) => m.write(c))
    await drain(payload, (c) => p.write(c))
  }
  const enc = new Encoder(out, dirMetadata().build(), { payload })
  const w = enc.createFile('big.bin', fileMetadata().build(), size)
  const piece = new Uint8Array(4 * MIB)
  const view = new DataView(piece.buffer)
  let x = 0x12345678
  for (let done = 0; done < size; done += piece.length) {
    for (let i = 0; i < piece.length; i += 4) {
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      view.setUint32(i, x >>> 0, true)
    }
    w.write(piece.subarray(0, Math.min(piece.length, size - done)))
    await flush()
  }
  w.close()
  enc.finish()
  enc.close()
  await flush()
  await m.close()
  await p.close()
}

async function writeManyEntries(path: string, entries: number): Promise<void> {
  const fh = await open(path, 'w')
  const out = new BufferSink()
  const enc = new Encoder(out, dirMetadata().build())
  const perDir = 1000
  let n = 1
  for (let d = 0; n < entries; d++) {
    enc.createDirectory(`dir-${String(d).padStart(5, '0')}`, dirMetadata().build())
    n++
    for (let f = 0; f < perDir && n < entries; f++, n++) {
      enc.addFile(`file-${String(f).padStart(5, '0')}`, fileMetadata().build(), new Uint8Array(f % 7))
    }
    enc.finish()
    await drain(out, (c) => fh.write(c))
  }
  enc.finish()
  enc.close()
  await drain(out, (c) => fh.write(c))
  await fh.close()
}

async function main(): Promise<void> {
  const fileMiB = Number(process.argv[2] ?? 1024)
  const entries = Number(process.argv[3] ?? 100_000)
  const keep = process.env.PXAR_BENCH_DIR
  if (keep) await mkdir(keep, { recursive: true })
  const work = keep ?? (await mkdtemp(join(tmpdir(), 'pxar-fuse-bench-')))
  const snap: BackupDir = { ns: [], type: 'host', id: 'bench', time: 1_700_000_000 }
  try {
    // 1. sequential read from a datastore snapshot
    let t = performance.now()
    const store = existsSync(join(work, 'store'))
      ? await Datastore.open(join(work, 'store'))
      : await writeSnapshot(work, fileMiB, snap)
    console.log(`setup: ${fileMiB} MiB snapshot ready in ${((performance.now() - t) / 1000).toFixed(1)} s`)
    const mnt = await mkdtemp(join(work, 'mnt-'))
    const m = await mount({
      source: { kind: 'datastore', store, snapshot: snap, archive: 'root.mpxar' },
      mountpoint: mnt,
    })
    try {
      t = performance.now()
      await sh(`dd if=${join(mnt, 'big.bin')} of=/dev/null bs=1M`)
      const s = (performance.now() - t) / 1000
      console.log(
        `sequential read through the mount (datastore snapshot): ${fileMiB} MiB in ${s.toFixed(2)} s = ${((fileMiB * MIB) / s / 1e6).toFixed(0)} MB/s`,
      )
    } finally {
      await m.unmount()
    }

    // 2. find over many entries
    const archive = join(work, 'many.pxar')
    await writeManyEntries(archive, entries)
    for (const linkCounts of ['exact', 'fast'] as const) {
      const mnt2 = await mkdtemp(join(work, 'mnt-'))
      const m2 = await mount({ source: { kind: 'pxar', path: archive }, mountpoint: mnt2, linkCounts })
      try {
        t = performance.now()
        const { stdout } = await sh(`find ${mnt2} | wc -l`)
        const s = (performance.now() - t) / 1000
        console.log(`find over ${stdout.trim()} entries (linkCounts ${linkCounts}): ${s.toFixed(2)} s`)
        t = performance.now()
        await sh(`find ${mnt2} -type f -size +1c | wc -l`)
        console.log(
          `  again with stat of every entry (-size): ${((performance.now() - t) / 1000).toFixed(2)} s`,
        )
      } finally {
        await m2.unmount()
      }
    }
  } finally {
    if (!keep) await rm(work, { recursive: true, force: true })
  }
}

/** Writes a snapshot with a split archive holding one FILE_MIB file. */
async function writeSnapshot(work: string, fileMiB: number, snap: BackupDir): Promise<Datastore> {
  await writeSplitArchive(work, fileMiB * MIB)
  const store = await Datastore.create(join(work, 'store'), { prefixDirs: 'lazy' })
  const writer = await store.beginSnapshot(snap)
  for (const name of ['big.mpxar', 'big.ppxar']) {
    const idx = await DynamicIndexFileWriter.create(writer.filePath(`root${name.slice(3)}.didx`))
    const r = await storeDynamic(createReadStream(join(work, name), { highWaterMark: 4 * MIB }), {
      sink: chunkStoreSink(store.chunkStore),
      index: idx,
      collectEntries: false,
    })
    await idx.close()
    await writer.addIndex(`root${name.slice(3)}.didx`, r)
  }
  await writer.finish()
  await rm(join(work, 'big.ppxar'))
  await rm(join(work, 'big.mpxar'))
  return store
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
