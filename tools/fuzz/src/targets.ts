/**
 * Fuzz targets: one per parser. Each knows its seeds (files from the shared vectors), how to
 * describe an input's structure for the mutator, and how to exercise the parser on one input.
 * The oracle is the same everywhere: `run` either returns or throws a typed `PxarError`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { type Accessor, type AccessorEntry, bufferReadAt, Decoder, decode, openAccessor } from '@pxar/codec'
import {
  AsyncCatalogReader,
  CatalogReader,
  type CatalogWalkEntry,
  CryptConfig,
  canonicalJson,
  checkManifestFingerprint,
  crc32,
  DynamicIndex,
  decodeBlob,
  decryptKeyConfig,
  FixedIndex,
  inspectBlob,
  keyInfo,
  parseJson,
  parseKeyConfig,
  parseManifest,
  prettyJson,
} from '@pxar/datastore'
import * as format from '@pxar/format'
import { type Hints, mutate, mutateJson, type Rng } from './mutate.ts'

/** A seed input. */
export interface Seed {
  readonly name: string
  readonly bytes: Uint8Array
}

/** One fuzz target. */
export interface Target {
  readonly name: string
  readonly description: string
  /** Seed inputs from the vectors folder (`vectors/` with `pxar/` and `pbs/` inside). */
  seeds(vectors: string): Seed[]
  /** Produces a mutated input from a seed. */
  mutate(seed: Uint8Array, rng: Rng): Uint8Array
  /** Exercises the parser; throws only errors {@link Target.accepts} accepts. */
  run(input: Uint8Array): Promise<void>
  /** The oracle: is this thrown value an expected (typed) error? Default: a `PxarError`. */
  accepts(err: unknown): boolean
  /** Prepares shared state (keys, a running agent or server); call once before {@link Target.run}. */
  setup?(vectors: string): Promise<void>
  /** Releases what {@link Target.setup} made. */
  teardown?(): Promise<void>
  /** Per-input time limit when it differs from the runner's default. */
  readonly timeMs?: number
}

/** A target definition; `accepts` defaults to {@link isTyped}. */
export type TargetSpec = Omit<Target, 'accepts'> & { accepts?(err: unknown): boolean }

/** Completes a {@link TargetSpec}. */
export function defineTarget(spec: TargetSpec): Target {
  return { accepts: isTyped, ...spec }
}

// ---- shared helpers ---------------------------------------------------------------------------

const MAX_SEED = 1 << 20
/** Bound on entries / content bytes a run touches, so a valid large archive stays fast. */
const MAX_ENTRIES = 400
const MAX_CONTENT = 256 * 1024

function readSeeds(dir: string, filter: (name: string) => boolean, prefix = ''): Seed[] {
  const out: Seed[] = []
  let names: string[]
  try {
    names = readdirSync(dir).sort()
  } catch {
    return out
  }
  for (const name of names) {
    const path = join(dir, name)
    const st = statSync(path)
    if (st.isDirectory()) out.push(...readSeeds(path, filter, `${prefix}${name}/`))
    else if (filter(name) && st.size <= MAX_SEED) {
      out.push({ name: prefix + name, bytes: new Uint8Array(readFileSync(path)) })
    }
  }
  return out
}

const PXAR_TYPES: readonly (readonly [number, number])[] = (Object.values(format) as unknown[])
  .filter(isHType)
  .map((h) => [h.lo, h.hi] as const)

function isHType(v: unknown): v is format.HType {
  return typeof v === 'object' && v !== null && 'lo' in v && 'hi' in v && 'value' in v && Object.isFrozen(v)
}

