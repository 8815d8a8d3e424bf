import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Chunker, FixedChunker } from '@pxar/chunker'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import { generate, generateAll } from '../../../tools/conformance/src/pbs/gen.ts'
import {
  type BlobEncoder,
  type ChunkSink,
  ChunkStore,
  CryptConfig,
  chunkStoreSink,
  createInlineEncoder,
  DynamicIndexWriter,
  decodeBlob,
  decryptKeyConfig,
  EncodePool,
  FixedIndexWriter,
  fromHex,
  inspectBlob,
  MemoryChunkSink,
  parseKeyConfig,
  storeDynamic,
  storeFixed,
  toHex,
} from '../src/index.ts'

const root = vectorsDir('pbs')
const expectation = (name: string) => JSON.parse(readFileSync(join(root, 'chunk', name), 'utf8'))

const sha256Hex = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')

describe('storeDynamic', () => {
  it('reproduces the vector chunk ends and digests, and stores decodable blobs (2 workers)', async () => {
    const exp = expectation('gen-splitmix64_2_6291463.avg64K.expected.json')
    const sink = new MemoryChunkSink()
    const result = await storeDynamic(generate(exp.input.gen, 100_000), { sink, avgSize: 65536, workers: 2 })
    expect(result.entries.map((e) => e.end)).toEqual(exp.ends)
    expect(result.entries.map((e) => toHex(e.digest))).toEqual(exp.digests)
    expect(result.size).toBe(exp.size)
    // csum = SHA-256 over (end u64 LE ‖ digest) per entry.
    const h = createHash('sha256')
    for (const e of result.entries) {
      const end = Buffer.alloc(8)
      end.writeBigUInt64LE(BigInt(e.end))
      h.update(end).update(e.digest)
    }
    expect(toHex(result.csum)).toBe(h.digest('hex'))
    expect(result.stats).toMatchObject({
      chunks: exp.count,
      newChunks: exp.count,
      knownChunks: 0,
      duplicateChunks: 0,
      bytes: exp.size,
      encodedInputBytes: exp.size,
    })
    expect(sink.chunks.size).toBe(exp.count)
    let total = 0
    for (const [hex, blob] of sink.chunks) {
      const data = decodeBlob(blob, { digest: fromHex(hex) })
      expect(sha256Hex(data)).toBe(hex)
      total += blob.length
    }
    expect(result.stats.encodedBytes).toBe(total)
    expect(result.stats.writtenBytes).toBe(total)
  })

  for (const name of ['random-5m', 'text-2m', 'single']) {
    it(`reproduces the entries and index csum of the ${name}.didx vector`, async () => {
      const spec = JSON.parse(readFileSync(join(root, 'index', `${name}.entries.json`), 'utf8'))
      const exp = JSON.parse(readFileSync(join(root, 'index', `${name}.didx.expected.json`), 'utf8'))
      const r = await storeDynamic(generate(spec.source.gen), {
        sink: new MemoryChunkSink({ keep: false }),
        avgSize: spec.source.avg,
        workers: 1,
      })
      expect(r.entries.map((e) => ({ end: e.end, digest: toHex(e.digest) }))).toEqual(spec.entries)
      expect(toHex(r.csum)).toBe(exp.index_csum)
      expect(r.size).toBe(exp.size)
    })

    it(`writes ${name}.didx byte-exact through a DynamicIndexWriter sink`, async () => {
      const spec = JSON.parse(readFileSync(join(root, 'index', `${name}.entries.json`), 'utf8'))
      const writer = new DynamicIndexWriter({ uuid: fromHex(spec.uuid), ctime: spec.ctime })
      const r = await storeDynamic(generate(spec.source.gen), {
        sink: new MemoryChunkSink({ keep: false }),
        avgSize: spec.source.avg,
        index: writer,
        collectEntries: false,
      })
      const out = writer.finish()
      expect(out.csum).toEqual(r.csum)
      expect(out.size).toBe(r.size)
      expect(Buffer.from(out.bytes).equals(readFileSync(join(root, 'index', `${name}.didx`)))).toBe(true)
    })
  }

  it('compresses compressible data and keeps incompressible chunks uncompressed', async () => {
    const sink = new MemoryChunkSink()
    const text = await storeDynamic(generate('text:6:2M'), { sink, avgSize: 65536, workers: 1 })
    expect(text.stats.encodedBytes).toBeLessThan(text.stats.bytes * 0.8)
    for (const blob of sink.chunks.values()) expect(inspectBlob(blob).kind).toBe('compressed')
    const rnd = new MemoryChunkSink()
    await storeDynamic(generate('splitmix64:9:1M'), { sink: rnd, avgSize: 65536, workers: 0 })
    for (const blob of rnd.chunks.values()) expect(inspectBlob(blob).kind).toBe('uncompressed')
    const raw = new MemoryChunkSink()
    await storeDynamic(generate('text:6:1M'), { sink: raw, avgSize: 65536, compress: false })
    for (const blob of raw.chunks.values()) expect(inspectBlob(blob).kind).toBe('uncompressed')
  })

  it('encrypts with keyed digests matching the keyed vector', async () => {
    const exp = expectation('gen-splitmix64_2_6291463.avg64K.keyed-scrypt.expected.json')
    const kc = parseKeyConfig(readFileSync(join(root, 'keys/scrypt.key'), 'utf8'))
    const { cryptConfig } = await decryptKeyConfig(kc, { password: 'correct horse battery' })
    const sink = new MemoryChunkSink()
    const result = await storeDynamic(generate(exp.input.gen), {
      sink,
      avgSize: 65536,
      crypt: cryptConfig,
      workers: 2,
    })
    expect(result.entries.map((e) => e.end)).toEqual(exp.ends)
    expect(result.entries.map((e) => toHex(e.digest))).toEqual(exp.digests)
    for (const [hex, blob] of sink.chunks) {
      expect(inspectBlob(blob).kind).toMatch(/^encrypted/)
      decodeBlob(blob, { crypt: cryptConfig, digest: fromHex(hex) })
      expect(() => decodeBlob(blob)).toThrow(expect.objectContaining({ code: 'ERR_BLOB_NO_KEY' }))
    }
  })

  it('stores repeated content once and skips known chunks on a second run', async () => {
    const sink = new MemoryChunkSink()
    const first = await storeDynamic(generate('repeat:7:1500000:8'), { sink, avgSize: 65536, workers: 2 })
    const unique = new Set(first.entries.map((e) => toHex(e.digest)))
    expect(first.stats.duplicateChunks).toBe(first.stats.chunks - unique.size)
    expect(first.stats.duplicateChunks).toBeGreaterThan(0)
    expect(first.stats.newChunks).toBe(unique.size)
    expect(sink.chunks.size).toBe(unique.size)
    const second = await storeDynamic(generate('repeat:7:1500000:8'), { sink, avgSize: 65536 })
    expect(second.csum).toEqual(first.csum)
    expect(second.stats).toMatchObject({ newChunks: 0, knownChunks: unique.size, encodedBytes: 0 })
  })

  it('gives the same result whatever the feed and encoder', async () => {
    const data = generateAll('text:3:700K')
    const a = await storeDynamic([data], { sink: new MemoryChunkSink(), avgSize: 4096, workers: 0 })
    const pieces = Array.from({ length: Math.ceil(data.length / 777) }, (_, i) =>
      data.subarray(i * 777, i * 777 + 777),
    )
    const b = await storeDynamic(pieces, { sink: new MemoryChunkSink(), avgSize: 4096, workers: 2 })
    expect(b.entries).toEqual(a.entries)
    expect(b.csum).toEqual(a.csum)
    const chunker = new Chunker({ avgSize: 4096 })
    const ends = chunker.push(data)
    ends.push(ends.at(-1)! + chunker.finish())
    expect(a.entries.map((e) => e.end)).toEqual(ends)
  })

  it('handles an empty stream', async () => {
    const sink = new MemoryChunkSink()
    const r = await storeDynamic([], { sink })
    expect(r.entries).toEqual([])
    expect(r.size).toBe(0)
    expect(toHex(r.csum)).toBe(sha256Hex(new Uint8Array(0)))
    expect(r.stats.chunks).toBe(0)
  })

  it('feeds an index sink in order', async () => {
    const seen: [number, string][] = []
    const r = await storeDynamic(generate('splitmix64:4:1M'), {
      sink: new MemoryChunkSink(),
      avgSize: 65536,
      collectEntries: false,
      index: { add: (end, digest) => seen.push([end, toHex(digest)]) },
    })
    expect(r.entries).toEqual([])
    expect(seen.length).toBe(r.stats.chunks)
    expect(seen.at(-1)![0]).toBe(1 << 20)
  })

  it('bounds the number of chunks in flight', async () => {
    let active = 0
    let peak = 0
    const slow: ChunkSink = {
      async insert() {
        active++
        peak = Math.max(peak, active)
        await new Promise((r) => setTimeout(r, 2))
        active--
        return true
      },
    }
    const r = await storeDynamic(generate('splitmix64:5:2M'), {
      sink: slow,
      avgSize: 4096,
      workers: 0,
      maxInFlight: 3,
    })
    expect(r.stats.newChunks).toBeGreaterThan(50)
    expect(peak).toBeLessThanOrEqual(3)
    expect(peak).toBeGreaterThan(1)
  })

  it('propagates sink, encoder and source errors and aborts', async () => {
    const failing: ChunkSink = {
      insert() {
        throw new Error('disk full')
      },
    }
    await expect(
      storeDynamic(generate('splitmix64:1:1M'), { sink: failing, avgSize: 65536 }),
    ).rejects.toThrow('disk full')
    let closed = false
    const badEncoder: BlobEncoder = {
      encode: async () => {
        throw new RangeError('boom')
      },
      close: async () => {
        closed = true
      },
    }
    await expect(
      storeDynamic(generate('splitmix64:1:1M'), { sink: new MemoryChunkSink(), encoder: badEncoder }),
    ).rejects.toThrow('boom')
    expect(closed).toBe(false) // caller-owned encoders are not closed
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(100_000)
      throw new Error('read failed')
    }
    await expect(storeDynamic(broken(), { sink: new MemoryChunkSink(), avgSize: 4096 })).rejects.toThrow(
      'read failed',
    )
    const ac = new AbortController()
    async function* slowSource(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 100; i++) {
        if (i === 3) ac.abort(new Error('stop'))
        yield new Uint8Array(50_000).fill(i)
      }
    }
    await expect(
      storeDynamic(slowSource(), { sink: new MemoryChunkSink(), avgSize: 4096, signal: ac.signal }),
    ).rejects.toThrow('stop')
    await expect(storeDynamic([], { sink: {} as ChunkSink })).rejects.toThrow(TypeError)
    await expect(storeDynamic([], { sink: new MemoryChunkSink(), maxInFlight: 0 })).rejects.toThrow(
      RangeError,
    )
  })
})

