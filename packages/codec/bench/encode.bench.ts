/**
 * Encoder throughput.
 * - one 1 GiB file streamed through createFile in 1 MiB pieces (v1 and v2) to a counting sink;
 * - 100k small entries (64-byte files in 100 directories) to a counting sink.
 * The data buffer is reused for every piece: the encoder passes file data through without copying,
 * so this measures the encoder's own per-piece and per-entry overhead.
 */
import { dirMetadata, fileMetadata } from '@pxar/format'
import { bench, describe } from 'vitest'
import { type ByteSink, Encoder } from '../src/index.ts'

class CountingSink implements ByteSink {
  bytes = 0
  write(b: Uint8Array): void {
    this.bytes += b.length
  }
}

/** Copies everything it receives into a 64 MiB ring: models a sink that must touch the bytes. */
class CopyingSink implements ByteSink {
  readonly ring = new Uint8Array(64 * 1024 * 1024)
  at = 0
  write(b: Uint8Array): void {
    let o = 0
    while (o < b.length) {
      const n = Math.min(b.length - o, this.ring.length - this.at)
      this.ring.set(b.subarray(o, o + n), this.at)
      this.at = (this.at + n) % this.ring.length
      o += n
    }
  }
}

const GiB = 1024 * 1024 * 1024
const PIECE = 1024 * 1024
const piece = new Uint8Array(PIECE).map((_, i) => (i * 31) & 0xff)
const root = dirMetadata().mtime(1_700_000_000).build()
const fmeta = fileMetadata(0o644).owner(1000, 1000).mtime(1_700_000_000).build()
const dmeta = dirMetadata().owner(1000, 1000).mtime(1_700_000_000).build()

const copying = new CopyingSink()
function bigFile(split: boolean, pieceSize: number, sink: () => ByteSink): void {
  const enc = new Encoder(sink(), root, split ? { payload: sink() } : {})
  const w = enc.createFile('big.bin', fmeta, GiB)
  const p = piece.subarray(0, pieceSize)
  for (let o = 0; o < GiB; o += pieceSize) w.write(p)
  w.close()
  enc.finish()
  enc.close()
}

const small = piece.subarray(0, 64)
const names: string[] = Array.from({ length: 1000 }, (_, i) => `file-${String(i).padStart(5, '0')}.txt`)
function manyEntries(split: boolean): void {
  const out = new CountingSink()
  const enc = new Encoder(out, root, split ? { payload: new CountingSink() } : {})
  for (let d = 0; d < 100; d++) {
    enc.createDirectory(`dir-${String(d).padStart(3, '0')}`, dmeta)
    for (const n of names) enc.addFile(n, fmeta, small)
    enc.finish()
  }
  enc.finish()
  enc.close()
}

const opts = { iterations: 3, warmupIterations: 1, time: 0, warmupTime: 0 }
describe('encode 1 GiB file', () => {
  bench(
    'v1, 1 MiB pieces, counting sink (pass-through, no copy)',
    () => bigFile(false, PIECE, () => new CountingSink()),
    opts,
  )
  bench('v1, 1 MiB pieces, copying sink', () => bigFile(false, PIECE, () => copying), opts)
  bench('v2 split, 1 MiB pieces, copying sink', () => bigFile(true, PIECE, () => copying), opts)
  bench(
    'v1, 4 KiB pieces (staged copy), counting sink',
    () => bigFile(false, 4096, () => new CountingSink()),
    opts,
  )
})

describe('encode 100k small files (100 dirs x 1000)', () => {
  bench('v1', () => manyEntries(false), opts)
  bench('v2 split', () => manyEntries(true), opts)
})
