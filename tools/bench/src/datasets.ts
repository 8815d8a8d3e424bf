/**
 * Seeded datasets: every byte follows from the seed and the scale, so two machines generate
 * the same trees. Random bytes come from an AES-256-CTR keystream (fast, deterministic), sizes
 * and choices from a small integer PRNG, text from a seeded vocabulary.
 */
import { createCipheriv, createHash } from 'node:crypto'
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { dirname, join } from 'node:path'

const KiB = 1024
const MiB = 1024 * KiB

/** The three datasets of the comparison. */
export const DATASETS = {
  mixed: '200 MiB mixed tree: 100 × 2 MiB random files + 1000 small text files',
  small: '100k small text files in a deep tree (5 directory levels)',
  big: 'one 2 GiB file of partly compressible data (random, text and zero blocks)',
} as const

/** Name of a dataset: `mixed` (a), `small` (b) or `big` (c). */
export type DatasetName = keyof typeof DATASETS

/** Accepts `a`/`b`/`c` as well as the names. */
export function parseDatasetName(text: string): DatasetName {
  const alias: Record<string, DatasetName> = { a: 'mixed', b: 'small', c: 'big' }
  const name = alias[text] ?? text
  if (name in DATASETS) return name as DatasetName
  throw new Error(`unknown dataset ${JSON.stringify(text)} (mixed|small|big or a|b|c)`)
}

/** One file of a dataset plan. */
export interface PlannedFile {
  /** Path relative to the dataset root, `/`-separated. */
  readonly path: string
  readonly size: number
  /** `random`: keystream bytes; `text`: words; `blocks`: 64 KiB blocks of random, text or zeros. */
  readonly content: 'random' | 'text' | 'blocks'
}

/** A generated dataset on disk. */
export interface Dataset {
  readonly name: DatasetName
  readonly description: string
  readonly root: string
  readonly seed: number
  readonly scale: number
  readonly files: readonly PlannedFile[]
  /** Sum of the file sizes. */
  readonly bytes: number
}

/** mulberry32: small, fast, good enough for choosing sizes and files. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function subSeed(seed: number, label: string): number {
  return createHash('sha256').update(`${seed}/${label}`).digest().readUInt32LE(0)
}

/** A deterministic byte stream: AES-256-CTR over zeros, keyed by seed and label. */
export class KeyStream {
  readonly #cipher
  #zeros = new Uint8Array(0)

  constructor(seed: number, label: string) {
    const key = createHash('sha256').update(`key/${seed}/${label}`).digest()
    const iv = createHash('sha256').update(`iv/${seed}/${label}`).digest().subarray(0, 16)
    this.#cipher = createCipheriv('aes-256-ctr', key, iv)
  }

  /** The next `n` bytes of the stream. */
  next(n: number): Uint8Array {
    if (this.#zeros.length < n) this.#zeros = new Uint8Array(Math.max(n, 64 * KiB))
    return this.#cipher.update(this.#zeros.subarray(0, n))
  }
}

/** About `size` bytes of seeded text: lines of words from a seeded vocabulary. */
export function textPool(seed: number, size: number): Uint8Array {
  const rand = prng(subSeed(seed, 'text'))
  const letters = 'etaoinshrdlucmfwypvbgkjqxz'
  const vocab: string[] = []
  for (let i = 0; i < 2000; i++) {
    let w = ''
    const len = 2 + Math.floor(rand() * 9)
    for (let j = 0; j < len; j++) w += letters[Math.floor(rand() ** 2 * letters.length)]
    vocab.push(w)
  }
  const parts: string[] = []
  let total = 0
  while (total < size) {
    const words = 4 + Math.floor(rand() * 12)
    let line = ''
    for (let j = 0; j < words; j++) line += (j ? ' ' : '') + vocab[Math.floor(rand() ** 3 * vocab.length)]
    line += '\n'
    parts.push(line)
    total += line.length
  }
  return Buffer.from(parts.join('')).subarray(0, size)
}

/** The files of a dataset at a scale (deterministic in seed and scale). */
export function planDataset(name: DatasetName, scale: number, seed: number): PlannedFile[] {
  const rand = prng(subSeed(seed, `plan/${name}`))
  const count = (n: number): number => Math.max(1, Math.round(n * scale))
  const files: PlannedFile[] = []
  if (name === 'mixed') {
    for (let i = 0; i < count(100); i++) {
      files.push({
        path: `bin/${String(i % 10)}/r${String(i).padStart(3, '0')}.bin`,
        size: 2 * MiB,
        content: 'random',
      })
    }
    for (let i = 0; i < count(1000); i++) {
      const size = 200 + Math.floor(rand() * 16 * KiB)
      files.push({
        path: `text/t${String(i % 20)}/doc${String(i).padStart(4, '0')}.txt`,
        size,
        content: 'text',
      })
    }
  } else if (name === 'small') {
    for (let i = 0; i < count(100_000); i++) {
      const d = String(Math.floor(i / 10)).padStart(4, '0')
      const path = `tree/d${d[0]}/d${d[1]}/d${d[2]}/d${d[3]}/f${String(i).padStart(6, '0')}.txt`
      files.push({ path, size: 16 + Math.floor(rand() * 1200), content: 'text' })
    }
  } else {
    const block = 64 * KiB
    const size = Math.max(1, Math.round((2048 * MiB * scale) / block)) * block
    files.push({ path: 'disk.img', size, content: 'blocks' })
  }
  return files
}

const POOL_SIZE = 4 * MiB

/** Writes the contents of planned files; one writer per dataset so the streams stay in order. */
class ContentWriter {
  readonly #random: KeyStream
  readonly #rand: () => number
  readonly #pool: Uint8Array

