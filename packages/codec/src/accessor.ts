/**
 * Random access to a pxar archive through its goodbye tables (upstream `pxar/src/accessor`).
 *
 * The archive is read through a {@link ReadAt}; v2 archives also need the payload (.ppxar) as a
 * ReadAt for file contents. Lookups walk each directory's goodbye table, a binary search tree
 * over SipHash-2-4 name hashes, so a path component costs O(log n) item reads; tables are cached.
 */
import {
  encodeUtf8,
  hashFilename,
  PXAR_FILENAME,
  PXAR_GOODBYE,
  PXAR_GOODBYE_TAIL_MARKER,
  PxarError,
  PxarFormatError,
} from '@pxar/format'
import { checkPayloadItem, readPayloadAt } from './decode.ts'
import { Decoder } from './decoder.ts'
import type { Entry } from './entry.ts'
import { compareU64 } from './goodbye.ts'
import { type ReadAt, readExactAt } from './read-at.ts'
import { decodeUtf8 } from './utf8.ts'

/** Where an entry lives in the archive (upstream `EntryRangeInfo`). */
export interface EntryRange {
  /** Offset of the entry's FILENAME header; `undefined` for the root. */
  readonly filenameHeaderOffset: number | undefined
  /** First byte after the FILENAME item (0 for the root). */
  readonly entryStart: number
  /**
   * End of the entry: FILENAME offset + goodbye item size (archive size for the root). For v2
   * files this includes the file size although the data lives in the payload archive.
   */
  readonly entryEnd: number
}

/** An entry found by the {@link Accessor}. */
export interface AccessorEntry extends Entry {
  readonly range: EntryRange
}

/** Options of {@link openAccessor}. */
export interface AccessorOptions {
  /** The payload (.ppxar) of a v2 archive, needed to read file contents. */
  readonly payload?: ReadAt | undefined
  /** Bytes of goodbye tables to keep in memory (default 32 MiB). */
  readonly cacheBytes?: number | undefined
  /** Piece size of {@link Accessor.content} (default 64 KiB). */
  readonly pieceSize?: number | undefined
}

/** One slot of a directory's goodbye table. */
export interface GoodbyeEntryInfo {
  /** The child's name. */
  readonly name: Uint8Array
  readonly hashLo: number
  readonly hashHi: number
  readonly range: EntryRange
}

const WINDOW = 4096
/** First read of an entry: most entries (FILENAME + ENTRY + a data item) fit in this. */
const FIRST_WINDOW = 512
const MAX_CACHED_TABLE = 16 * 1024 * 1024
const TWO_32 = 0x1_0000_0000
const MAX_SAFE_HI = 0x20_0000
const SLASH = 0x2f

interface Table {
  /** GOODBYE header offset. */
  readonly offset: number
  readonly count: number
  readonly view: DataView | undefined
}

interface Item {
  readonly hashLo: number
  readonly hashHi: number
  readonly offset: number
  readonly size: number
}

function noTail(at: number): PxarFormatError {
  return new PxarFormatError('ERR_PXAR_BAD_GOODBYE', 'no goodbye tail marker found', at)
}

function readItem(view: DataView, off: number, at: number): Item {
  const oHi = view.getUint32(off + 12, true)
  const sHi = view.getUint32(off + 20, true)
  if (oHi >= MAX_SAFE_HI || sHi >= MAX_SAFE_HI) {
    throw new PxarFormatError('ERR_PXAR_BAD_GOODBYE', 'goodbye item offset or size out of range', at)
  }
  return {
    hashLo: view.getUint32(off, true),
    hashHi: view.getUint32(off + 4, true),
    offset: oHi * TWO_32 + view.getUint32(off + 8, true),
    size: sHi * TWO_32 + view.getUint32(off + 16, true),
  }
}

/**
 * Opens an archive for random access.
 * @throws {PxarFormatError} `ERR_PXAR_BAD_GOODBYE` when the archive does not end in a root goodbye
 *   table, or another format error from decoding the root entry.
 * @example
 * const acc = await openAccessor(bufferReadAt(bytes))
 * const e = await acc.lookup('/etc/hostname')
 * if (e) for await (const piece of acc.content(e)) process.stdout.write(piece)
 */