describe('storeFixed', () => {
  it('cuts fixed chunks, computes the fidx csum and stores every chunk', async () => {
    const data = generateAll('text:8:3145733')
    const sink = new MemoryChunkSink()
    const set: number[] = []
    const r = await storeFixed([data], {
      sink,
      chunkSize: 1 << 20,
      workers: 2,
      index: { setDigest: (i) => set.push(i) },
    })
    expect(r.size).toBe(3145733)
    expect(r.chunkSize).toBe(1 << 20)
    expect(r.digests.length).toBe(4)
    expect(set).toEqual([0, 1, 2, 3])
    const writer = new FixedIndexWriter({ size: data.length, chunkSize: 1 << 20 })
    await storeFixed([data], {
      sink: new MemoryChunkSink({ keep: false }),
      chunkSize: 1 << 20,
      index: writer,
    })
    expect(writer.finish().csum).toEqual(r.csum)
    const fixed = new FixedChunker({ chunkSize: 1 << 20 })
    let start = 0
    const expected: string[] = []
    for (const end of [...fixed.push(data), data.length]) {
      expected.push(sha256Hex(data.subarray(start, end)))
      start = end
    }
    expect(r.digests.map(toHex)).toEqual(expected)
    const h = createHash('sha256')
    for (const d of r.digests) h.update(d)
    expect(toHex(r.csum)).toBe(h.digest('hex'))
    for (const [hex, blob] of sink.chunks) decodeBlob(blob, { digest: fromHex(hex) })
  })

  it('deduplicates zero chunks', async () => {
    const sink = new MemoryChunkSink()
    const r = await storeFixed(generate('zeros:20M'), { sink })
    expect(r.digests.length).toBe(5)
    expect(r.stats).toMatchObject({ chunks: 5, newChunks: 1, duplicateChunks: 4 })
    expect(r.stats.writtenBytes).toBeLessThan(4096)
  })
})

