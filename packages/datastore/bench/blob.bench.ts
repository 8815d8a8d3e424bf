// Blob encode/decode per kind on 4 MiB chunks, SHA-256, zstd backends, index write/read.
// MB/s = hz * 4 for the 4 MiB cases.
import { createHash, randomBytes } from 'node:crypto'
import { bench, describe } from 'vitest'
import {
  CryptConfig,
  DynamicIndex,
  DynamicIndexWriter,
  decodeBlob,
  encodeBlob,
  FixedIndex,
  FixedIndexWriter,
  loadZstdBackend,
  sha256,
} from '../src/formats.ts'

const SIZE = 4 * 1024 * 1024
// Low-entropy text (compresses about 2:1 like source trees) and incompressible data.
const ALPHABET = new TextEncoder().encode('etaoinshrdlu \n.,')
const random = new Uint8Array(randomBytes(SIZE))
const text = random.map((b) => ALPHABET[b & 15]!)
const cc = new CryptConfig(new Uint8Array(randomBytes(32)))

const kinds = [
  ['uncompressed', {}],
  ['compressed', { compress: true }],
  ['encrypted', { crypt: cc }],
  ['encrypted-compressed', { compress: true, crypt: cc }],
] as const

for (const [label, data] of [
  ['text', text],
  ['random', random],
] as const) {
  describe(`encodeBlob 4 MiB ${label}`, () => {
    for (const [kind, opts] of kinds) bench(kind, () => void encodeBlob(data, opts))
  })
  describe(`decodeBlob 4 MiB ${label}`, () => {
    for (const [kind, opts] of kinds) {
      const blob = encodeBlob(data, opts)
      bench(kind, () => void decodeBlob(blob, { crypt: cc }))
    }
  })
}

describe('digests 4 MiB', () => {
  bench('sha256', () => void sha256(text))
  bench('keyed digest', () => void cc.computeDigest(text))
  bench('sha256 (raw createHash)', () => void createHash('sha256').update(text).digest())
})

describe('zstd backends 4 MiB text', async () => {
  for (const name of ['zstd-napi', 'zstd-wasm'] as const) {
    const backend = await loadZstdBackend(name)
    if (!backend) continue
    const frame = backend.compress(text, { level: 1 })!
    bench(`${name} compress`, () => void backend.compress(text, { level: 1 }))
    bench(`${name} decompress`, () => void backend.decompress(frame, SIZE))
  }
})

describe('indexes (10000 chunks)', () => {
  const digest = sha256(text.subarray(0, 100))
  const didx = (() => {
    const w = new DynamicIndexWriter()
    for (let i = 0; i < 10000; i++) w.addChunk(4096 + i, digest)
    return w.finish().bytes
  })()
  const fidx = (() => {
    const w = new FixedIndexWriter({ size: 10000 * SIZE })
    for (let i = 0; i < 10000; i++) w.setDigest(i, digest)
    return w.finish().bytes
  })()
  bench('didx write', () => {
    const w = new DynamicIndexWriter()
    for (let i = 0; i < 10000; i++) w.addChunk(4096 + i, digest)
    w.finish()
  })
  bench('didx parse + verify', () => DynamicIndex.parse(didx).verifyCsum())
  bench('didx chunkFromOffset x10000', () => {
    const index = DynamicIndex.parse(didx)
    for (let i = 0; i < 10000; i++) index.chunkFromOffset((i * 7919 * 4096) % index.size)
  })
  bench('fidx write', () => {
    const w = new FixedIndexWriter({ size: 10000 * SIZE })
    for (let i = 0; i < 10000; i++) w.setDigest(i, digest)
    w.finish()
  })
  bench('fidx parse + verify', () => FixedIndex.parse(fidx).verifyCsum())
})
