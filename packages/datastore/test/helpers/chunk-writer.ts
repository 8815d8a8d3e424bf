// Child process for chunk-store tests: inserts chunks into the store given on the command line.
//   chunk-writer.ts <base> same <count>   → inserts the same chunk set (seeded) `count` times
//   chunk-writer.ts <base> stream         → inserts fresh 4 MiB chunks forever (to be killed)
import { createHash } from 'node:crypto'
import { ChunkStore, encodeBlob } from '../../src/index.ts'

const [base, mode, countArg] = process.argv.slice(2)
const store = await ChunkStore.open(base!)

function chunk(seed: number, size: number): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

if (mode === 'same') {
  const count = Number(countArg)
  for (let round = 0; round < count; round++) {
    for (let s = 1; s <= 8; s++) {
      const data = chunk(s, 256 * 1024)
      await store.insert(createHash('sha256').update(data).digest(), encodeBlob(data))
    }
  }
  process.stdout.write('done\n')
} else {
  process.stdout.write('ready\n')
  for (let s = 1; ; s++) {
    const data = chunk(s, 4 * 1024 * 1024)
    await store.insert(createHash('sha256').update(data).digest(), encodeBlob(data))
  }
}
