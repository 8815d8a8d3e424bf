/**
 * Deterministic, structure-aware byte mutations. Every mutation is a pure function of the input,
 * the hints and a 32-bit seed, so a failing input can always be regenerated from `(seed, i)`.
 */

/** A 32-bit pseudo-random generator (xorshift32). */
export interface Rng {
  /** Next value in `[0, 2^32)`. */
  u32(): number
  /** Integer in `[0, n)` (`n >= 1`). */
  below(n: number): number
}

/** xorshift32 seeded with `seed` (0 is replaced by a fixed constant). */
export function makeRng(seed: number): Rng {
  let x = seed >>> 0 || 0x9e3779b9
  const u32 = (): number => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x
  }
  return { u32, below: (n) => (n <= 1 ? 0 : u32() % n) }
}

/** Mixes a run seed and an iteration number into one 32-bit seed. */
export function iterationSeed(seed: number, i: number): number {
  let h = (seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0
  return (h ^ (h >>> 16)) >>> 0
}

/** What the format knows about an input, for structure-aware mutations. */
export interface Hints {
  /** Offsets of little-endian u64 length/size/offset fields. */
  readonly sizeFields: readonly number[]
  /** Offsets of little-endian u64 type tags (pxar headers). */
  readonly typeFields: readonly number[]
  /** `[start, end)` byte ranges of whole items (to duplicate, drop or splice). */
  readonly items: readonly (readonly [number, number])[]
  /** Known 8-byte type values (as `[lo, hi]`) to put into type fields. */
  readonly typeValues: readonly (readonly [number, number])[]
  /**
   * Tables of fixed-size entries as `[start, end, entrySize]` (pxar goodbye tables, index entry
   * arrays): their entries are swapped, reversed, sorted or copied over each other.
   */
  readonly tables?: readonly (readonly [number, number, number])[]
}

/** Hints for a format without known structure. */
export const NO_HINTS: Hints = { sizeFields: [], typeFields: [], items: [], typeValues: [] }

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xfe, 0xff, 0x20, 0x2f, 0x2e]
/** Interesting u64 values as `[lo, hi]` halves. */
const INTERESTING_64: readonly (readonly [number, number])[] = [
  [0, 0],
  [1, 0],
  [7, 0],
  [8, 0],
  [15, 0],
  [16, 0],
  [17, 0],
  [24, 0],
  [40, 0],
  [0x7fffffff, 0],
  [0xffffffff, 0],
  [0, 1],
  [0xffffffff, 0x1fffff], // 2^53 - 1
  [0, 0x200000], // 2^53
  [0xffffffff, 0x7fffffff],
  [0, 0x80000000],
  [0xffffffff, 0xffffffff],
  [0x1000000, 0], // 16 MiB
  [0x10000000, 0], // 256 MiB
]

function setU64(out: Uint8Array, off: number, lo: number, hi: number): void {
  if (off < 0 || off + 8 > out.length) return
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength)
  v.setUint32(off, lo >>> 0, true)
  v.setUint32(off + 4, hi >>> 0, true)
}

function getU64(bytes: Uint8Array, off: number): number {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return v.getUint32(off + 4, true) * 0x1_0000_0000 + v.getUint32(off, true)
}