/** Walks the 16-byte pxar headers of a stream linearly (items are contiguous in both streams). */
function pxarHints(bytes: Uint8Array, base = 0, end = bytes.length): Hints {
  const sizeFields: number[] = []
  const typeFields: number[] = []
  const items: [number, number][] = []
  const tables: [number, number, number][] = []
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let pos = base
  while (pos + 16 <= end && items.length < 4096) {
    const hi = view.getUint32(pos + 12, true)
    const size = hi * 0x1_0000_0000 + view.getUint32(pos + 8, true)
    if (size < 16 || pos + size > end) {
      pos += 8 // payload stream gaps: resync on 8-byte steps
      continue
    }
    typeFields.push(pos)
    sizeFields.push(pos + 8)
    items.push([pos, pos + size])
    // goodbye items: their (offset, size) pairs are size fields too
    if (
      view.getUint32(pos, true) === format.PXAR_GOODBYE.lo &&
      view.getUint32(pos + 4, true) === format.PXAR_GOODBYE.hi
    ) {
      for (let o = pos + 16; o + 24 <= pos + size; o += 24) sizeFields.push(o + 8, o + 16)
      // the tail marker (last entry) stays in place; the search tree entries get reordered
      if (size >= 16 + 48) tables.push([pos + 16, pos + size - 24, 24])
    }
    if (
      view.getUint32(pos, true) === format.PXAR_PAYLOAD_REF.lo &&
      view.getUint32(pos + 4, true) === format.PXAR_PAYLOAD_REF.hi
    ) {
      sizeFields.push(pos + 16, pos + 24)
    }
    if (
      view.getUint32(pos, true) === format.PXAR_HARDLINK.lo &&
      view.getUint32(pos + 4, true) === format.PXAR_HARDLINK.hi
    ) {
      sizeFields.push(pos + 16)
    }
    pos += size
  }
  return { sizeFields, typeFields, items, typeValues: PXAR_TYPES, tables }
}

/** Expected error: only typed ones pass. */
export function isTyped(err: unknown): boolean {
  return format.isPxarError(err)
}

/**
 * Runs an API call the target makes with arguments the API documents as invalid: success or a
 * `TypeError`/`RangeError` is fine, anything else is rethrown.
 */
async function misuse(fn: () => unknown): Promise<void> {
  try {
    await fn()
  } catch (err) {
    if (!(err instanceof TypeError || err instanceof RangeError)) throw err
  }
}

// ---- pxar -------------------------------------------------------------------------------------

function pxarSeeds(vectors: string, ext: string): Seed[] {
  return readSeeds(join(vectors, 'pxar'), (n) => n.endsWith(ext))
}

/** v2 inputs pack both streams: u32 LE metadata length, metadata, payload. */
export function packSplit(meta: Uint8Array, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + meta.length + payload.length)
  new DataView(out.buffer).setUint32(0, meta.length, true)
  out.set(meta, 4)
  out.set(payload, 4 + meta.length)
  return out
}

function unpackSplit(input: Uint8Array): { meta: Uint8Array; payload: Uint8Array } {
  if (input.length < 4) return { meta: input, payload: new Uint8Array(0) }
  const n = Math.min(new DataView(input.buffer, input.byteOffset, 4).getUint32(0, true), input.length - 4)
  return { meta: input.subarray(4, 4 + n), payload: input.subarray(4 + n) }
}

function splitSeeds(vectors: string): Seed[] {
  const root = join(vectors, 'pxar')
  const out: Seed[] = []
  for (const c of readdirSync(root).sort()) {
    try {
      const meta = readFileSync(join(root, c, 'archive.mpxar'))
      const payload = readFileSync(join(root, c, 'archive.ppxar'))
      if (meta.length + payload.length <= MAX_SEED)
        out.push({ name: `${c}/split`, bytes: packSplit(meta, payload) })
    } catch {
      // no split form
    }
  }
  return out
}

function splitHints(input: Uint8Array): Hints {
  const { meta } = unpackSplit(input)
  const a = pxarHints(input, 4, 4 + meta.length)
  const b = pxarHints(input, 4 + meta.length)
  return {
    sizeFields: [0, ...a.sizeFields, ...b.sizeFields].filter((o) => o !== 0 || input.length >= 8),
    typeFields: [...a.typeFields, ...b.typeFields],
    items: [...a.items, ...b.items],
    typeValues: PXAR_TYPES,
    tables: [...(a.tables ?? []), ...(b.tables ?? [])],
  }
}

function runDecoder(input: Uint8Array, pieces: number, lenient: boolean): void {
  const dec = new Decoder(lenient ? { onWarning: () => {} } : {})
  const step = Math.max(1, Math.ceil(input.length / pieces))
  let entries = 0
  for (let o = 0; o < input.length; o += step) {
    for (const ev of dec.push(input.subarray(o, o + step))) if (ev.type === 'entry') entries++
  }
  dec.finish()
  void entries
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  // two pieces, so the async wrapper sees a boundary
  const cut = bytes.length >> 1
  yield bytes.subarray(0, cut)
  yield bytes.subarray(cut)
}

