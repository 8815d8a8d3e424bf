/**
 * The snapshot catalog (`catalog.pcat1`, format v1) as in PBS `pbs-datastore/src/catalog.rs`:
 * a post-order list of directory blocks (children before parents), the root block last, then
 * the root block's offset as u64 LE.
 */
import { PxarFormatError } from '@pxar/format'

/** First 8 bytes of every catalog: SHA-256("Proxmox Backup Catalog file v1.0")[0..8]. */
export const PROXMOX_CATALOG_FILE_MAGIC_1_0: Uint8Array<ArrayBuffer> = Uint8Array.from([
  0x91, 0xfd, 0x60, 0xf9, 0xc4, 0x67, 0x58, 0xd5,
])

/** Catalog entry type characters (the on-disk type byte is the ASCII code). */
export const CATALOG_ENTRY_TYPES = {
  directory: 'd',
  file: 'f',
  symlink: 'l',
  hardlink: 'h',
  blockDevice: 'b',
  charDevice: 'c',
  fifo: 'p',
  socket: 's',
} as const
/** One of the catalog entry type characters. */
export type CatalogEntryType = (typeof CATALOG_ENTRY_TYPES)[keyof typeof CATALOG_ENTRY_TYPES]

const TYPE_BY_BYTE: ReadonlyMap<number, CatalogEntryType> = new Map(
  Object.values(CATALOG_ENTRY_TYPES).map((t) => [t.charCodeAt(0), t]),
)

/** A directory entry; `start` is the absolute offset of its block. */
export interface CatalogDirectory {
  readonly type: 'd'
  readonly name: Uint8Array
  readonly start: number
}
/** A regular file entry. */
export interface CatalogFile {
  readonly type: 'f'
  readonly name: Uint8Array
  /** u64 file size. */
  readonly size: bigint
  /** i64 mtime, epoch seconds. */
  readonly mtime: bigint
}
/** Any other entry (symlink, hardlink, device, fifo, socket). */
export interface CatalogSpecial {
  readonly type: 'l' | 'h' | 'b' | 'c' | 'p' | 's'
  readonly name: Uint8Array
}
/** A catalog entry. */
export type CatalogEntry = CatalogDirectory | CatalogFile | CatalogSpecial

const U64_MASK = 0xffff_ffff_ffff_ffffn

function pushU64(out: number[], value: bigint | number): void {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) {
    let n = value
    while (n >= 128) {
      out.push(0x80 | (n % 128))
      n = Math.floor(n / 128)
    }
    out.push(n)
    return
  }
  let v = BigInt(value)
  if (v < 0n || v > U64_MASK) throw new RangeError(`value ${v} is not a u64`)
  while (v >= 128n) {
    out.push(0x80 | Number(v & 0x7fn))
    v >>= 7n
  }
  out.push(Number(v))
}

function pushI64(out: number[], value: bigint | number): void {
  if (typeof value === 'number' && Number.isSafeInteger(value)) {
    if (value >= 0) {
      pushU64(out, value)
      return
    }
    let d = -value
    while (d >= 128) {
      out.push(0x80 | (d % 128))
      d = Math.floor(d / 128)
    }
    out.push(0x80 | d, 0)
    return
  }
  const v = BigInt(value)
  if (v < -0x8000_0000_0000_0000n || v > 0x7fff_ffff_ffff_ffffn)
    throw new RangeError(`value ${v} is not an i64`)
  if (v >= 0n) {
    pushU64(out, v)
    return
  }
  let d = -v
  while (d >= 128n) {
    out.push(0x80 | Number(d & 0x7fn))
    d >>= 7n
  }
  out.push(0x80 | Number(d), 0)
}

/** Encodes a u64 as a catalog varint (LEB128-style). */
export function encodeCatalogU64(value: bigint | number): Uint8Array<ArrayBuffer> {
  const out: number[] = []
  pushU64(out, value)
  return Uint8Array.from(out)
}

