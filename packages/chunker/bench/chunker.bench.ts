import { bench, describe } from 'vitest'
import { Chunker, FixedChunker } from '../src/index.ts'

// 64 MiB of xorshift pseudo-random bytes (incompressible, cut points spread as in real data).
const SIZE = 64 * 1024 * 1024
const random = new Uint8Array(SIZE)
{
  const words = new Uint32Array(random.buffer)
  let s = 0x9e3779b9
  for (let i = 0; i < words.length; i++) {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    words[i] = s >>> 0
  }
}
const text = random.map((b) => 'etaoinshrdlu \n.,'.charCodeAt(b & 15))
const zeros = new Uint8Array(SIZE)

function run(data: Uint8Array, avgSize: number, piece: number): void {
  const c = new Chunker({ avgSize })
  for (let at = 0; at < data.length; at += piece) c.push(data.subarray(at, at + piece))
  c.finish()
}

// Throughput = 64 MiB / mean time.
describe('buzhash chunker, 64 MiB per iteration', () => {
  bench('random, avg 4 MiB, 1 MiB pieces', () => run(random, 4 << 20, 1 << 20), { iterations: 10 })
  bench('random, avg 4 MiB, 64 KiB pieces', () => run(random, 4 << 20, 1 << 16), { iterations: 10 })
  bench('random, avg 64 KiB, 1 MiB pieces', () => run(random, 1 << 16, 1 << 20), { iterations: 10 })
  bench('text, avg 4 MiB, 1 MiB pieces', () => run(text, 4 << 20, 1 << 20), { iterations: 10 })
  bench('zeros, avg 4 MiB, 1 MiB pieces', () => run(zeros, 4 << 20, 1 << 20), { iterations: 10 })
  bench('fixed 4 MiB, 1 MiB pieces', () => {
    const f = new FixedChunker()
    for (let at = 0; at < SIZE; at += 1 << 20) f.push(random.subarray(at, at + (1 << 20)))
    f.finish()
  })
})