function pick<T>(rng: Rng, list: readonly T[]): T {
  return list[rng.below(list.length)]!
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/** Applies one mutation; returns a new array (the input is not modified). */
export function mutateOnce(input: Uint8Array, hints: Hints, rng: Rng): Uint8Array {
  const len = input.length
  const out = new Uint8Array(input)
  const at = (): number => rng.below(Math.max(1, len))
  const kind = rng.below(hints.tables && hints.tables.length > 0 ? 16 : 14)
  switch (kind) {
    case 14:
    case 15:
      return shuffleTable(out, pick(rng, hints.tables!), rng)
    case 0: {
      // bit flip
      if (len === 0) return out
      const i = at()
      out[i]! ^= 1 << rng.below(8)
      return out
    }
    case 1: {
      // interesting byte
      if (len === 0) return out
      out[at()] = pick(rng, INTERESTING_8)
      return out
    }
    case 2: {
      // random byte run
      const i = at()
      const n = 1 + rng.below(8)
      for (let k = i; k < Math.min(len, i + n); k++) out[k] = rng.below(256)
      return out
    }
    case 3:
    case 4: {
      // size field to an interesting or nearby value
      if (hints.sizeFields.length === 0) {
        setU64(out, Math.max(0, at() - 7), ...pick(rng, INTERESTING_64))
        return out
      }
      const off = pick(rng, hints.sizeFields)
      if (off + 8 > len) return out
      if (rng.below(2) === 0) {
        setU64(out, off, ...pick(rng, INTERESTING_64))
      } else {
        const cur = getU64(out, off)
        const delta = [-16, -8, -1, 1, 8, 16, 24, 40, len, -len][rng.below(10)]!
        const v = Math.max(0, cur + delta)
        setU64(out, off, v % 0x1_0000_0000, Math.floor(v / 0x1_0000_0000))
      }
      return out
    }
    case 5: {
      // type field to another known type (or garbage)
      if (hints.typeFields.length === 0) return mutateOnce(input, NO_HINTS, rng)
      const off = pick(rng, hints.typeFields)
      if (hints.typeValues.length > 0 && rng.below(4) !== 0) setU64(out, off, ...pick(rng, hints.typeValues))
      else setU64(out, off, rng.u32(), rng.u32())
      return out
    }
    case 6:
    case 7: {
      // truncation
      return out.slice(0, rng.below(len + 1))
    }
    case 8: {
      // drop an item or a range
      const [s, e] = rangeOf(hints, len, rng)
      return concat([input.subarray(0, s), input.subarray(e)])
    }
    case 9: {
      // duplicate an item or a range in place
      const [s, e] = rangeOf(hints, len, rng)
      return concat([input.subarray(0, e), input.subarray(s, e), input.subarray(e)])
    }
    case 10: {
      // splice: copy an item or a range somewhere else (item boundary when known)
      const [s, e] = rangeOf(hints, len, rng)
      const dst = hints.items.length > 0 && rng.below(2) === 0 ? pick(rng, hints.items)[0] : at()
      return concat([input.subarray(0, dst), input.subarray(s, e), input.subarray(dst)])
    }
    case 11: {
      // overwrite with bytes from elsewhere in the input
      const [s, e] = rangeOf(hints, len, rng)
      const dst = at()
      const piece = input.slice(s, e)
      out.set(piece.subarray(0, Math.max(0, len - dst)), dst)
      return out
    }
    case 12: {
      // insert random bytes
      const n = 1 + rng.below(16)
      const ins = new Uint8Array(n)
      for (let k = 0; k < n; k++) ins[k] = rng.below(256)
      const i = at()
      return concat([input.subarray(0, i), ins, input.subarray(i)])
    }
    default: {
      // u32 at a random aligned offset to an interesting value
      if (len < 4) return out
      const i = (at() & ~3) % Math.max(1, len - 3)
      const [lo] = pick(rng, INTERESTING_64)
      new DataView(out.buffer).setUint32(i, lo >>> 0, true)
      return out
    }
  }
}

/** Reorders or overwrites entries of one fixed-size entry table in place. */
function shuffleTable(
  out: Uint8Array,
  [start, end, size]: readonly [number, number, number],
  rng: Rng,
): Uint8Array {
  const n = Math.floor((Math.min(end, out.length) - start) / size)
  if (n < 1) return out
  const entry = (k: number): Uint8Array => out.slice(start + k * size, start + (k + 1) * size)
  const a = rng.below(n)
  const b = rng.below(n)
  switch (rng.below(4)) {
    case 0: {
      // swap two entries
      const ea = entry(a)
      out.copyWithin(start + a * size, start + b * size, start + (b + 1) * size)
      out.set(ea, start + b * size)
      break
    }
    case 1: {
      // reverse the table
      const all = Array.from({ length: n }, (_, k) => entry(k)).reverse()
      all.forEach((e, k) => {
        out.set(e, start + k * size)
      })
      break
    }
    case 2: {
      // random permutation
      const all = Array.from({ length: n }, (_, k) => entry(k))
      for (let k = n - 1; k > 0; k--) {
        const j = rng.below(k + 1)
        ;[all[k], all[j]] = [all[j]!, all[k]!]
      }
      all.forEach((e, k) => {
        out.set(e, start + k * size)
      })
      break
    }
    default:
      // duplicate one entry over another
      out.copyWithin(start + a * size, start + b * size, start + (b + 1) * size)
  }
  return out
}

function rangeOf(hints: Hints, len: number, rng: Rng): [number, number] {
  if (hints.items.length > 0 && rng.below(3) !== 0) {
    const [s, e] = pick(rng, hints.items)
    return [Math.min(s, len), Math.min(e, len)]
  }
  const s = rng.below(len + 1)
  const e = Math.min(len, s + 1 + rng.below(64))
  return [s, e]
}

/** Applies 1..`max` stacked mutations. */
export function mutate(input: Uint8Array, hints: Hints, rng: Rng, max = 4): Uint8Array {
  let out = input
  const n = 1 + rng.below(max)
  for (let k = 0; k < n; k++) out = mutateOnce(out, hints, rng)
  return out
}

/**
 * Text mutations for JSON inputs: numbers replaced by edge values, strings emptied or grown,
 * structural characters dropped or repeated. Falls back to byte mutations half of the time.
 */
export function mutateJson(input: Uint8Array, rng: Rng): Uint8Array {
  if (rng.below(2) === 0) return mutate(input, NO_HINTS, rng, 3)
  const text = new TextDecoder().decode(input)
  const tokens = [
    ...text.matchAll(/-?\d+(\.\d+)?([eE][-+]?\d+)?|"(?:[^"\\]|\\.)*"|[{}[\]:,]|null|true|false/g),
  ]
  if (tokens.length === 0) return mutate(input, NO_HINTS, rng, 3)
  const t = pick(rng, tokens)
  const start = t.index
  const end = start + t[0].length
  const numbers = [
    '0',
    '-1',
    '1e309',
    '-0',
    '0.5',
    '4294967296',
    '9007199254740993',
    '18446744073709551616',
    '-9223372036854775809',
    '1e-400',
    '65536',
    '1048576',
    '2147483648',
  ]
  const strings = ['""', '"\\u0000"', '"\\ud800"', `"${'a'.repeat(300)}"`, '"AAAA"', '"=="', '"Z"']
  const values = [
    ...numbers,
    ...strings,
    'null',
    'true',
    '[]',
    '{}',
    '[[[[[[[[[[]]]]]]]]]]',
    '{"a":{"a":{"a":{}}}}',
  ]
  let repl: string
  switch (rng.below(4)) {
    case 0:
      repl = pick(rng, values)
      break
    case 1:
      repl = '' // drop the token
      break
    case 2:
      repl = t[0] + t[0] // repeat it
      break
    default:
      repl = t[0].startsWith('"') ? pick(rng, strings) : pick(rng, numbers)
  }
  return new TextEncoder().encode(text.slice(0, start) + repl + text.slice(end))
}
