// Store pipeline throughput. Sizes: PIPELINE_BENCH_MIB (default 1024) MiB of mixed data, built in
// memory before timing. Throughput = size / mean time (printed per run as well).
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, bench, describe } from 'vitest'
import {
  ChunkStore,
  CryptConfig,
  chunkStoreSink,
  EncodePool,
  MemoryChunkSink,
  storeDynamic,
} from '../src/index.ts'

const MiB = 1024 * 1024
const SIZE = Number(process.env.PIPELINE_BENCH_MIB ?? 1024) * MiB
const PIECE = 4 * MiB

/**
 * Mixed data in 1 MiB segments: random (incompressible), random letters of a 16-symbol alphabet
 * (zstd ~ 55-60 %), log-like text lines (highly compressible), zeros, and a repeated segment
 * (exercising deduplication), cycling with a pseudo-random pattern.
 */
function mixedData(size: number): Uint8Array[] {
  const data = new Uint8Array(size)
  const words = new Uint32Array(data.buffer)
  let s = 0x2545f491
  const next = (): number => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return s >>> 0
  }
  const alphabet = new TextEncoder().encode('etaoinshrdlu \n.,')
  const repeated = new Uint8Array(MiB)
  for (let i = 0; i < MiB; i++) repeated[i] = next() & 0xff
  for (let seg = 0; seg < size / MiB; seg++) {
    const at = seg * MiB
    const kind = next() % 10
    if (kind < 3) {
      for (let w = at / 4; w < (at + MiB) / 4; w++) words[w] = next()
    } else if (kind < 6) {
      for (let i = at; i < at + MiB; i++) data[i] = alphabet[(i & 3 ? s >>> ((i & 3) * 8) : next()) & 15]!
    } else if (kind < 8) {
      const line = new TextEncoder().encode(
        `2026-11-24T19:${String(seg % 60).padStart(2, '0')}:00Z host${seg % 7} backup chunk ${seg} ok id=`,
      )
      let i = at
      while (i < at + MiB) {
        const n = Math.min(line.length, at + MiB - i)
        data.set(line.subarray(0, n), i)
        i += n
        if (i < at + MiB) data[i++] = 0x30 + (next() % 10)
        if (i < at + MiB) data[i++] = 0x0a
      }
    } else if (kind < 9) {
      // zeros: already zero
    } else {
      data.set(repeated, at)
    }
  }
  const pieces: Uint8Array[] = []
  for (let at = 0; at < size; at += PIECE) pieces.push(data.subarray(at, at + PIECE))
  return pieces
}

const pieces = mixedData(SIZE)
const mbps = (ms: number, bytes = SIZE): string => `${(bytes / MiB / (ms / 1000)).toFixed(0)} MiB/s`

/**
 * Wall-clock and CPU figures of one run. CPU time covers every thread of the process, so
 * `bytes / CPU-seconds` stays meaningful on a loaded machine; with two idle cores the wall-clock
 * rate approaches twice that figure unless the main thread saturates first.
 */
async function timed(label: string, run: () => Promise<string>): Promise<void> {
  const cpu0 = process.cpuUsage()
  const t = performance.now()
  const extra = await run()
  const ms = performance.now() - t
  const cpu = process.cpuUsage(cpu0)
  const cpuMs = (cpu.user + cpu.system) / 1000
  console.log(
    `${label}: ${mbps(ms)} wall, ${mbps(cpuMs)} per CPU-second (${(cpuMs / ms).toFixed(2)} cores busy)${extra}`,
  )
}
let dir: string | undefined
// Long-lived encoder pools, as a backup process would keep them: worker start-up (which, running
// from TypeScript sources, includes transpiling the worker) stays out of the timings.
const crypt = new CryptConfig(new Uint8Array(32).fill(1))
const pool = new EncodePool({ workers: 2 })
const cryptPool = new EncodePool({ workers: 2, crypt })
await Promise.all([pool.encode(new Uint8Array(1)), cryptPool.encode(new Uint8Array(1))])

afterAll(async () => {
  await pool.close()
  await cryptPool.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe(`store pipeline, ${SIZE / MiB} MiB mixed data, avg 4 MiB, zstd, 2 workers`, () => {
  bench(
    'memory sink (CPU only)',
    async () => {
      await timed('memory sink', async () => {
        const r = await storeDynamic(pieces, { sink: new MemoryChunkSink({ keep: false }), encoder: pool })
        return `; chunks ${r.stats.chunks}, new ${r.stats.newChunks}, compressed to ${(r.stats.encodedBytes / r.stats.encodedInputBytes).toFixed(3)}`
      })
    },
    { iterations: 3, warmupIterations: 0, time: 0 },
  )

  bench(
    'ChunkStore in a temp dir (fresh store each run)',
    async () => {
      dir ??= await mkdtemp(join(tmpdir(), 'pxar-pipeline-bench-'))
      const base = join(dir, `ds-${Date.now()}`)
      const store = await ChunkStore.create(base, { prefixDirs: 'lazy' })
      await timed('ChunkStore', async () => {
        const r = await storeDynamic(pieces, { sink: chunkStoreSink(store), encoder: pool })
        return `; new ${r.stats.newChunks}, written ${(r.stats.writtenBytes / MiB).toFixed(0)} MiB`
      })
      await rm(base, { recursive: true, force: true })
    },
    { iterations: 2, warmupIterations: 0, time: 0 },
  )

  bench(
    'encrypted, memory sink',
    async () => {
      await timed('encrypted memory sink', async () => {
        await storeDynamic(pieces, { sink: new MemoryChunkSink({ keep: false }), encoder: cryptPool, crypt })
        return ''
      })
    },
    { iterations: 2, warmupIterations: 0, time: 0 },
  )
})

describe('SHA-256 (node:crypto), 256 MiB in 4 MiB chunks', () => {
  const chunk = pieces[0]!
  bench(
    'sha256',
    () => {
      const cpu0 = process.cpuUsage()
      const t = performance.now()
      for (let i = 0; i < 64; i++) createHash('sha256').update(chunk).digest()
      const cpu = process.cpuUsage(cpu0)
      const bytes = 64 * chunk.length
      console.log(
        `sha256: ${mbps(performance.now() - t, bytes)} wall, ${mbps((cpu.user + cpu.system) / 1000, bytes)} per CPU-second`,
      )
    },
    { iterations: 5, warmupIterations: 1, time: 0 },
  )
})