async function drainDecode(archive: Uint8Array, payload?: Uint8Array, random = false): Promise<void> {
  let n = 0
  const options = payload === undefined ? {} : { payload: random ? bufferReadAt(payload) : once(payload) }
  for await (const e of decode(once(archive), options)) {
    if (++n > MAX_ENTRIES * 4) break
    if (e.content) {
      let got = 0
      for await (const piece of e.content) {
        got += piece.length
        if (got > MAX_CONTENT) break
      }
    }
  }
}

async function walkAccessor(acc: Accessor): Promise<void> {
  const root = await acc.root()
  let budget = MAX_ENTRIES
  const queue: AccessorEntry[] = [root]
  while (queue.length > 0 && budget > 0) {
    const dir = queue.shift()!
    await acc.goodbyeTable(dir)
    for await (const e of acc.readDir(dir)) {
      if (--budget <= 0) break
      await acc.lookup(e.path)
      await acc.lookupChild(dir, e.name)
      if (e.kind === 'directory') queue.push(e)
      else if (e.kind === 'file' || e.kind === 'hardlink') {
        const f = e.kind === 'hardlink' ? await acc.followHardlink(e) : e
        let got = 0
        for await (const piece of acc.content(f)) {
          got += piece.length
          if (got > MAX_CONTENT) break
        }
        const buf = new Uint8Array(64)
        await acc.readFileAt(f, buf, Math.max(0, (f.fileSize ?? 0) - 10))
        await acc.readFileAt(f, buf, 2 ** 40)
      }
    }
  }
  await acc.lookup('/does/not/exist')
  // documented API misuse: a TypeError, whatever the archive holds
  await misuse(() => acc.lookup('..'))
}

const pxarDecoder: Target = defineTarget({
  name: 'pxar-decoder',
  description: 'pxar Decoder (sync push core), strict and lenient, one piece and many pieces',
  seeds: (v) => pxarSeeds(v, '.pxar').concat(pxarSeeds(v, '.mpxar')),
  mutate: (seed, rng) => mutate(seed, pxarHints(seed), rng),
  async run(input) {
    runDecoder(input, 1, false)
    runDecoder(input, 7, true)
  },
})

const pxarDecode: Target = defineTarget({
  name: 'pxar-decode',
  description:
    'decode() async wrapper over v1 archives and v2 split archives (sequential and random payload)',
  seeds: (v) => pxarSeeds(v, '.pxar').concat(splitSeeds(v)),
  mutate: (seed, rng) => mutate(seed, isSplit(seed) ? splitHints(seed) : pxarHints(seed), rng),
  async run(input) {
    if (isSplit(input)) {
      const { meta, payload } = unpackSplit(input)
      await settle(drainDecode(meta, payload, false))
      await drainDecode(meta, payload, true)
    } else await drainDecode(input)
  },
})

/** Split inputs start with a u32 length, pxar archives with the 8-byte ENTRY/FORMAT_VERSION type. */
function isSplit(input: Uint8Array): boolean {
  if (input.length < 12) return false
  const v = new DataView(input.buffer, input.byteOffset, input.byteLength)
  const lo = v.getUint32(4, true)
  return lo === format.PXAR_FORMAT_VERSION.lo && v.getUint32(0, true) <= input.length - 4
}

/** Runs both checks even if the first fails with a typed error. */
async function settle(p: Promise<void>): Promise<void> {
  try {
    await p
  } catch (err) {
    if (!isTyped(err)) throw err
  }
}

const pxarAccessor: Target = defineTarget({
  name: 'pxar-accessor',
  description: 'Accessor (root, readDir, goodbye tables, lookup, hardlinks, content, readFileAt), v1 and v2',
  seeds: (v) => pxarSeeds(v, '.pxar').concat(splitSeeds(v)),
  mutate: (seed, rng) => mutate(seed, isSplit(seed) ? splitHints(seed) : pxarHints(seed), rng),
  async run(input) {
    if (isSplit(input)) {
      const { meta, payload } = unpackSplit(input)
      await walkAccessor(await openAccessor(bufferReadAt(meta), { payload: bufferReadAt(payload) }))
    } else await walkAccessor(await openAccessor(bufferReadAt(input), { cacheBytes: 4096 }))
  },
})

