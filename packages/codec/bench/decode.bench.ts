/**
 * Decoder and accessor throughput.
 * - one 1 GiB file: sync Decoder core and async decode(), input in 1 MiB pieces (the archive is
 *   streamed from a chunk list that reuses one 1 MiB data buffer, so nothing is copied up front);
 * - one 256 MiB file read through readAtChunks over an in-memory ReadAt (copies every byte);
 * - 100k small entries (64-byte files in 100 directories of 1000): decode() reading every content;
 * - 10k random lookups on that 100k-entry archive, and on one flat directory of 100k files, through
 *   the accessor over an in-memory ReadAt.
 */
import { dirMetadata, fileMetadata } from '@pxar/format'
import { bench, describe } from 'vitest'
import {
  BufferSink,
  type ByteSink,
  bufferReadAt,
  Decoder,
  decode,
  Encoder,
  openAccessor,
  readAtChunks,
} from '../src/index.ts'

const GiB = 1024 * 1024 * 1024
const PIECE = 1024 * 1024
const piece = new Uint8Array(PIECE).map((_, i) => (i * 31) & 0xff)
const root = dirMetadata().mtime(1_700_000_000).build()
const fmeta = fileMetadata(0o644).owner(1000, 1000).mtime(1_700_000_000).build()
const dmeta = dirMetadata().owner(1000, 1000).mtime(1_700_000_000).build()

/** Records chunk references (the encoder hands file data through without copying). */
class ListSink implements ByteSink {
  readonly chunks: Uint8Array[] = []
  write(b: Uint8Array): void {
    this.chunks.push(b)
  }
}

function bigArchive(): Uint8Array[] {
  const sink = new ListSink()
  const enc = new Encoder(sink, root)
  const w = enc.createFile('big.bin', fmeta, GiB)
  for (let i = 0; i < GiB / PIECE; i++) w.write(piece)
  w.close()
  enc.finish()
  enc.close()
  // re-cut into 1 MiB pieces as a reader would deliver them
  const out: Uint8Array[] = []
  let cur: Uint8Array[] = []
  let n = 0
  for (const c of sink.chunks) {
    let o = 0
    while (o < c.length) {
      const k = Math.min(PIECE - n, c.length - o)
      cur.push(c.subarray(o, o + k))
      n += k
      o += k
      if (n === PIECE) {
        out.push(cur.length === 1 ? cur[0]! : concat(cur))
        cur = []
        n = 0
      }
    }
  }
  if (n > 0) out.push(concat(cur))
  return out
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

function smallArchive(dirs: number, perDir: number): Uint8Array {
  const sink = new BufferSink()
  const enc = new Encoder(sink, root)
  const data = new Uint8Array(64).fill(0x61)
  for (let d = 0; d < dirs; d++) {
    if (dirs > 1) enc.createDirectory(`d${String(d).padStart(3, '0')}`, dmeta)
    for (let f = 0; f < perDir; f++) enc.addFile(`f${String(f).padStart(6, '0')}`, fmeta, data)
    if (dirs > 1) enc.finish()
  }
  enc.finish()
  enc.close()
  return sink.takeBytes()
}

async function* chunks(list: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* list
}

async function* pieces(b: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size)
}

const big = bigArchive()
const small = smallArchive(100, 1000)
const flat = smallArchive(1, 100_000)

describe('decode 1 GiB file', () => {
  bench(
    'sync Decoder core, 1 MiB pieces',
    () => {
      const dec = new Decoder()
      let bytes = 0
      for (const c of big) for (const ev of dec.push(c)) if (ev.type === 'content') bytes += ev.data.length
      dec.finish()
      if (bytes !== GiB) throw new Error(`decoded ${bytes}`)
    },
    { iterations: 5, time: 0, warmupIterations: 1 },
  )
  bench(
    'decode() async, reading content',
    async () => {
      let bytes = 0
      for await (const e of decode(chunks(big)))
        if (e.content) for await (const p of e.content) bytes += p.length
      if (bytes !== GiB) throw new Error(`decoded ${bytes}`)
    },
    { iterations: 5, time: 0, warmupIterations: 1 },
  )
})

/** 256 MiB file archive held in memory, read through a copying ReadAt (models reading a file). */
function mediumArchive(): Uint8Array {
  const sink = new BufferSink()
  const enc = new Encoder(sink, root)
  const w = enc.createFile('medium.bin', fmeta, 256 * PIECE)
  for (let i = 0; i < 256; i++) w.write(piece)
  w.close()
  enc.finish()
  enc.close()
  return sink.takeBytes()
}
const medium = mediumArchive()

describe('decode 256 MiB file through a copying ReadAt', () => {
  bench(
    'decode(readAtChunks(bufferReadAt(archive))), reading content',
    async () => {
      let bytes = 0
      for await (const e of decode(readAtChunks(bufferReadAt(medium)))) {
        if (e.content) for await (const p of e.content) bytes += p.length
      }
      if (bytes !== 256 * PIECE) throw new Error(`decoded ${bytes}`)
    },
    { iterations: 5, time: 0, warmupIterations: 1 },
  )
})

describe('decode 100k small entries', () => {
  bench(
    'decode() async, 1 MiB pieces, reading every content',
    async () => {
      let n = 0
      for await (const e of decode(pieces(small, PIECE))) {
        n++
        if (e.content) for await (const _ of e.content);
      }
      if (n !== 100_101) throw new Error(`entries ${n}`)
    },
    { iterations: 10, time: 0, warmupIterations: 2 },
  )
  bench(
    'sync Decoder core (write/next), 1 MiB pieces',
    () => {
      const dec = new Decoder()
      let n = 0
      for (let i = 0; i < small.length; i += PIECE) {
        dec.write(small.subarray(i, i + PIECE))
        for (let ev = dec.next(); ev !== undefined; ev = dec.next()) if (ev.type === 'entry') n++
      }
      dec.finish()
      if (n !== 100_101) throw new Error(`entries ${n}`)
    },
    { iterations: 10, time: 0, warmupIterations: 2 },
  )
})

function rng(seed: number): () => number {
  let x = seed
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x
  }
}

describe('10k random lookups on a 100k-entry archive', async () => {
  const acc = await openAccessor(bufferReadAt(small))
  const accFlat = await openAccessor(bufferReadAt(flat))
  bench(
    '100 dirs x 1000 files',
    async () => {
      const r = rng(12345)
      for (let i = 0; i < 10_000; i++) {
        const d = r() % 100
        const f = r() % 1000
        const e = await acc.lookup(`/d${String(d).padStart(3, '0')}/f${String(f).padStart(6, '0')}`)
        if (e === undefined) throw new Error('not found')
      }
    },
    { iterations: 10, time: 0, warmupIterations: 2 },
  )
  bench(
    'one directory of 100k files',
    async () => {
      const r = rng(777)
      for (let i = 0; i < 10_000; i++) {
        const e = await accFlat.lookup(`/f${String(r() % 100_000).padStart(6, '0')}`)
        if (e === undefined) throw new Error('not found')
      }
    },
    { iterations: 10, time: 0, warmupIterations: 2 },
  )
})