export async function openAccessor(archive: ReadAt, options: AccessorOptions = {}): Promise<Accessor> {
  const acc = new Accessor(archive, options)
  await acc.root()
  return acc
}

/** Random access to an archive; create with {@link openAccessor}. */
export class Accessor {
  readonly #src: ReadAt
  readonly #payload: ReadAt | undefined
  readonly #cacheBytes: number
  #cached = 0
  readonly #piece: number
  readonly #tables = new Map<number, Table>()
  #root: AccessorEntry | undefined
  #rootTable: Table | undefined
  #version: 1 | 2 = 1
  readonly #checkedPayload = new Set<number>()

  /** Use {@link openAccessor}. */
  constructor(archive: ReadAt, options: AccessorOptions = {}) {
    if (!Number.isSafeInteger(archive.size) || archive.size < 0) throw new RangeError('invalid archive size')
    this.#src = archive
    this.#payload = options.payload
    this.#cacheBytes = options.cacheBytes ?? 32 * 1024 * 1024
    this.#piece = options.pieceSize ?? 64 * 1024
    if (!Number.isSafeInteger(this.#piece) || this.#piece <= 0) throw new RangeError('invalid pieceSize')
  }

  /** Archive size in bytes. */
  get size(): number {
    return this.#src.size
  }

  /** Format version (2 for split archives). Valid after {@link Accessor.root}. */
  get version(): 1 | 2 {
    return this.#version
  }

  /**
   * The root directory.
   * @throws {PxarFormatError} when the archive end is not a valid root goodbye table.
   */
  async root(): Promise<AccessorEntry> {
    if (this.#root !== undefined) return this.#root
    const size = this.#src.size
    if (size < 56 + 40) throw noTail(size)
    const tail = new Uint8Array(24)
    await readExactAt(this.#src, tail, size - 24)
    const tv = new DataView(tail.buffer)
    if (
      tv.getUint32(0, true) !== PXAR_GOODBYE_TAIL_MARKER.lo ||
      tv.getUint32(4, true) !== PXAR_GOODBYE_TAIL_MARKER.hi
    ) {
      throw noTail(size - 24)
    }
    const t = readItem(tv, 0, size - 24)
    const table = await this.#openTable(size, t, size - 24)
    const rootOffset = table.offset - t.offset
    if (rootOffset < 0)
      throw new PxarFormatError(
        'ERR_PXAR_BAD_GOODBYE',
        'root goodbye tail points before the archive',
        size - 24,
      )
    // decode the root (after FORMAT_VERSION / PRELUDE in v2)
    const dec = new Decoder({ offset: rootOffset })
    let pos = rootOffset
    let entry: Entry | undefined
    while (entry === undefined) {
      const ev = dec.next()
      if (ev === undefined) {
        // the root directory entry is complete once the next header (a FILENAME or its GOODBYE) is seen
        if (pos >= table.offset + 16)
          throw new PxarFormatError('ERR_PXAR_INVALID_DATA', 'root entry not found', pos)
        const n = Math.min(WINDOW, table.offset + 16 - pos)
        const buf = new Uint8Array(n)
        await readExactAt(this.#src, buf, pos)
        pos += n
        dec.write(buf)
        continue
      }
      if (ev.type === 'entry' && ev.entry.kind === 'directory') entry = ev.entry
    }
    this.#version = dec.version
    this.#rootTable = table
    this.#root = { ...entry, range: { filenameHeaderOffset: undefined, entryStart: 0, entryEnd: size } }
    return this.#root
  }

  /** Reads and checks the GOODBYE item ending at `end` whose tail item is `t`. */
  async #openTable(end: number, t: Item, at: number): Promise<Table> {
    const cached = this.#tables.get(end)
    if (cached !== undefined) {
      this.#tables.delete(end)
      this.#tables.set(end, cached)
      return cached
    }
    if (t.size < 40 || (t.size - 16) % 24 !== 0 || t.size > end) {
      throw new PxarFormatError('ERR_PXAR_BAD_GOODBYE', `invalid goodbye table size ${t.size}`, at)
    }
    const offset = end - t.size
    const count = (t.size - 16) / 24 - 1
    const head = new Uint8Array(16)
    await readExactAt(this.#src, head, offset)
    const hv = new DataView(head.buffer)
    if (
      hv.getUint32(0, true) !== PXAR_GOODBYE.lo ||
      hv.getUint32(4, true) !== PXAR_GOODBYE.hi ||
      hv.getUint32(8, true) !== t.size % TWO_32 ||
      hv.getUint32(12, true) !== Math.floor(t.size / TWO_32)
    ) {
      throw new PxarFormatError(
        'ERR_PXAR_BAD_GOODBYE',
        'goodbye tail does not point at its GOODBYE header',
        offset,
      )
    }
    let view: DataView | undefined
    if (count * 24 <= MAX_CACHED_TABLE) {
      const bytes = new Uint8Array(count * 24)
      await readExactAt(this.#src, bytes, offset + 16)
      view = new DataView(bytes.buffer)
    }
    const table: Table = { offset, count, view }
    if (view !== undefined && view.byteLength <= this.#cacheBytes) {
      this.#tables.set(end, table)
      this.#cached += view.byteLength
      // least recently used first (hits are moved to the end)
      for (const [k, t] of this.#tables) {
        if (this.#cached <= this.#cacheBytes) break
        this.#tables.delete(k)
        this.#cached -= t.view?.byteLength ?? 0
      }
    }
    return table
  }

  async #item(table: Table, i: number): Promise<Item> {
    const at = table.offset + 16 + i * 24
    if (table.view !== undefined) return readItem(table.view, i * 24, at)
    const b = new Uint8Array(24)
    await readExactAt(this.#src, b, at)
    return readItem(new DataView(b.buffer), 0, at)
  }

  async #tableOf(dir: AccessorEntry): Promise<Table> {
    if (dir.kind !== 'directory') throw new TypeError(`${dir.pathString} is not a directory`)
    if (dir.range.filenameHeaderOffset === undefined) {
      await this.root()
      return this.#rootTable!
    }
    const end = dir.range.entryEnd
    if (end > this.#src.size || end < 24) throw noTail(end)
    const cached = this.#tables.get(end)
    if (cached !== undefined) {
      this.#tables.delete(end)
      this.#tables.set(end, cached)
      return cached
    }
    const tail = new Uint8Array(24)
    await readExactAt(this.#src, tail, end - 24)
    const tv = new DataView(tail.buffer)
    if (
      tv.getUint32(0, true) !== PXAR_GOODBYE_TAIL_MARKER.lo ||
      tv.getUint32(4, true) !== PXAR_GOODBYE_TAIL_MARKER.hi
    ) {
      throw noTail(end - 24)
    }
    const t = readItem(tv, 0, end - 24)
    const table = await this.#openTable(end, t, end - 24)
    if (table.offset - t.offset !== dir.entryOffset) {
      throw new PxarFormatError(
        'ERR_PXAR_BAD_GOODBYE',
        'goodbye tail does not point at its directory',
        end - 24,
      )
    }
    return table
  }

  /**
   * Decodes the child described by goodbye `item` of `table`; with `name`, returns `undefined`
   * when the child's name differs (a hash collision).
   */
  async #child(
    dir: AccessorEntry,
    table: Table,
    item: Item,
    name?: Uint8Array,
  ): Promise<AccessorEntry | undefined> {
    const fo = table.offset - item.offset
    if (item.offset === 0 || fo < dir.entryOffset || item.size < 16) {
      throw new PxarFormatError(
        'ERR_PXAR_BAD_GOODBYE',
        'goodbye item points outside its directory',
        table.offset,
      )
    }
    const bound = Math.min(fo + item.size, table.offset)
    const entry = await this.#decodeAt(fo, bound, dir.path, name)
    if (entry === undefined) return undefined
    return {
      ...entry,
      range: { filenameHeaderOffset: fo, entryStart: entry.entryOffset, entryEnd: fo + item.size },
    }
  }

  /** Decodes the entry whose FILENAME header is at `start`, reading no further than `bound`. */
  async #decodeAt(
    start: number,
    bound: number,
    parentPath: Uint8Array,
    name?: Uint8Array,
  ): Promise<Entry | undefined> {
    const dec = new Decoder({ offset: start, single: { version: this.#version, parentPath } })
    let pos = start
    let first = true
    for (;;) {
      const ev = dec.next()
      if (ev !== undefined) {
        if (ev.type === 'entry')
          return name === undefined || sameBytes(ev.entry.name, name) ? ev.entry : undefined
        continue
      }
      if (pos >= bound) {
        const e = dec.finishSingle()
        if (e !== undefined) return name === undefined || sameBytes(e.name, name) ? e : undefined
        throw new PxarFormatError('ERR_PXAR_TRUNCATED', 'entry extends beyond its range', pos)
      }
      const n = Math.min(first ? FIRST_WINDOW : WINDOW, bound - pos)
      const buf = new Uint8Array(n)
      await readExactAt(this.#src, buf, pos)
      if (first && name !== undefined && n >= 16) {
        // compare the name before decoding further: a mismatch is a hash collision
        const v = new DataView(buf.buffer)
        if (
          v.getUint32(0, true) === PXAR_FILENAME.lo &&
          v.getUint32(4, true) === PXAR_FILENAME.hi &&
          v.getUint32(12, true) === 0
        ) {
          const len = v.getUint32(8, true) - 17
          if (len >= 0 && 16 + len < n) {
            if (len !== name.length) return undefined
            for (let i = 0; i < len; i++) if (buf[16 + i] !== name[i]) return undefined
          }
        }
      }
      first = false
      pos += n
      dec.write(buf)
    }
  }

  /**
   * The goodbye table of `dir` in table order (upstream `read_dir` order), with child ranges.
   * @throws {TypeError} when `dir` is not a directory.
   */
  async goodbyeTable(dir: AccessorEntry): Promise<GoodbyeEntryInfo[]> {
    const table = await this.#tableOf(dir)
    const out: GoodbyeEntryInfo[] = []
    for (let i = 0; i < table.count; i++) {
      const item = await this.#item(table, i)
      const child = await this.#child(dir, table, item)
      out.push({ name: child!.name, hashLo: item.hashLo, hashHi: item.hashHi, range: child!.range })
    }
    return out
  }

  /**
   * The children of `dir` in goodbye-table order (not name order).
   * @throws {TypeError} when `dir` is not a directory.
   */
  async *readDir(dir: AccessorEntry): AsyncGenerator<AccessorEntry> {
    const table = await this.#tableOf(dir)
    for (let i = 0; i < table.count; i++) {
      const item = await this.#item(table, i)
      yield (await this.#child(dir, table, item))!
    }
  }

  /** The child of `dir` named `name`, or `undefined`. */
  async lookupChild(dir: AccessorEntry, name: Uint8Array | string): Promise<AccessorEntry | undefined> {
    const bytes = typeof name === 'string' ? encodeUtf8(name) : name
    const table = await this.#tableOf(dir)
    const h = hashFilename(bytes)
    // walk the BST; on equal hashes both subtrees may hold more collisions
    const view = table.view
    const stack = [0]
    while (stack.length > 0) {
      const i = stack.pop()!
      if (i >= table.count) continue
      let hLo: number
      let hHi: number
      if (view !== undefined) {
        // cached table: compare in place, no await per step
        hLo = view.getUint32(i * 24, true)
        hHi = view.getUint32(i * 24 + 4, true)
      } else {
        const it = await this.#item(table, i)
        hLo = it.hashLo
        hHi = it.hashHi
      }
      const c = compareU64(h.lo, h.hi, hLo, hHi)
      if (c < 0) stack.push(2 * i + 1)
      else if (c > 0) stack.push(2 * i + 2)
      else {
        const item =
          view !== undefined ? readItem(view, i * 24, table.offset + 16 + i * 24) : await this.#item(table, i)
        const e = await this.#child(dir, table, item, bytes)
        if (e !== undefined) return e
        stack.push(2 * i + 2, 2 * i + 1)
      }
    }
    return undefined
  }

  /**
   * Finds `path` (absolute or relative to `from`, default the root). Symlinks are not followed;
   * `.` components are ignored.
   * @throws {TypeError} on a `..` component.
   */
  async lookup(path: string | Uint8Array, from?: AccessorEntry): Promise<AccessorEntry | undefined> {
    const bytes = typeof path === 'string' ? encodeUtf8(path) : path
    let cur = from ?? (await this.root())
    let i = 0
    while (i <= bytes.length) {
      let j = bytes.indexOf(SLASH, i)
      if (j < 0) j = bytes.length
      const comp = bytes.subarray(i, j)
      i = j + 1
      if (comp.length === 0 || (comp.length === 1 && comp[0] === 0x2e)) continue
      if (comp.length === 2 && comp[0] === 0x2e && comp[1] === 0x2e)
        throw new TypeError("'..' in lookup path")
      if (cur.kind !== 'directory') return undefined
      const next = await this.lookupChild(cur, comp)
      if (next === undefined) return undefined
      cur = next
    }
    return cur
  }

  /**
   * The file a hardlink points at (its path is derived from the stored link target).
   * @throws {PxarFormatError} when the offset does not lead to a regular file.
   */
  async followHardlink(entry: Entry): Promise<AccessorEntry> {
    if (entry.kind !== 'hardlink') throw new TypeError(`${entry.pathString} is not a hardlink`)
    const target = entry.filenameOffset! - entry.linkOffset!
    if (target < 0 || target >= entry.filenameOffset!) {
      throw new PxarFormatError('ERR_PXAR_INVALID_DATA', 'hardlink offset out of range', entry.filenameOffset)
    }
    const e = await this.#decodeAt(target, this.#src.size, new Uint8Array([SLASH]))
    if (e === undefined || e.kind !== 'file') {
      throw new PxarFormatError('ERR_PXAR_INVALID_DATA', 'hardlink does not point at a regular file', target)
    }
    const stored = entry.linkTarget!
    const path = stored[0] === SLASH ? stored.slice() : new Uint8Array([SLASH, ...stored])
    return {
      ...e,
      path,
      pathString: decodeUtf8(path),
      range: {
        filenameHeaderOffset: target,
        entryStart: e.entryOffset,
        entryEnd: e.archiveOffset! + e.fileSize!,
      },
    }
  }

  async #fileOf(entry: Entry): Promise<Entry> {
    if (entry.kind === 'hardlink') return this.followHardlink(entry)
    if (entry.kind !== 'file') throw new TypeError(`${entry.pathString} is not a file`)
    return entry
  }

  /**
   * The content of a file (hardlinks are followed) in pieces.
   * @throws {PxarError} `ERR_PXAR_UNSUPPORTED` for a v2 file without a payload source.
   */
  async *content(entry: Entry): AsyncGenerator<Uint8Array> {
    const f = await this.#fileOf(entry)
    const size = f.fileSize!
    if (f.payloadOffset !== undefined) {
      if (this.#payload === undefined)
        throw new PxarError('ERR_PXAR_UNSUPPORTED', 'v2 archive opened without payload')
      this.#checkedPayload.add(f.payloadOffset)
      yield* readPayloadAt(this.#payload, f.payloadOffset, size, this.#piece)
      return
    }
    const start = f.archiveOffset!
    if (start + size > this.#src.size) {
      throw new PxarFormatError('ERR_PXAR_TRUNCATED', 'file data extends beyond the archive', this.#src.size)
    }
    let pos = start
    let left = size
    while (left > 0) {
      const piece = new Uint8Array(Math.min(left, this.#piece))
      await readExactAt(this.#src, piece, pos)
      pos += piece.length
      left -= piece.length
      yield piece
    }
  }

  /**
   * Reads file data at `position` into `buf` (hardlinks are followed); returns the bytes read
   * (0 at the end of the file).
   */
  async readFileAt(entry: Entry, buf: Uint8Array, position: number): Promise<number> {
    const f = await this.#fileOf(entry)
    const size = f.fileSize!
    if (!Number.isSafeInteger(position) || position < 0) throw new RangeError(`invalid position ${position}`)
    if (position >= size) return 0
    const n = Math.min(buf.length, size - position)
    let base: number
    let src: ReadAt
    if (f.payloadOffset !== undefined) {
      if (this.#payload === undefined)
        throw new PxarError('ERR_PXAR_UNSUPPORTED', 'v2 archive opened without payload')
      if (!this.#checkedPayload.has(f.payloadOffset)) {
        await checkPayloadItem(this.#payload, f.payloadOffset, size)
        this.#checkedPayload.add(f.payloadOffset)
      }
      src = this.#payload
      base = f.payloadOffset + 16
    } else {
      src = this.#src
      base = f.archiveOffset!
    }
    await readExactAt(src, buf.subarray(0, n), base + position)
    return n
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