// ---- datastore --------------------------------------------------------------------------------

let cryptCache: CryptConfig | undefined
/** The vectors' scrypt key (raw key from its expectation, so no KDF runs per input). */
export function vectorKey(vectors: string): CryptConfig {
  if (cryptCache) return cryptCache
  const exp = JSON.parse(readFileSync(join(vectors, 'pbs', 'keys', 'scrypt.expected.json'), 'utf8'))
  cryptCache = new CryptConfig(Uint8Array.from(Buffer.from(exp.enc_key as string, 'hex')))
  return cryptCache
}

const BLOB_HINTS: Hints = { sizeFields: [], typeFields: [0], items: [], typeValues: [] }

/** zstd frame header descriptors: every content-size width, single segment or not, dictionary ids. */
const ZSTD_FHD = [0x00, 0x04, 0x20, 0x24, 0x40, 0x44, 0x60, 0x80, 0xa0, 0xc0, 0xe0, 0xe4, 0x01, 0x03]
/** Declared content sizes (bytes). */
const ZSTD_SIZES = [
  0,
  1,
  255,
  256,
  65535,
  1 << 20,
  16 * 1024 * 1024,
  16 * 1024 * 1024 + 1,
  2 ** 27,
  2 ** 32 - 1,
]

/**
 * Rewrites the zstd frame header of an unencrypted compressed blob (frame at byte 12): a new
 * descriptor with a declared content size of an edge value, the blocks kept.
 */
function rewriteZstdHeader(seed: Uint8Array, rng: Rng): Uint8Array {
  if (seed.length < 18 || seed[12] !== 0x28 || seed[13] !== 0xb5) return mutate(seed, BLOB_HINTS, rng, 3)
  const oldFhd = seed[16]!
  const oldSingle = (oldFhd >> 5) & 1
  const oldFcs = [oldSingle, 2, 4, 8][oldFhd >> 6]!
  const oldDid = [0, 1, 2, 4][oldFhd & 3]!
  const blocks = seed.subarray(17 + (oldSingle ? 0 : 1) + oldDid + oldFcs)
  const fhd = ZSTD_FHD[rng.below(ZSTD_FHD.length)]!
  const single = (fhd >> 5) & 1
  const fcs = [single, 2, 4, 8][fhd >> 6]!
  const did = [0, 1, 2, 4][fhd & 3]!
  const head: number[] = [...seed.subarray(0, 16), fhd]
  if (!single) head.push(oldSingle ? 0x50 : seed[17]!) // window descriptor
  for (let k = 0; k < did; k++) head.push(rng.below(256))
  let size = ZSTD_SIZES[rng.below(ZSTD_SIZES.length)]!
  if (fcs === 2) size = Math.max(0, size - 256)
  for (let k = 0; k < fcs; k++) {
    head.push(size % 256)
    size = Math.floor(size / 256)
  }
  const out = new Uint8Array(head.length + blocks.length)
  out.set(head)
  out.set(blocks, head.length)
  return fixCrc(out)
}

function fixCrc(bytes: Uint8Array): Uint8Array {
  try {
    const info = inspectBlob(bytes)
    new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(
      8,
      crc32(bytes.subarray(info.headerSize)),
      true,
    )
  } catch {
    // not a blob any more
  }
  return bytes
}

let blobKey: CryptConfig | undefined
let manifestKey: CryptConfig | undefined

