/**
 * Source throughput: listing a 10k-entry directory through LocalClient and through the agent
 * (HTTP/2 + TLS on loopback), and streaming a 64 MiB file through the agent.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, bench, describe } from 'vitest'
import { connectAgent, LocalClient, startAgent } from '../src/index.ts'

const ENTRIES = 10_000
const FILE_MIB = 64
const base = mkdtempSync(join(tmpdir(), 'pxar-client-bench-'))
const root = join(base, 'root')
mkdirSync(join(root, 'many'), { recursive: true })
for (let i = 0; i < ENTRIES; i++)
  writeFileSync(join(root, 'many', `file-${i.toString().padStart(5, '0')}`), '')
writeFileSync(join(root, 'big.bin'), randomBytes(FILE_MIB * 1024 * 1024))

const token = randomBytes(16).toString('hex')
const agent = await startAgent({ roots: { bench: root }, token, certDir: join(base, 'cert') })
const remote = await connectAgent({ url: agent.url, token, fingerprint: agent.fingerprint, root: 'bench' })
const local = new LocalClient(root)
const many = Buffer.from('many')
const big = Buffer.from('big.bin')

afterAll(async () => {
  await remote.close()
  await agent.close()
})

async function drain(it: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0
  for await (const p of it) n += p.length
  if (n !== FILE_MIB * 1024 * 1024) throw new Error(`short read ${n}`)
  return n
}

describe(`listDir, ${ENTRIES} entries`, () => {
  bench('LocalClient', async () => {
    const l = await local.listDir(many)
    if (l.entries.length !== ENTRIES) throw new Error('short listing')
  })
  bench('LocalClient, stat only (no xattrs/ACLs/fcaps)', async () => {
    await local.listDir(many, { xattrs: false, acls: false, fcaps: false })
  })
  bench('agent over TLS', async () => {
    const l = await remote.listDir(many)
    if (l.entries.length !== ENTRIES) throw new Error('short listing')
  })
})

describe(`readFile, ${FILE_MIB} MiB`, () => {
  bench('LocalClient', async () => {
    await drain(local.readFile(big))
  })
  bench('agent over TLS', async () => {
    await drain(remote.readFile(big))
  })
})