/** Encodes an i64 as a catalog varint (negative values: magnitude groups, high bit, then `0x00`). */
export function encodeCatalogI64(value: bigint | number): Uint8Array<ArrayBuffer> {
  const out: number[] = []
  pushI64(out, value)
  return Uint8Array.from(out)
}

/** A cursor over catalog bytes; offsets in errors are absolute. */
class Cursor {
  readonly bytes: Uint8Array
  pos: number
  readonly end: number
  /** Absolute offset of `bytes[0]` (for error offsets). */
  readonly base: number
  constructor(bytes: Uint8Array, pos: number, end: number, base = 0) {
    this.bytes = bytes
    this.pos = pos
    this.end = end
    this.base = base
  }
  fail(msg: string, at: number = this.pos): never {
    throw new PxarFormatError('ERR_CATALOG_FORMAT', msg, this.base + at)
  }
  byte(): number {
    if (this.pos >= this.end) this.fail('unexpected end of catalog data')
    return this.bytes[this.pos++]!
  }
  u64(): bigint {
    const at = this.pos
    // fast path: up to 7 groups (49 bits) fit a double exactly
    let n = 0
    let scale = 1
    for (let i = 0; i < 7; i++) {
      const t = this.byte()
      n += (t & 0x7f) * scale
      if (t < 128) return BigInt(n)
      scale *= 128
    }
    let v = BigInt(n)
    for (let i = 7; i < 10; i++) {
      const t = this.byte()
      v |= BigInt(t & 0x7f) << BigInt(i * 7)
      if (t < 128) return v & U64_MASK
    }
    return this.fail('decode_u64 failed - missing end marker', at)
  }
  /** u64 that must be a safe integer (lengths, counts, offsets). */
  size(what: string): number {
    const at = this.pos
    let n = 0
    let scale = 1
    for (let i = 0; i < 7; i++) {
      const t = this.byte()
      n += (t & 0x7f) * scale
      if (t < 128) return n
      scale *= 128
    }
    this.pos = at
    const v = this.u64()
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} too large`, at)
    return Number(v)
  }
  i64(): bigint {
    const at = this.pos
    let n = 0
    let scale = 1
    for (let i = 0; i < 7; i++) {
      const t = this.byte()
      if (t === 0) return n === 0 ? 0n : BigInt(-n)
      n += (t & 0x7f) * scale
      if (t < 128) return BigInt(n)
      scale *= 128
    }
    let v = BigInt(n)
    for (let i = 7; i < 11; i++) {
      const t = this.byte()
      if (t === 0) return BigInt.asIntN(64, -(v & U64_MASK))
      v |= BigInt(t & 0x7f) << BigInt(i * 7)
      if (t < 128) return BigInt.asIntN(64, v & U64_MASK)
    }
    return this.fail('decode_i64 failed - missing end marker', at)
  }

  take(n: number): Uint8Array {
    if (n > this.end - this.pos) this.fail('unexpected end of catalog data')
    const out = this.bytes.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }
}

/** Decodes a catalog u64 varint at `offset` (max 10 bytes); returns the value and bytes used. */
export function decodeCatalogU64(bytes: Uint8Array, offset = 0): { value: bigint; length: number } {
  const c = new Cursor(bytes, offset, bytes.length)
  const value = c.u64()
  return { value, length: c.pos - offset }
}

/** Decodes a catalog i64 varint at `offset` (max 11 bytes); returns the value and bytes used. */
export function decodeCatalogI64(bytes: Uint8Array, offset = 0): { value: bigint; length: number } {
  const c = new Cursor(bytes, offset, bytes.length)
  const value = c.i64()
  return { value, length: c.pos - offset }
}

type Name = Uint8Array | string

function nameBytes(name: Name): Uint8Array {
  const bytes = typeof name === 'string' ? new TextEncoder().encode(name) : name
  if (bytes.includes(0)) throw new TypeError('catalog names must not contain NUL')
  if (bytes.includes(0x2f)) throw new TypeError("catalog names must not contain '/'")
  if (bytes.length >= 4096) throw new RangeError('catalog names must be shorter than 4096 bytes')
  return bytes
}

interface OpenDir {
  readonly name: Uint8Array
  /** Encoded entries of the table, without the count. */
  table: number[]
  count: number
}

/**
 * Streaming catalog writer (PBS `CatalogWriter`). Bytes become available as directories are
 * closed: drain them with {@link CatalogWriter.take}; {@link CatalogWriter.finish} returns the
 * rest. Memory holds only the tables of the currently open directories.
 *
 * @example
 * ```ts
 * const w = new CatalogWriter()
 * w.startDirectory('root.pxar.didx')
 * w.addFile('hosts', 123, 1700000000)
 * w.endDirectory()
 * const bytes = concat([w.take(), w.finish()])
 * ```
 */
export class CatalogWriter {
  #stack: OpenDir[] = [{ name: new Uint8Array(0), table: [], count: 0 }]
  #pending: Uint8Array[] = [PROXMOX_CATALOG_FILE_MAGIC_1_0.slice()]
  #pos = 8
  #finished = false

  /** Bytes written so far (including pending ones). */
  get position(): number {
    return this.#pos
  }

  #top(): OpenDir {
    if (this.#finished) throw new TypeError('catalog writer already finished')
    return this.#stack[this.#stack.length - 1]!
  }

  #add(type: CatalogEntryType, name: Name): number[] {
    const bytes = nameBytes(name)
    const dir = this.#top()
    dir.table.push(type.charCodeAt(0))
    pushU64(dir.table, bytes.length)
    for (const b of bytes) dir.table.push(b)
    dir.count++
    return dir.table
  }

  /** Opens a subdirectory of the current directory. */
  startDirectory(name: Name): void {
    this.#top()
    this.#stack.push({ name: Uint8Array.from(nameBytes(name)), table: [], count: 0 })
  }

  #writeBlock(dir: OpenDir): number {
    const start = this.#pos
    const table: number[] = []
    pushU64(table, dir.count)
    for (const x of dir.table) {
      // directory entries carry `-1 - childStart` until the block's own start is known
      if (x < 0) pushU64(table, start - (-1 - x))
      else table.push(x)
    }
    const head: number[] = []
    pushU64(head, table.length)
    const block = new Uint8Array(head.length + table.length)
    block.set(head)
    block.set(table, head.length)
    this.#pending.push(block)
    this.#pos += block.length
    return start
  }

  /** Closes the current directory: writes its block and adds it to its parent. */
  endDirectory(): void {
    this.#top()
    if (this.#stack.length < 2) throw new TypeError('endDirectory without matching startDirectory')
    const dir = this.#stack.pop()!
    const start = this.#writeBlock(dir)
    const table = this.#add('d', dir.name)
    // the parent's block will start at a later position; the distance is resolved there
    table.push(-1 - start)
  }

  /** Adds a regular file (`size` u64, `mtime` i64 epoch seconds). */
  addFile(name: Name, size: bigint | number, mtime: bigint | number): void {
    const table = this.#add('f', name)
    pushU64(table, size)
    pushI64(table, mtime)
  }
  /** Adds a symlink. */
  addSymlink(name: Name): void {
    this.#add('l', name)
  }
  /** Adds a hardlink. */
  addHardlink(name: Name): void {
    this.#add('h', name)
  }
  /** Adds a block device. */
  addBlockDevice(name: Name): void {
    this.#add('b', name)
  }
  /** Adds a character device. */
  addCharDevice(name: Name): void {
    this.#add('c', name)
  }
  /** Adds a FIFO. */
  addFifo(name: Name): void {
    this.#add('p', name)
  }
  /** Adds a socket. */
  addSocket(name: Name): void {
    this.#add('s', name)
  }

  /** Returns (and forgets) the bytes produced since the last call. */
  take(): Uint8Array<ArrayBuffer> {
    const out = concatBytes(this.#pending)
    this.#pending = []
    return out
  }

  /**
   * Writes the root block and the trailing root offset; returns all bytes not yet taken.
   * @throws TypeError if directories are still open.
   */
  finish(): Uint8Array<ArrayBuffer> {
    this.#top()
    if (this.#stack.length !== 1) throw new TypeError('catalog has unclosed directories')
    const start = this.#writeBlock(this.#stack[0]!)
    const tail = new Uint8Array(8)
    new DataView(tail.buffer).setBigUint64(0, BigInt(start), true)
    this.#pending.push(tail)
    this.#pos += 8
    this.#finished = true
    return this.take()
  }
}

function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
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

/** A catalog entry with its full path (components joined by `/`, no leading `/`). */
export interface CatalogWalkEntry {
  readonly path: Uint8Array
  readonly entry: CatalogEntry
}

/**
 * Random-access catalog reader over the decoded catalog bytes (PBS `CatalogReader`).
 * Every block is bounds-checked; malformed data gives `ERR_CATALOG_FORMAT` with the offset.
 *
 * @throws PxarFormatError `ERR_CATALOG_MAGIC` (bad magic), `ERR_CATALOG_FORMAT` (too short).
 * @example
 * ```ts
 * const r = new CatalogReader(bytes)
 * for (const e of r.readDir(r.root())) console.log(new TextDecoder().decode(e.name), e.type)
 * ```
 */
export class CatalogReader {
  readonly bytes: Uint8Array
  readonly #rootStart: number

  constructor(bytes: Uint8Array) {
    if (bytes.length < 8) throw new PxarFormatError('ERR_CATALOG_MAGIC', 'catalog too short for its magic', 0)
    for (let i = 0; i < 8; i++) {
      if (bytes[i] !== PROXMOX_CATALOG_FILE_MAGIC_1_0[i]) {
        throw new PxarFormatError('ERR_CATALOG_MAGIC', 'got unknown magic number for catalog', 0)
      }
    }
    if (bytes.length < 8 + 2 + 8) {
      throw new PxarFormatError('ERR_CATALOG_FORMAT', 'catalog too short', bytes.length)
    }
    this.bytes = bytes
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const lo = view.getUint32(bytes.length - 8, true)
    const hi = view.getUint32(bytes.length - 4, true)
    const start = hi * 2 ** 32 + lo
    if (hi >= 2 ** 21 || start < 8 || start >= bytes.length - 8) {
      throw new PxarFormatError(
        'ERR_CATALOG_FORMAT',
        `root directory offset ${start} out of range`,
        bytes.length - 8,
      )
    }
    this.#rootStart = start
  }

  /** The synthetic root directory (empty name). */
  root(): CatalogDirectory {
    return { type: 'd', name: new Uint8Array(0), start: this.#rootStart }
  }

  /** Lists a directory's entries in stored order. */
  readDir(dir: CatalogDirectory): CatalogEntry[] {
    const out: CatalogEntry[] = []
    this.#parse(dir.start, (e) => {
      out.push(e)
      return true
    })
    return out
  }

  #parse(start: number, cb: (e: CatalogEntry) => boolean): void {
    const limit = this.bytes.length - 8
    if (start < 8 || start >= limit)
      throw new PxarFormatError('ERR_CATALOG_FORMAT', 'bad directory offset', start)
    const head: Cursor = new Cursor(this.bytes, start, limit)
    const size = blockSize(head, start, limit)
    parseBlock(this.bytes.subarray(head.pos, head.pos + size), head.pos, start, cb)
  }

  /** Looks up one name in a directory. */
  lookup(dir: CatalogDirectory, name: Uint8Array | string): CatalogEntry | undefined {
    const want = typeof name === 'string' ? new TextEncoder().encode(name) : name
    let found: CatalogEntry | undefined
    this.#parse(dir.start, (e) => {
      if (bytesEq(e.name, want)) {
        found = e
        return false
      }
      return true
    })
    return found
  }

  /**
   * Resolves a `/`-separated path from the root (leading `/` and empty components ignored);
   * returns the root for an empty path.
   */
  lookupPath(path: Uint8Array | string): CatalogEntry | undefined {
    const bytes = typeof path === 'string' ? new TextEncoder().encode(path) : path
    let cur: CatalogEntry = this.root()
    let i = 0
    while (i <= bytes.length) {
      let j = bytes.indexOf(0x2f, i)
      if (j < 0) j = bytes.length
      if (j > i) {
        if (cur.type !== 'd') return undefined
        const next = this.lookup(cur, bytes.subarray(i, j))
        if (!next) return undefined
        cur = next
      }
      i = j + 1
    }
    return cur
  }

  /**
   * Walks the tree depth-first in stored order (a directory before its contents), starting
   * below `dir` (default: the root). Paths are relative to `dir`.
   */
  *walk(
    dir: CatalogDirectory = this.root(),
    prefix: Uint8Array = new Uint8Array(0),
  ): Generator<CatalogWalkEntry> {
    for (const entry of this.readDir(dir)) {
      const path = prefix.length === 0 ? entry.name : concatBytes([prefix, Uint8Array.of(0x2f), entry.name])
      yield { path, entry }
      if (entry.type === 'd') yield* this.walk(entry, path)
    }
  }

  /** All entries (with paths) for which `predicate` returns true. */
  find(predicate: (e: CatalogWalkEntry) => boolean): CatalogWalkEntry[] {
    const out: CatalogWalkEntry[] = []
    for (const e of this.walk()) if (predicate(e)) out.push(e)
    return out
  }

  /**
   * The lines of PBS `CatalogReader::dump()`: `<type> "<./path>"`, files with size and mtime
   * (`%FT%TZ`, rendered in UTC), paths escaped like Rust's `Path` debug output.
   */
  dump(): string[] {
    const lines: string[] = []
    for (const e of this.walk()) lines.push(dumpLine(e))
    return lines
  }
}

/**
 * A random-access byte source (structurally the same as `@pxar/codec`'s `ReadAt`): a file
 * handle, a chunked `.didx` reader, a buffer.
 */
export interface CatalogSource {
  readonly size: number
  read(buf: Uint8Array, position: number): Promise<number>
}

async function readFully(src: CatalogSource, position: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length)
  let got = 0
  while (got < length) {
    const n = await src.read(buf.subarray(got), position + got)
    if (n <= 0)
      throw new PxarFormatError('ERR_CATALOG_FORMAT', 'unexpected end of catalog data', position + got)
    got += n
  }
  return buf
}

/**
 * Catalog reader over a random-access source with bounded memory: only the directory blocks
 * being listed are held (a walk keeps one block per open directory level). Same semantics as
 * {@link CatalogReader}.
 *
 * @example
 * ```ts
 * const fh = await fs.open(path)
 * const r = await AsyncCatalogReader.open({ size: (await fh.stat()).size, read: (b, p) => fh.read(b, 0, b.length, p).then((x) => x.bytesRead) })
 * for await (const { path, entry } of r.walk()) console.log(path, entry.type)
 * ```
 */
export class AsyncCatalogReader {
  readonly source: CatalogSource
  readonly #rootStart: number

  private constructor(source: CatalogSource, rootStart: number) {
    this.source = source
    this.#rootStart = rootStart
  }

  /** @throws PxarFormatError `ERR_CATALOG_MAGIC`, `ERR_CATALOG_FORMAT`. */
  static async open(source: CatalogSource): Promise<AsyncCatalogReader> {
    const size = source.size
    if (size < 8) throw new PxarFormatError('ERR_CATALOG_MAGIC', 'catalog too short for its magic', 0)
    const magic = await readFully(source, 0, 8)
    for (let i = 0; i < 8; i++) {
      if (magic[i] !== PROXMOX_CATALOG_FILE_MAGIC_1_0[i]) {
        throw new PxarFormatError('ERR_CATALOG_MAGIC', 'got unknown magic number for catalog', 0)
      }
    }
    if (size < 18) throw new PxarFormatError('ERR_CATALOG_FORMAT', 'catalog too short', size)
    const tail = await readFully(source, size - 8, 8)
    const view = new DataView(tail.buffer)
    const lo = view.getUint32(0, true)
    const hi = view.getUint32(4, true)
    const start = hi * 2 ** 32 + lo
    if (hi >= 2 ** 21 || start < 8 || start >= size - 8) {
      throw new PxarFormatError('ERR_CATALOG_FORMAT', `root directory offset ${start} out of range`, size - 8)
    }
    return new AsyncCatalogReader(source, start)
  }

  /** The synthetic root directory. */
  root(): CatalogDirectory {
    return { type: 'd', name: new Uint8Array(0), start: this.#rootStart }
  }

  async #parse(start: number, cb: (e: CatalogEntry) => boolean): Promise<void> {
    const limit = this.source.size - 8
    if (start < 8 || start >= limit)
      throw new PxarFormatError('ERR_CATALOG_FORMAT', 'bad directory offset', start)
    const headBytes = await readFully(this.source, start, Math.min(10, limit - start))
    const head: Cursor = new Cursor(headBytes, 0, headBytes.length, start)
    const size = blockSize(head, start, limit)
    const tableStart = start + head.pos
    parseBlock(await readFully(this.source, tableStart, size), tableStart, start, cb)
  }

  /** Lists a directory's entries in stored order. */
  async readDir(dir: CatalogDirectory): Promise<CatalogEntry[]> {
    const out: CatalogEntry[] = []
    await this.#parse(dir.start, (e) => {
      out.push(e)
      return true
    })
    return out
  }

  /** Looks up one name in a directory. */
  async lookup(dir: CatalogDirectory, name: Uint8Array | string): Promise<CatalogEntry | undefined> {
    const want = typeof name === 'string' ? new TextEncoder().encode(name) : name
    let found: CatalogEntry | undefined
    await this.#parse(dir.start, (e) => {
      if (!bytesEq(e.name, want)) return true
      found = e
      return false
    })
    return found
  }

  /** Resolves a `/`-separated path from the root (see {@link CatalogReader.lookupPath}). */
  async lookupPath(path: Uint8Array | string): Promise<CatalogEntry | undefined> {
    const bytes = typeof path === 'string' ? new TextEncoder().encode(path) : path
    let cur: CatalogEntry = this.root()
    for (const part of splitPath(bytes)) {
      if (cur.type !== 'd') return undefined
      const next = await this.lookup(cur, part)
      if (!next) return undefined
      cur = next
    }
    return cur
  }

  /** Depth-first walk in stored order (see {@link CatalogReader.walk}). */
  async *walk(
    dir: CatalogDirectory = this.root(),
    prefix: Uint8Array = new Uint8Array(0),
  ): AsyncGenerator<CatalogWalkEntry> {
    for (const entry of await this.readDir(dir)) {
      const path = prefix.length === 0 ? entry.name : concatBytes([prefix, Uint8Array.of(0x2f), entry.name])
      yield { path, entry }
      if (entry.type === 'd') yield* this.walk(entry, path)
    }
  }

  /** The lines of PBS `CatalogReader::dump()` (see {@link CatalogReader.dump}). */
  async dump(): Promise<string[]> {
    const lines: string[] = []
    for await (const e of this.walk()) lines.push(dumpLine(e))
    return lines
  }
}

function splitPath(bytes: Uint8Array): Uint8Array[] {
  const parts: Uint8Array[] = []
  let i = 0
  while (i <= bytes.length) {
    let j = bytes.indexOf(0x2f, i)
    if (j < 0) j = bytes.length
    if (j > i) parts.push(bytes.subarray(i, j))
    i = j + 1
  }
  return parts
}

function dumpLine({ path, entry }: CatalogWalkEntry): string {
  const p = rustDebugPath(concatBytes([Uint8Array.of(0x2e, 0x2f), path]))
  return entry.type === 'f' ? `f ${p} ${entry.size} ${formatMtime(entry.mtime)}` : `${entry.type} ${p}`
}

/** Reads a directory block's table_len; the cursor is at the block start. */
function blockSize(head: Cursor, start: number, limit: number): number {
  const size = head.size('directory block size')
  if (size < 1) head.fail(`got small directory size ${size}`, start - head.base)
  if (size > limit - (head.base + head.pos)) head.fail('directory block exceeds catalog', start - head.base)
  return size
}

/** Parses a directory table (`table`, starting at absolute offset `base`) of the block at `start`. */
function parseBlock(table: Uint8Array, base: number, start: number, cb: (e: CatalogEntry) => boolean): void {
  const c: Cursor = new Cursor(table, 0, table.length, base)
  const count = c.size('entry count')
  for (let i = 0; i < count; i++) {
    const at = c.pos
    const type = TYPE_BY_BYTE.get(c.byte())
    if (type === undefined) c.fail(`invalid catalog entry type ${table[at]}`, at)
    const len = c.size('name length')
    if (len >= 4096) c.fail(`directory entry name too long (${len} >= 4096)`, at)
    const name = c.take(len)
    let entry: CatalogEntry
    if (type === 'd') {
      const offAt = c.pos
      const offset = c.size('directory offset')
      if (offset === 0 || offset > start - 8)
        c.fail(`got wrong directory offset (${offset} > ${start})`, offAt)
      entry = { type, name, start: start - offset }
    } else if (type === 'f') {
      entry = { type, name, size: c.u64(), mtime: c.i64() }
    } else entry = { type, name }
    if (!cb(entry)) return
  }
  if (c.pos !== c.end) c.fail('unable to parse whole catalog data block')
}

function bytesEq(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function formatMtime(mtime: bigint): string {
  const ms = Number(mtime) * 1000
  const d = new Date(ms)
  if (Number.isNaN(d.getTime())) return mtime.toString()
  const y = d.getUTCFullYear()
  if (y < 0 || y > 9999) return mtime.toString()
  const p2 = (n: number) => String(n).padStart(2, '0')
  return `${String(y).padStart(4, '0')}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}T${p2(d.getUTCHours())}:${p2(
    d.getUTCMinutes(),
  )}:${p2(d.getUTCSeconds())}Z`
}

const ESCAPE_AS_UNICODE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cn}\p{Co}\p{Grapheme_Extend}]|[\p{Zs}](?<! )/u

/**
 * Rust `{:?}` of a `Path`: valid UTF-8 runs escaped like `str` debug output, each invalid byte
 * as `\xNN` (uppercase hex). Printability follows Unicode categories, an approximation of
 * Rust's own tables.
 */
function rustDebugPath(bytes: Uint8Array): string {
  let out = '"'
  let i = 0
  const dec = new TextDecoder('utf-8', { fatal: true })
  while (i < bytes.length) {
    const n = utf8SeqLen(bytes, i)
    if (n === 0) {
      out += `\\x${bytes[i]!.toString(16).toUpperCase().padStart(2, '0')}`
      i++
      continue
    }
    const ch = dec.decode(bytes.subarray(i, i + n))
    i += n
    switch (ch) {
      case '\0':
        out += '\\0'
        break
      case '\t':
        out += '\\t'
        break
      case '\r':
        out += '\\r'
        break
      case '\n':
        out += '\\n'
        break
      case '\\':
        out += '\\\\'
        break
      case '"':
        out += '\\"'
        break
      default:
        out += ESCAPE_AS_UNICODE.test(ch) ? `\\u{${ch.codePointAt(0)!.toString(16)}}` : ch
    }
  }
  return `${out}"`
}

/** Length of the valid UTF-8 sequence at `i`, or 0 if the byte there starts none. */
function utf8SeqLen(b: Uint8Array, i: number): number {
  const c = b[i]!
  if (c < 0x80) return 1
  const cont = (k: number) => {
    const x = b[i + k]
    return x !== undefined && (x & 0xc0) === 0x80
  }
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0
  if (c >= 0xe0 && c <= 0xef) {
    const c1 = b[i + 1]
    if (c1 === undefined) return 0
    if (c === 0xe0 && c1 < 0xa0) return 0
    if (c === 0xed && c1 > 0x9f) return 0
    return cont(1) && cont(2) ? 3 : 0
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const c1 = b[i + 1]
    if (c1 === undefined) return 0
    if (c === 0xf0 && c1 < 0x90) return 0
    if (c === 0xf4 && c1 > 0x8f) return 0
    return cont(1) && cont(2) && cont(3) ? 4 : 0
  }
  return 0
}
