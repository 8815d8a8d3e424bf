/**
 * Generated inputs of the PBS vectors (`--gen SPEC`): splitmix64 streams, text, zeros, repeats.
 * See the vector README's "Generators" section. Everything streams in bounded pieces so a 40 MiB
 * input never has to be one buffer.
 */

/** Default piece size of generated streams. */
export const GEN_PIECE_SIZE: number = 1 << 20

/** A parsed generator spec. */
export type GenSpec =
  | { readonly kind: 'splitmix64'; readonly seed: bigint; readonly size: number }
  | { readonly kind: 'text'; readonly seed: bigint; readonly size: number }
  | { readonly kind: 'zeros'; readonly size: number }
  | { readonly kind: 'repeat'; readonly seed: bigint; readonly block: number; readonly count: number }

function parseNumber(text: string, what: string): number {
  const m = /^(\d+)([KM]?)$/.exec(text)
  if (!m) throw new Error(`generator ${what}: bad number ${JSON.stringify(text)}`)
  const scale = m[2] === 'K' ? 1024 : m[2] === 'M' ? 1024 * 1024 : 1
  const value = Number(m[1]) * scale
  if (!Number.isSafeInteger(value)) throw new Error(`generator ${what}: ${text} is too large`)
  return value
}

function parseSeed(text: string): bigint {
  if (!/^\d+$/.test(text)) throw new Error(`generator seed: bad number ${JSON.stringify(text)}`)
  return BigInt.asUintN(64, BigInt(text))
}

/** Parses `splitmix64:SEED:SIZE`, `text:SEED:SIZE`, `zeros:SIZE` or `repeat:SEED:BLOCK:COUNT`. */
export function parseGenSpec(spec: string): GenSpec {
  const parts = spec.split(':')
  const [kind] = parts
  if ((kind === 'splitmix64' || kind === 'text') && parts.length === 3) {
    return { kind, seed: parseSeed(parts[1]!), size: parseNumber(parts[2]!, 'size') }
  }
  if (kind === 'zeros' && parts.length === 2) return { kind, size: parseNumber(parts[1]!, 'size') }
  if (kind === 'repeat' && parts.length === 4) {
    return {
      kind,
      seed: parseSeed(parts[1]!),
      block: parseNumber(parts[2]!, 'block'),
      count: parseNumber(parts[3]!, 'count'),
    }
  }
  throw new Error(`unknown generator spec ${JSON.stringify(spec)}`)
}

/** Total byte length of a generator's output. */
export function genSize(spec: GenSpec): number {
  return spec.kind === 'repeat' ? spec.block * spec.count : spec.size
}

/** Low 64 bits of (ah:al) * (bh:bl), as [hi, lo] u32 halves. */
function mul64(ah: number, al: number, bh: number, bl: number, out: Uint32Array): void {
  const a0 = al & 0xffff
  const a1 = al >>> 16
  const b0 = bl & 0xffff
  const b1 = bl >>> 16
  const p00 = a0 * b0
  const p01 = a0 * b1
  const p10 = a1 * b0
  const p11 = a1 * b1
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff)
  out[1] = ((mid << 16) | (p00 & 0xffff)) >>> 0
  out[0] = (p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16) + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0
}

/**
 * The splitmix64 generator on u32 halves (no BigInt in the loop): each step's 64-bit output is
 * written as 8 little-endian bytes.
 */
export class SplitMix64 {
  #hi: number
  #lo: number
  readonly #tmp = new Uint32Array(2)

  constructor(seed: bigint) {
    const s = BigInt.asUintN(64, seed)
    this.#hi = Number(s >> 32n)
    this.#lo = Number(s & 0xffffffffn)
  }

  /** Fills `out` with the next `out.length` stream bytes (a multiple of 8). */
  fill(out: Uint8Array): void {
    if (out.length % 8 !== 0) throw new RangeError('splitmix64 fill length must be a multiple of 8')
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength)
    const t = this.#tmp
    let hi = this.#hi
    let lo = this.#lo
    for (let at = 0; at < out.length; at += 8) {
      // state += 0x9E3779B97F4A7C15
      const sum = lo + 0x7f4a7c15
      lo = sum >>> 0
      hi = (hi + 0x9e3779b9 + (sum > 0xffffffff ? 1 : 0)) >>> 0
      // z ^= z >> 30; z *= 0xBF58476D1CE4E5B9
      let zl = (lo ^ ((lo >>> 30) | (hi << 2))) >>> 0
      let zh = (hi ^ (hi >>> 30)) >>> 0
      mul64(zh, zl, 0xbf58476d, 0x1ce4e5b9, t)
      zh = t[0]!
      zl = t[1]!
      // z ^= z >> 27; z *= 0x94D049BB133111EB
      zl = (zl ^ ((zl >>> 27) | (zh << 5))) >>> 0
      zh = (zh ^ (zh >>> 27)) >>> 0
      mul64(zh, zl, 0x94d049bb, 0x133111eb, t)
      zh = t[0]!
      zl = t[1]!
      // z ^= z >> 31
      zl = (zl ^ ((zl >>> 31) | (zh << 1))) >>> 0
      zh = (zh ^ (zh >>> 31)) >>> 0
      view.setUint32(at, zl, true)
      view.setUint32(at + 4, zh, true)
    }
    this.#hi = hi
    this.#lo = lo
  }
}

const TEXT_ALPHABET = new TextEncoder().encode('etaoinshrdlu \n.,')

/** The first `size` bytes of the splitmix64 stream of `seed`, in pieces of at most `pieceSize`. */
function* splitmix64Pieces(seed: bigint, size: number, pieceSize: number): Generator<Uint8Array> {
  const rng = new SplitMix64(seed)
  const step = Math.max(8, pieceSize - (pieceSize % 8))
  let left = size
  while (left > 0) {
    const n = Math.min(step, left)
    const buf = new Uint8Array(Math.ceil(n / 8) * 8)
    rng.fill(buf)
    yield n === buf.length ? buf : buf.subarray(0, n)
    left -= n
  }
}

/**
 * Streams a generator's bytes in fresh pieces of at most `pieceSize` bytes (pieces are never
 * reused, so consumers may keep them).
 */
export function* generate(spec: GenSpec | string, pieceSize: number = GEN_PIECE_SIZE): Generator<Uint8Array> {
  const s = typeof spec === 'string' ? parseGenSpec(spec) : spec
  switch (s.kind) {
    case 'splitmix64':
      yield* splitmix64Pieces(s.seed, s.size, pieceSize)
      return
    case 'text':
      for (const piece of splitmix64Pieces(s.seed, s.size, pieceSize)) {
        for (let i = 0; i < piece.length; i++) piece[i] = TEXT_ALPHABET[piece[i]! & 15]!
        yield piece
      }
      return
    case 'zeros': {
      let left = s.size
      while (left > 0) {
        const n = Math.min(pieceSize, left)
        yield new Uint8Array(n)
        left -= n
      }
      return
    }
    case 'repeat': {
      const block = concat([...splitmix64Pieces(s.seed, s.block, pieceSize)], s.block)
      for (let k = 0; k < s.count; k++) {
        for (let at = 0; at < block.length; at += pieceSize) yield block.slice(at, at + pieceSize)
      }
      return
    }
  }
}

function concat(pieces: readonly Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size)
  let at = 0
  for (const p of pieces) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** A generator's whole output as one buffer (for small specs). */
export function generateAll(spec: GenSpec | string): Uint8Array {
  const s = typeof spec === 'string' ? parseGenSpec(spec) : spec
  return concat([...generate(s)], genSize(s))
}