describe('pipeline against a temp-dir ChunkStore', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pxar-pipeline-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('writes PBS-layout chunk files, then only touches them on a second run', async () => {
    const store = await ChunkStore.create(join(dir, 'ds'), { prefixDirs: 'lazy' })
    const done = store.registerWriter()
    try {
      const first = await storeDynamic(generate('text:11:3M'), {
        sink: chunkStoreSink(store),
        avgSize: 262144,
        workers: 2,
      })
      let files = 0
      for await (const _ of store.listChunks()) files++
      expect(files).toBe(first.stats.newChunks)
      for (const e of first.entries) {
        const path = store.chunkPath(e.digest)
        expect(path).toBe(join(dir, 'ds', '.chunks', toHex(e.digest).slice(0, 4), toHex(e.digest)))
        decodeBlob(await readFile(path), { digest: e.digest })
      }
      const again = await storeDynamic(generate('text:11:3M'), {
        sink: chunkStoreSink(store),
        avgSize: 262144,
      })
      expect(again.stats).toMatchObject({ newChunks: 0, encodedBytes: 0 })
      expect(again.csum).toEqual(first.csum)
      // Without the existence check, chunks are encoded and the store reports duplicates.
      const third = await storeDynamic(generate('text:11:3M'), {
        sink: chunkStoreSink(store, { skipKnown: false }),
        avgSize: 262144,
      })
      expect(third.stats.newChunks).toBe(0)
      expect(third.stats.knownChunks).toBe(first.stats.newChunks)
    } finally {
      done()
    }
  })

  it('stores a fixed-chunk image', async () => {
    const store = await ChunkStore.create(join(dir, 'img'), { prefixDirs: 'lazy' })
    const r = await storeFixed(generate('splitmix64:3:5M'), {
      sink: chunkStoreSink(store),
      chunkSize: 1 << 20,
    })
    expect(r.digests.length).toBe(5)
    for (const d of r.digests) decodeBlob(await store.read(d), { digest: d })
  })
})

