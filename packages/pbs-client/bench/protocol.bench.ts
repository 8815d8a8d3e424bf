/**
 * Backup of 200 MiB of mixed data over the PBS protocol on loopback (our client against our
 * server, each run into a fresh datastore) against `storeDynamic` into a local chunk store, with
 * different numbers of chunk uploads in flight; then restore throughput over the reader protocol.
 *
 * Run: `pnpm exec vitest bench --run --project pbs-client`
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chunkStoreSink, Datastore, storeDynamic } from '@pxar/datastore'
import { afterAll, bench, describe } from 'vitest'
import { startServer } from '../../server/src/index.ts'
import { BackupWriter, PbsClient, PbsReader } from '../src/index.ts'
import { mixedData, pieces } from '../test/helpers.ts'

const SIZE = 200 * 1024 * 1024
const data = mixedData(SIZE, 42)
const root = await mkdtemp(join(tmpdir(), 'pxar-pbs-bench-'))
const certDir = join(root, 'cert')
let run = 0
const once = { iterations: 1, warmupIterations: 0, time: 0, warmupTime: 0 }
const secret = 'bench-secret'

afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

function report(label: string, ms: number, bytes = SIZE): void {
  console.log(`${label}: ${(ms / 1000).toFixed(2)} s, ${(bytes / (1 << 20) / (ms / 1000)).toFixed(0)} MiB/s`)
}

async function withServer<T>(fn: (client: PbsClient) => Promise<T>): Promise<T> {
  const server = await startServer({
    datastore: join(root, `ds${run++}`),
    listen: '127.0.0.1:0',
    tokens: { 'root@pam!bench': secret },
    certDir,
  })
  try {
    return await fn(
      new PbsClient({
        host: '127.0.0.1',
        port: server.port,
        authId: 'root@pam!bench',
        password: secret,
        fingerprint: server.fingerprint,
      }),
    )
  } finally {
    await server.stop()
  }
}

describe('backup 200 MiB mixed data', () => {
  bench(
    'storeDynamic to a local chunk store',
    async () => {
      const ds = await Datastore.create(join(root, `local${run++}`), { prefixDirs: 'lazy' })
      const t = performance.now()
      await storeDynamic(pieces(data, 1 << 20), { sink: chunkStoreSink(ds.chunkStore) })
      report('local storeDynamic', performance.now() - t)
    },
    once,
  )
  for (const inFlight of [1, 4, 16]) {
    bench(
      `PBS protocol on loopback, ${inFlight} uploads in flight`,
      async () => {
        await withServer(async (client) => {
          const t = performance.now()
          const w = await BackupWriter.start(
            client,
            'store',
            { ns: [], type: 'host', id: 'bench', time: 1000 },
            {
              uploadsInFlight: inFlight,
            },
          )
          await w.uploadArchive('root.pxar.didx', pieces(data, 1 << 20))
          await w.finish()
          report(`loopback backup, ${inFlight} in flight`, performance.now() - t)
        })
      },
      once,
    )
  }
  bench(
    'restore over the reader protocol',
    async () => {
      await withServer(async (client) => {
        const dir = { ns: [] as string[], type: 'host' as const, id: 'bench', time: 1000 }
        const w = await BackupWriter.start(client, 'store', dir)
        await w.uploadArchive('root.pxar.didx', pieces(data, 1 << 20))
        await w.finish()
        const reader = await PbsReader.open(client, 'store', dir)
        const t = performance.now()
        let n = 0
        for await (const piece of reader.restore('root.pxar.didx')) n += piece.length
        report('restore (8 chunks ahead)', performance.now() - t, n)
        await reader.close()
      })
    },
    once,
  )
})