const blob: Target = defineTarget({
  name: 'blob',
  description: 'DataBlob inspect/decode for every kind, with and without key, CRC checked and not',
  async setup(v) {
    blobKey = vectorKey(v)
  },
  seeds(v) {
    const blobs = readSeeds(join(v, 'pbs', 'blob'), (n) => n.endsWith('.blob'))
    const chunks = readSeeds(join(v, 'pbs', 'datastore', '.chunks'), () => true).slice(0, 8)
    return blobs.concat(chunks)
  },
  mutate(seed, rng) {
    const out = rng.below(4) === 0 ? rewriteZstdHeader(seed, rng) : mutate(seed, BLOB_HINTS, rng, 3)
    // most mutations would stop at the CRC: repair it for half of the inputs to reach zstd/GCM
    return rng.below(2) === 0 ? fixCrc(out) : out
  },
  async run(input) {
    await settle(Promise.resolve().then(() => void inspectBlob(input)))
    for (const opts of [{}, { verifyCrc: false }, { crypt: blobKey, verifyCrc: false }, { maxSize: 4096 }]) {
      try {
        decodeBlob(input, opts)
      } catch (err) {
        if (!isTyped(err)) throw err
      }
    }
    if (blobKey) {
      try {
        decodeBlob(input, { crypt: blobKey, digest: new Uint8Array(32) })
      } catch (err) {
        if (!isTyped(err)) throw err
      }
    }
  },
})

const OFFSET_PROBES = [0, 1, 4095, 65535, 1 << 20, 2 ** 32, 2 ** 53, -1, Number.NaN, 0.5, Infinity]

function indexHints(bytes: Uint8Array, dynamic: boolean): Hints {
  const sizeFields = dynamic ? [24] : [24, 64, 72]
  const items: [number, number][] = [[0, Math.min(4096, bytes.length)]]
  const entry = dynamic ? 40 : 32
  for (let o = 4096; o + entry <= bytes.length && items.length < 256; o += entry) {
    if (dynamic) sizeFields.push(o)
    items.push([o, o + entry])
  }
  const start = 4096
  const end = start + Math.floor((bytes.length - start) / entry) * entry
  return {
    sizeFields,
    typeFields: [0],
    items,
    typeValues: [],
    tables: end > start ? [[start, end, entry]] : [],
  }
}

function probeIndex(idx: DynamicIndex | FixedIndex): void {
  for (const off of [...OFFSET_PROBES, idx.size - 1, idx.size, idx.size + 1, Math.floor(idx.size / 3)]) {
    const hit = idx.chunkFromOffset(off)
    if (hit !== undefined) idx.digest(hit.index)
  }
  for (const i of [0, idx.count - 1, idx.count, -1, 1.5]) {
    try {
      idx.digest(i)
    } catch (err) {
      if (!isTyped(err)) throw err
    }
  }
  idx.computeCsum()
  try {
    idx.verifyCsum()
  } catch (err) {
    if (!isTyped(err)) throw err
  }
}

const didx: Target = defineTarget({
  name: 'didx',
  description: '.didx parse, chunkFromOffset, digest/start/end, csum',
  seeds: (v) => readSeeds(join(v, 'pbs'), (n) => n.endsWith('.didx')),
  mutate: (seed, rng) => mutate(seed, indexHints(seed, true), rng),
  async run(input) {
    const idx = DynamicIndex.parse(input)
    probeIndex(idx)
    for (const i of [0, idx.count - 1]) {
      idx.start(i)
      idx.end(i)
    }
  },
})

const fidx: Target = defineTarget({
  name: 'fidx',
  description: '.fidx parse, chunkFromOffset, digest/chunkRange, csum',
  seeds: (v) => readSeeds(join(v, 'pbs'), (n) => n.endsWith('.fidx')),
  mutate: (seed, rng) => mutate(seed, indexHints(seed, false), rng),
  async run(input) {
    const idx = FixedIndex.parse(input)
    probeIndex(idx)
    idx.chunkRange(0)
    idx.chunkRange(idx.count - 1)
  },
})

function catalogHints(bytes: Uint8Array): Hints {
  const sizeFields = bytes.length >= 16 ? [bytes.length - 8] : []
  return { sizeFields, typeFields: [], items: [], typeValues: [] }
}

