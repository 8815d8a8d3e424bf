import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, bench, describe } from 'vitest'
import {
  CatalogReader,
  CatalogWriter,
  ChunkStore,
  canonicalJson,
  encodeBlob,
  parseJson,
} from '../src/index.ts'

const base = mkdtempSync(join(tmpdir(), 'pxar-bench-store-'))
afterAll(() => rmSync(base, { recursive: true, force: true }))
const store = await ChunkStore.create(base, { prefixDirs: 'lazy' })

const CHUNK = 4 * 1024 * 1024
let seq = 0
function freshChunk(): { digest: Uint8Array; blob: Uint8Array } {
  const data = new Uint8Array(CHUNK)
  new DataView(data.buffer).setUint32(0, ++seq)
  return { digest: createHash('sha256').update(data).digest(), blob: encodeBlob(data) }
}
const prepared = Array.from({ length: 64 }, freshChunk)
let next = 0
const dup = freshChunk()
await store.insert(dup.digest, dup.blob)

describe('chunk store (4 MiB uncompressed blobs)', () => {
  bench('insert new chunk', async () => {
    const c = prepared[next++ % prepared.length]!
    await store.remove(c.digest)
    await store.insert(c.digest, c.blob)
  })
  bench('insert duplicate (stat + touch)', async () => {
    await store.insert(dup.digest, dup.blob)
  })
  bench('read chunk', async () => {
    await store.read(dup.digest)
  })
})

function buildCatalog(files: number): Uint8Array {
  const w = new CatalogWriter()
  const parts: Uint8Array[] = []
  w.startDirectory('root.pxar.didx')
  for (let d = 0; d < files / 100; d++) {
    w.startDirectory(`dir-${d}`)
    for (let f = 0; f < 100; f++) w.addFile(`file-${f}.txt`, f * 1000, 1700000000 + f)
    w.endDirectory()
    parts.push(w.take())
  }
  w.endDirectory()
  parts.push(w.finish())
  return Buffer.concat(parts)
}
const catalog = buildCatalog(100_000)

describe('catalog (100k files)', () => {
  bench('write', () => {
    buildCatalog(100_000)
  })
  bench('walk', () => {
    let n = 0
    for (const _ of new CatalogReader(catalog).walk()) n++
    if (n !== 101_001) throw new Error(`walked ${n}`)
  })
})

const manifestText = JSON.stringify({
  'backup-type': 'host',
  'backup-id': 'elsa',
  'backup-time': 1700000000,
  files: Array.from({ length: 20 }, (_, i) => ({
    filename: `a${i}.pxar.didx`,
    'crypt-mode': 'encrypt',
    size: 123456789 + i,
    csum: 'ab'.repeat(32),
  })),
})
describe('canonical JSON', () => {
  bench('parse + canonicalize a 20-file manifest', () => {
    canonicalJson(parseJson(manifestText))
  })
})