describe('EncodePool', () => {
  it('encodes like the inline encoder, concurrently, and closes', async () => {
    const key = new CryptConfig(new Uint8Array(32).fill(7))
    const pool = new EncodePool({ workers: 2, crypt: key })
    const inline = createInlineEncoder({ crypt: key })
    try {
      const inputs = Array.from({ length: 12 }, (_, i) => generateAll(`text:${i}:${10000 + i * 999}`))
      const blobs = await Promise.all(inputs.map((d) => pool.encode(new Uint8Array(d))))
      for (let i = 0; i < inputs.length; i++) {
        expect(decodeBlob(blobs[i]!, { crypt: key })).toEqual(inputs[i])
        const ref = await inline.encode(new Uint8Array(inputs[i]!))
        expect(ref.length).toBe(blobs[i]!.length) // same compression, different IV
      }
      // A view into a larger buffer is copied, not transferred.
      const big = generateAll('text:1:20000')
      const view = big.subarray(100, 5000) as Uint8Array<ArrayBuffer>
      await pool.encode(view)
      expect(view.length).toBe(4900)
      // Too large: the worker's PxarError comes back with its code.
      await expect(pool.encode(new Uint8Array(128 * 1024 * 1024 + 1))).rejects.toMatchObject({
        code: 'ERR_BLOB_TOO_LARGE',
      })
    } finally {
      await pool.close()
    }
    await expect(pool.encode(new Uint8Array(1))).rejects.toThrow('closed')
    expect(() => new EncodePool({ workers: 0 })).toThrow(RangeError)
  })

  it('starts workers on demand, one more only while all running ones are busy', async () => {
    const pool = new EncodePool({ workers: 2 })
    try {
      expect(pool.size).toBe(2)
      expect(pool.started).toBe(0)
      const data = generateAll('text:5:30000')
      for (let i = 0; i < 3; i++) {
        expect(decodeBlob(await pool.encode(new Uint8Array(data)))).toEqual(data)
        expect(pool.started).toBe(1)
      }
      const blobs = await Promise.all(Array.from({ length: 6 }, () => pool.encode(new Uint8Array(data))))
      expect(pool.started).toBe(2)
      for (const b of blobs) expect(decodeBlob(b)).toEqual(data)
    } finally {
      await pool.close()
    }
  })
})