const catalog: Target = defineTarget({
  name: 'catalog',
  description: 'CatalogReader root/readDir/lookup/lookupPath/walk/find/dump and AsyncCatalogReader',
  seeds: (v) => readSeeds(join(v, 'pbs', 'catalog'), (n) => n.endsWith('.pcat1')),
  mutate: (seed, rng) => mutate(seed, catalogHints(seed), rng),
  async run(input) {
    await settle(
      (async () => {
        const r = new CatalogReader(input)
        const root = r.root()
        const first = r.readDir(root)
        for (const e of first.slice(0, 16)) {
          r.lookup(root, e.name)
          if (e.type === 'd') r.readDir(e)
        }
        r.lookupPath('/a/b/c')
        let n = 0
        const walked: CatalogWalkEntry[] = r.find(() => ++n < 4 * MAX_ENTRIES)
        for (const w of walked.slice(0, 32)) r.lookupPath(w.path)
        r.dump()
      })(),
    )
    const a = await AsyncCatalogReader.open(bufferReadAt(input))
    const root = a.root()
    for (const e of (await a.readDir(root)).slice(0, 16)) {
      await a.lookup(root, e.name)
      if (e.type === 'd') await a.readDir(e)
    }
    await a.lookupPath('x/y')
  },
})

const manifest: Target = defineTarget({
  name: 'manifest',
  description: 'manifest JSON parse, signature and fingerprint verification',
  async setup(v) {
    manifestKey = vectorKey(v)
  },
  seeds(v) {
    return readSeeds(join(v, 'pbs', 'manifest'), (n) => n.endsWith('.json') && !n.includes('expected'))
  },
  mutate: (seed, rng) => mutateJson(seed, rng),
  async run(input) {
    await settle(Promise.resolve().then(() => void parseManifest(input)))
    const m = parseManifest(input, manifestKey ? { key: manifestKey } : {})
    try {
      checkManifestFingerprint(m, manifestKey)
    } catch (err) {
      if (!isTyped(err)) throw err
    }
    checkManifestFingerprint(m)
  },
})

/** scrypt/PBKDF2 work a fuzz input may cause (beyond it the parameters are scaled down). */
const MAX_SCRYPT_MEM = 1 << 20
const MAX_PBKDF2_ITER = 2000

const keyfile: Target = defineTarget({
  name: 'keyfile',
  description: 'key file JSON parse, KeyInfo and decryption (KDF cost bounded)',
  seeds: (v) => readSeeds(join(v, 'pbs', 'keys'), (n) => n.endsWith('.key')),
  mutate: (seed, rng) => mutateJson(seed, rng),
  async run(input) {
    const kc = parseKeyConfig(input)
    keyInfo(kc)
    let bounded = kc
    const kdf = kc.kdf
    if (kdf?.type === 'scrypt') {
      const mem = 128 * kdf.n * kdf.r * kdf.p
      // cheap rejections (invalid or over the library's own cap) run as they are
      if (Number.isSafeInteger(mem) && mem > MAX_SCRYPT_MEM && mem <= 1025 * 1024 * 1024) {
        bounded = { ...kc, kdf: { ...kdf, n: 16, r: 1, p: 1 } }
      }
    } else if (kdf?.type === 'pbkdf2' && kdf.iter > MAX_PBKDF2_ITER && kdf.iter <= 1 << 24) {
      bounded = { ...kc, kdf: { ...kdf, iter: 16 } }
    }
    await settle(decryptKeyConfig(bounded, { password: 'pbkdf2-secret' }).then(() => {}))
    await decryptKeyConfig(bounded, {})
  },
})

const canonical: Target = defineTarget({
  name: 'canonical-json',
  description: 'lossless JSON parser, canonical and pretty serialization',
  seeds: (v) =>
    readSeeds(join(v, 'pbs', 'canonical'), (n) => n.endsWith('.json')).concat(
      readSeeds(join(v, 'pbs', 'manifest'), (n) => n.endsWith('.json')).slice(0, 6),
    ),
  mutate: (seed, rng) => mutateJson(seed, rng),
  async run(input) {
    const text = new TextDecoder().decode(input)
    const v = parseJson(text)
    // serializing documents TypeError/RangeError for values that are not canonical JSON (null,
    // lone surrogates); what serializes must parse back to the same text
    let c: string | undefined
    await misuse(() => {
      c = canonicalJson(v)
    })
    await misuse(() => prettyJson(v))
    if (c !== undefined && canonicalJson(parseJson(c)) !== c) throw new Error('canonical JSON is not stable')
  },
})

/** The parser targets (pxar, datastore formats, JSON). */
export const PARSER_TARGETS: readonly Target[] = [
  pxarDecoder,
  pxarDecode,
  pxarAccessor,
  blob,
  didx,
  fidx,
  catalog,
  manifest,
  keyfile,
  canonical,
]