  constructor(seed: number, label: string) {
    this.#random = new KeyStream(seed, `data/${label}`)
    this.#rand = prng(subSeed(seed, `content/${label}`))
    this.#pool = textPool(seed, POOL_SIZE)
  }

  /** Writes `file` to `fd` in pieces of at most 4 MiB. */
  write(fd: number, file: PlannedFile): void {
    if (file.content === 'random') {
      for (let off = 0; off < file.size; off += 4 * MiB)
        writeSync(fd, this.#random.next(Math.min(4 * MiB, file.size - off)))
    } else if (file.content === 'text') {
      writeSync(fd, this.text(file.size))
    } else {
      const block = 64 * KiB
      const piece = new Uint8Array(4 * MiB)
      let fill = 0
      for (let off = 0; off < file.size; off += block) {
        const n = Math.min(block, file.size - off)
        const r = this.#rand()
        // about 45 % random, 40 % text, 15 % zeros: compresses to roughly half
        if (r < 0.45) piece.set(this.#random.next(n), fill)
        else if (r < 0.85) piece.set(this.text(n), fill)
        else piece.fill(0, fill, fill + n)
        fill += n
        if (fill === piece.length) {
          writeSync(fd, piece)
          fill = 0
        }
      }
      if (fill > 0) writeSync(fd, piece.subarray(0, fill))
    }
  }

  text(n: number): Uint8Array {
    if (n >= this.#pool.length) {
      const out = new Uint8Array(n)
      for (let off = 0; off < n; off += this.#pool.length)
        out.set(this.#pool.subarray(0, Math.min(this.#pool.length, n - off)), off)
      return out
    }
    const start = Math.floor(this.#rand() * (this.#pool.length - n))
    return this.#pool.subarray(start, start + n)
  }
}

function datasetDirName(name: DatasetName, scale: number, seed: number): string {
  return `${name}-seed${seed}-scale${scale}`
}

/**
 * The dataset under `workDir`, generated unless a complete copy from an earlier run is there
 * (generation writes into a temporary directory and renames it when done).
 */
export function ensureDataset(workDir: string, name: DatasetName, scale: number, seed: number): Dataset {
  const files = planDataset(name, scale, seed)
  const bytes = files.reduce((s, f) => s + f.size, 0)
  const root = join(workDir, datasetDirName(name, scale, seed))
  const marker = join(root, '..', `${datasetDirName(name, scale, seed)}.complete`)
  const dataset: Dataset = { name, description: DATASETS[name], root, seed, scale, files, bytes }
  if (existsSync(marker) && existsSync(root)) return dataset
  const tmp = `${root}.tmp`
  rmSync(tmp, { recursive: true, force: true })
  rmSync(root, { recursive: true, force: true })
  const writer = new ContentWriter(seed, name)
  const made = new Set<string>()
  // a fixed mtime for every file and directory, so the trees look the same everywhere
  const mtime = 1_700_000_000
  for (const file of files) {
    const path = join(tmp, file.path)
    const dir = dirname(path)
    if (!made.has(dir)) {
      mkdirSync(dir, { recursive: true })
      made.add(dir)
    }
    const fd = openSync(path, 'w', 0o644)
    try {
      writer.write(fd, file)
    } finally {
      closeSync(fd)
    }
    utimesSync(path, mtime, mtime)
  }
  renameSync(tmp, root)
  writeFileSync(marker, `${JSON.stringify({ name, scale, seed, files: files.length, bytes })}\n`)
  return dataset
}

/** A change applied to a dataset, with its undo. */
export interface Mutation {
  /** Files changed. */
  readonly files: number
  /** Bytes overwritten. */
  readonly bytes: number
  /** Restores the original bytes and mtimes. */
  undo(): void
}

interface Patch {
  readonly path: string
  readonly offset: number
  readonly original: Uint8Array
  readonly atime: Date
  readonly mtime: Date
}

/**
 * Changes 1 % of the files (at least one): in trees of 100 files or more, one patch of up to
 * 4 KiB per chosen file; in smaller ones, 1 % of each chosen file's bytes in 64 KiB patches.
 * Sizes stay the same, contents and mtimes change. Deterministic in seed and `round`.
 */
export function mutateDataset(dataset: Dataset, round: number): Mutation {
  const rand = prng(subSeed(dataset.seed, `mutate/${dataset.name}/${round}`))
  const random = new KeyStream(dataset.seed, `mutate/${dataset.name}/${round}`)
  const n = Math.max(1, Math.round(dataset.files.length * 0.01))
  const chosen = new Set<number>()
  while (chosen.size < n) chosen.add(Math.floor(rand() * dataset.files.length))
  const patches: Patch[] = []
  let bytes = 0
  for (const index of [...chosen].sort((x, y) => x - y)) {
    const file = dataset.files[index]!
    const path = join(dataset.root, file.path)
    const st = statSync(path)
    const regions: [number, number][] = []
    if (dataset.files.length >= 100) {
      const len = Math.min(file.size, 4 * KiB)
      regions.push([Math.floor(rand() * (file.size - len + 1)), len])
    } else {
      const len = Math.min(file.size, 64 * KiB)
      const count = Math.max(1, Math.round((file.size * 0.01) / len))
      const slots = Math.floor(file.size / len)
      const used = new Set<number>()
      while (used.size < Math.min(count, slots)) used.add(Math.floor(rand() * slots))
      for (const slot of used) regions.push([slot * len, len])
    }
    const fd = openSync(path, 'r+')
    try {
      for (const [offset, len] of regions) {
        const original = new Uint8Array(len)
        readSync(fd, original, 0, len, offset)
        patches.push({ path, offset, original, atime: st.atime, mtime: st.mtime })
        writeSync(fd, random.next(len), 0, len, offset)
        bytes += len
      }
    } finally {
      closeSync(fd)
    }
  }
  let undone = false
  return {
    files: chosen.size,
    bytes,
    undo() {
      if (undone) return
      undone = true
      for (const p of patches) {
        const fd = openSync(p.path, 'r+')
        try {
          writeSync(fd, p.original, 0, p.original.length, p.offset)
        } finally {
          closeSync(fd)
        }
      }
      for (const p of patches) utimesSync(p.path, p.atime, p.mtime)
    },
  }
}

/** Sum of the sizes of all files under `dir` (0 when it does not exist). */
export function treeBytes(dir: string): number {
  if (!existsSync(dir)) return 0
  let total = 0
  const stack = [dir]
  while (stack.length > 0) {
    const d = stack.pop()!
    for (const name of readdirNames(d)) {
      const p = join(d, name)
      const st = statSync(p, { throwIfNoEntry: false })
      if (st === undefined) continue
      if (st.isDirectory()) stack.push(p)
      else total += st.size
    }
  }
  return total
}

function readdirNames(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

/** Reads a dataset file back (tests). */
export function readDatasetFile(dataset: Dataset, path: string): Uint8Array {
  return readFileSync(join(dataset.root, path))
}
