/**
 * The synchronous push decoder: bytes in, entries and content pieces out.
 *
 * Memory stays bounded: item contents are buffered only for size-capped items (names, xattrs,
 * ACLs, …); file data, the prelude and goodbye tables are streamed. Mirrors upstream
 * `pxar/src/decoder/mod.rs`, but is stricter: every structural inconsistency is an error unless
 * an `onWarning` callback is given for the tolerable ones (trailing bytes, goodbye tables that do
 * not match the directory, modes that disagree with the item kind).
 */
import {
  type AclDefault,
  type AclGroup,
  type AclGroupObject,
  type AclUser,
  bstPermutation,
  EMPTY_ACL,
  exactContentSize,
  hashFilename,
  htypeName,
  htypeOf,
  type Metadata,
  maxContentSize,
  PXAR_ACL_DEFAULT_GROUP_LO,
  PXAR_ACL_DEFAULT_LO,
  PXAR_ACL_DEFAULT_USER_LO,
  PXAR_ACL_GROUP_LO,
  PXAR_ACL_GROUP_OBJ_LO,
  PXAR_ACL_USER_LO,
  PXAR_DEVICE_LO,
  PXAR_ENTRY,
  PXAR_ENTRY_V1,
  PXAR_FCAPS_LO,
  PXAR_FILENAME,
  PXAR_FORMAT_VERSION,
  PXAR_GOODBYE,
  PXAR_GOODBYE_TAIL_MARKER_HI,
  PXAR_GOODBYE_TAIL_MARKER_LO,
  PXAR_HARDLINK,
  PXAR_PAYLOAD,
  PXAR_PAYLOAD_REF,
  PXAR_PRELUDE,
  PXAR_QUOTA_PROJID_LO,
  PXAR_SYMLINK_LO,
  PXAR_XATTR_LO,
  type PxarErrorCode,
  PxarFormatError,
  readStat,
  readStatV1,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
  type Stat,
  u64Value,
  type Xattr,
} from '@pxar/format'
import { type Entry, type EntryKind, ZERO_METADATA } from './entry.ts'
import { compareU64 } from './goodbye.ts'
import { decodeUtf8 } from './utf8.ts'

/** One result of the {@link Decoder}. */
export type DecoderEvent =
  | { readonly type: 'entry'; readonly entry: Entry }
  /** A piece of the current file's (or prelude's) content: a view into the pushed bytes. */
  | { readonly type: 'content'; readonly data: Uint8Array }

/** Options of {@link Decoder}. */
export interface DecoderOptions {
  /**
   * Tolerate anomalies upstream pxar accepts (bytes after the root directory, goodbye tables that
   * do not describe the directory, a mode that disagrees with the entry's items), reporting each
   * here instead of throwing. Without it the decoder is strict.
   */
  readonly onWarning?: ((warning: PxarFormatError) => void) | undefined
  /** Absolute offset of the first pushed byte (default 0); used in entries and errors. */
  readonly offset?: number | undefined
  /**
   * Decode one entry starting at a FILENAME (or ENTRY) header and stop after it, as random access
   * does. `version` must then say which format the archive uses; `parentPath` prefixes the path.
   */
  readonly single?: { readonly version: 1 | 2; readonly parentPath?: Uint8Array | undefined } | undefined
}

const EMPTY = new Uint8Array(0)
/** Shared empty list for absent xattrs/ACL entries (frozen, so sharing is safe). */
const NONE: readonly never[] = Object.freeze([])
const EMPTY_VIEW = new DataView(EMPTY.buffer)
const SLASH = 0x2f
const MAX_SAFE_HI = 0x20_0000
const TWO_32 = 0x1_0000_0000

// states
const S_HEADER = 0
const S_CONTENT = 1
const S_STREAM = 2
const S_GOODBYE = 3
const S_SKIP = 4
const S_DONE = 5

// phases: which items may come next
const P_START = 0
const P_AFTER_VERSION = 1
const P_AFTER_FILENAME = 2
const P_ATTRS = 3
const P_DIR = 4
/** After the prelude: only the root entry may follow. */
const P_AFTER_PRELUDE = 5

interface DirFrame {
  readonly path: Uint8Array
  readonly pathString: string
  /** ENTRY header offset used by the goodbye tail (0 for the root). */
  readonly tailBase: number
  readonly offsets: number[]
  readonly hashLo: number[]
  readonly hashHi: number[]
  readonly ends: number[]
  /** Extra goodbye size allowed for v2 files written by the file API (their size). */
  readonly extra: number[]
}

interface GoodbyeCheck {
  readonly offset: number
  readonly fullSize: number
  readonly count: number
  readonly expectLo: Uint32Array
  readonly expectHi: Uint32Array
  readonly matched: Uint8Array
  index: number
}

interface Pending {
  stat: Stat
  entryOffset: number
  xattrs: Xattr[] | undefined
  users: AclUser[] | undefined
  groups: AclGroup[] | undefined
  groupObj: AclGroupObject | undefined
  default: AclDefault | undefined
  defaultUsers: AclUser[] | undefined
  defaultGroups: AclGroup[] | undefined
  fcaps: Uint8Array | undefined
  quota: Metadata['quotaProjectId']
}

function u64At(view: DataView, off: number): { lo: number; hi: number } {
  return { lo: view.getUint32(off, true), hi: view.getUint32(off + 4, true) }
}

/**
 * Synchronous pxar decoder (v1 archives and v2 metadata streams).
 *
 * Feed bytes with {@link Decoder.push} (or {@link Decoder.write} + {@link Decoder.next}) and end
 * with {@link Decoder.finish}. Entries come out in archive order; a v1 file entry is followed by
 * `content` events carrying exactly `fileSize` bytes (views into the pushed chunks, valid as long as
 * the caller keeps those bytes unchanged). v2 file data lives in the payload stream; see `decode`.
 * @example
 * const dec = new Decoder()
 * for (const ev of [...dec.push(bytes), ...dec.finish()]) if (ev.type === 'entry') console.log(ev.entry.pathString)
 */
export class Decoder {
  #buf: Uint8Array = EMPTY
  #view: DataView = EMPTY_VIEW
  #bp = 0
  #pos: number
  #ended = false
  #failed: unknown

  #acc: Uint8Array = EMPTY
  #accView: DataView = EMPTY_VIEW
  #accLen = 0
  #unitStart = 0

  #state = S_HEADER
  #phase = P_START
  #need = 16
  #itemLo = 0
  #itemHi = 0
  #itemOffset = 0
  #itemSize = 0
  #remaining = 0
  #streamIsPrelude = false
  /** A header to dispatch again after an entry it terminated was reported. */
  #redispatch = false

  #version: 1 | 2 = 1
  #sawRoot = false
  readonly #single: boolean
  readonly #onWarning: ((w: PxarFormatError) => void) | undefined
  readonly #singleParent: Uint8Array | undefined

  #stack: DirFrame[] = []
  #goodbye: GoodbyeCheck | undefined
  #name: Uint8Array = EMPTY
  #filenameOffset: number | undefined
  #pending: Pending | undefined

  /** @throws {RangeError} on a negative or unsafe `offset`. */
  constructor(options: DecoderOptions = {}) {
    const offset = options.offset ?? 0
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`invalid offset ${offset}`)
    this.#pos = offset
    this.#onWarning = options.onWarning
    this.#single = options.single !== undefined
    if (options.single) {
      this.#version = options.single.version
      this.#singleParent = options.single.parentPath
      this.#sawRoot = true
    }
  }

  /** Format version seen so far: 2 once a FORMAT_VERSION item was read, else 1. */
  get version(): 1 | 2 {
    return this.#version
  }

  /** Absolute offset of the next byte the decoder will consume. */
  get position(): number {
    return this.#pos
  }

  /** True once the root directory (or, in single mode, the entry) is complete. */
  get done(): boolean {
    return this.#state === S_DONE
  }

  /**
   * Feeds `bytes` and returns every event they complete.
   * @throws {PxarFormatError} on malformed input (the decoder is unusable afterwards).
   */
  push(bytes: Uint8Array): DecoderEvent[] {
    this.write(bytes)
    const out: DecoderEvent[] = []
    for (let ev = this.next(); ev !== undefined; ev = this.next()) out.push(ev)
    return out
  }

  /**
   * Signals the end of input and returns the remaining events.
   * @throws {PxarFormatError} `ERR_PXAR_TRUNCATED` when the archive is incomplete.
   */
  finish(): DecoderEvent[] {
    this.end()
    const out: DecoderEvent[] = []
    for (let ev = this.next(); ev !== undefined; ev = this.next()) out.push(ev)
    return out
  }

  /**
   * Supplies the next input chunk; call {@link Decoder.next} until it returns `undefined` first.
   * @throws {TypeError} when the previous chunk is not consumed yet or input has ended.
   */
  write(bytes: Uint8Array): void {
    if (this.#ended) throw new TypeError('write() after end()')
    if (this.#bp < this.#buf.length) throw new TypeError('previous input not consumed; drain next() first')
    this.#buf = bytes
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.#bp = 0
  }

  /** Marks the end of input. */
  end(): void {
    this.#ended = true
  }

  /**
   * The next event, or `undefined` when more input is needed (or, after {@link Decoder.end}, when
   * decoding is complete).
   * @throws {PxarFormatError} on malformed or (after end) truncated input.
   */
  next(): DecoderEvent | undefined {
    if (this.#failed !== undefined) throw this.#failed
    try {
      return this.#next()
    } catch (err) {
      this.#failed = err
      throw err
    }
  }

  #next(): DecoderEvent | undefined {
    for (;;) {
      if (this.#redispatch) {
        this.#redispatch = false
        const ev = this.#dispatch()
        if (ev !== undefined) return ev
        continue
      }
      const avail = this.#buf.length - this.#bp
      switch (this.#state) {
        case S_STREAM:
        case S_SKIP: {
          if (this.#remaining === 0) {
            const ev = this.#endStream()
            if (ev !== undefined) return ev
            continue
          }
          if (avail === 0) return this.#eof()
          const n = Math.min(avail, this.#remaining)
          const start = this.#bp
          this.#bp += n
          this.#pos += n
          this.#remaining -= n
          if (this.#state === S_SKIP) continue
          return { type: 'content', data: this.#buf.subarray(start, start + n) }
        }
        case S_DONE: {
          if (avail === 0 || this.#single) return this.#eof()
          this.#anomaly('ERR_PXAR_TRAILING_DATA', `${avail} bytes after the end of the archive`, this.#pos)
          this.#pos += avail
          this.#bp += avail
          return this.#eof()
        }
        default: {
          // gather #need bytes
          let view: DataView
          let off: number
          const need = this.#need
          if (this.#accLen === 0 && avail >= need) {
            view = this.#view
            off = this.#bp
            this.#unitStart = this.#pos
            this.#bp += need
            this.#pos += need
          } else {
            if (avail === 0) return this.#eof()
            if (this.#accLen === 0) {
              this.#unitStart = this.#pos
              if (this.#acc.length < need) {
                this.#acc = new Uint8Array(Math.max(need, 64))
                this.#accView = new DataView(this.#acc.buffer)
              }
            }
            const n = Math.min(avail, need - this.#accLen)
            this.#acc.set(this.#buf.subarray(this.#bp, this.#bp + n), this.#accLen)
            this.#accLen += n
            this.#bp += n
            this.#pos += n
            if (this.#accLen < need) return this.#eof()
            this.#accLen = 0
            view = this.#accView
            off = 0
          }
          let ev: DecoderEvent | undefined
          if (this.#state === S_HEADER) ev = this.#header(view, off)
          else if (this.#state === S_CONTENT) ev = this.#content(view, off)
          else ev = this.#goodbyeItem(view, off)
          if (ev !== undefined) return ev
        }
      }
    }
  }

  /** Out of input: `undefined` if more may come, else complete or truncated. */
  #eof(): undefined {
    if (!this.#ended || this.#state === S_DONE) return undefined
    if (this.#single && this.#phase === P_ATTRS && this.#state === S_HEADER && this.#accLen === 0) {
      // the entry's range ended after its metadata: a fifo, socket (or an empty range)
      return undefined
    }
    throw new PxarFormatError('ERR_PXAR_TRUNCATED', 'unexpected end of archive', this.#pos)
  }

  /**
   * Single mode only: finishes an entry that ended with its range (fifo/socket), returning it.
   * @throws {PxarFormatError} when the bytes so far do not form a complete entry.
   */
  finishSingle(): Entry | undefined {
    if (this.#single && this.#phase === P_ATTRS && this.#state === S_HEADER && this.#accLen === 0) {
      const ev = this.#terminate(this.#pos)
      return ev?.type === 'entry' ? ev.entry : undefined
    }
    return undefined
  }

  #anomaly(code: PxarErrorCode, message: string, offset: number): void {
    const err = new PxarFormatError(code, message, offset)
    if (this.#onWarning === undefined) throw err
    this.#onWarning(err)
  }

  #header(view: DataView, off: number): DecoderEvent | undefined {
    const lo = view.getUint32(off, true)
    const hi = view.getUint32(off + 4, true)
    const sizeLo = view.getUint32(off + 8, true)
    const sizeHi = view.getUint32(off + 12, true)
    const at = this.#unitStart
    if (sizeHi >= MAX_SAFE_HI) {
      throw new PxarFormatError('ERR_PXAR_SIZE', `item size too large in ${htypeName(lo, hi)} header`, at)
    }
    const full = sizeHi * TWO_32 + sizeLo
    if (full < 16) {
      throw new PxarFormatError(
        'ERR_PXAR_BAD_HEADER',
        `invalid ${htypeName(lo, hi)} header: too small (${full})`,
        at,
      )
    }
    this.#itemLo = lo
    this.#itemHi = hi
    this.#itemOffset = at
    this.#itemSize = full - 16
    return this.#dispatch()
  }

  #unexpected(): never {
    const lo = this.#itemLo
    const hi = this.#itemHi
    const known = htypeOf(lo, hi) !== undefined
    throw new PxarFormatError(
      known ? 'ERR_PXAR_INVALID_DATA' : 'ERR_PXAR_UNKNOWN_ITEM',
      `unexpected item type ${htypeName(lo, hi)}`,
      this.#itemOffset,
    )
  }

  /** Starts reading the content of the current item after checking its size. */
  #expectContent(): undefined {
    const lo = this.#itemLo
    const hi = this.#itemHi
    const size = this.#itemSize
    const exact = exactContentSize(lo, hi)
    const isEntry =
      (lo === PXAR_ENTRY.lo && hi === PXAR_ENTRY.hi) ||
      (lo === PXAR_PAYLOAD_REF.lo && hi === PXAR_PAYLOAD_REF.hi)
    const max = maxContentSize(lo, hi)
    if ((exact !== undefined && size !== exact) || (isEntry && size !== max) || size > max) {
      throw new PxarFormatError(
        'ERR_PXAR_SIZE',
        `invalid content size (${size}, expected ${exact ?? (isEntry ? max : `<= ${max}`)}) of ${htypeName(lo, hi)} item`,
        this.#itemOffset,
      )
    }
    // a zero size is handled by the next step with an empty view
    this.#state = S_CONTENT
    this.#need = size
    return undefined
  }

  #is(h: { readonly lo: number; readonly hi: number }): boolean {
    return this.#itemLo === h.lo && this.#itemHi === h.hi
  }

  #dispatch(): DecoderEvent | undefined {
    switch (this.#phase) {
      case P_START:
        if (!this.#single && this.#is(PXAR_FORMAT_VERSION)) return this.#expectContent()
        if (this.#is(PXAR_ENTRY) || this.#is(PXAR_ENTRY_V1)) return this.#expectContent()
        if (this.#single && this.#is(PXAR_FILENAME)) return this.#expectContent()
        return this.#unexpected()
      case P_AFTER_VERSION:
        if (this.#is(PXAR_PRELUDE)) {
          this.#phase = P_AFTER_PRELUDE
          this.#state = S_STREAM
          this.#streamIsPrelude = true
          this.#remaining = this.#itemSize
          return this.#pseudo('prelude', { fileSize: this.#itemSize })
        }
        if (this.#is(PXAR_ENTRY) || this.#is(PXAR_ENTRY_V1)) return this.#expectContent()
        return this.#unexpected()
      case P_AFTER_PRELUDE:
        if (this.#is(PXAR_ENTRY) || this.#is(PXAR_ENTRY_V1)) return this.#expectContent()
        return this.#unexpected()
      case P_AFTER_FILENAME:
        if (this.#is(PXAR_ENTRY) || this.#is(PXAR_ENTRY_V1) || this.#is(PXAR_HARDLINK))
          return this.#expectContent()
        return this.#unexpected()
      case P_ATTRS: {
        if (this.#is(PXAR_FILENAME) || this.#is(PXAR_GOODBYE)) return this.#terminate(this.#itemOffset, true)
        if (this.#is(PXAR_PAYLOAD)) {
          if (this.#version !== 1) {
            throw new PxarFormatError(
              'ERR_PXAR_INVALID_DATA',
              'PAYLOAD item in a v2 metadata stream',
              this.#itemOffset,
            )
          }
          const ev = this.#finishEntry('file', {
            fileSize: this.#itemSize,
            archiveOffset: this.#itemOffset + 16,
          })
          if (this.#single) {
            this.#state = S_DONE
          } else {
            this.#state = S_STREAM
            this.#streamIsPrelude = false
            this.#remaining = this.#itemSize
          }
          return ev
        }
        const h = htypeOf(this.#itemLo, this.#itemHi)
        if (h === undefined || h === PXAR_HARDLINK || h === PXAR_ENTRY || h === PXAR_ENTRY_V1)
          return this.#unexpected()
        if (this.#is(PXAR_PRELUDE) || this.#is(PXAR_FORMAT_VERSION)) return this.#unexpected()
        if (
          h.name === 'PAYLOAD_START_MARKER' ||
          h.name === 'PAYLOAD_TAIL_MARKER' ||
          h.name === 'GOODBYE_TAIL_MARKER'
        )
          return this.#unexpected()
        return this.#expectContent()
      }
      case P_DIR:
        if (this.#is(PXAR_FILENAME)) return this.#expectContent()
        if (this.#is(PXAR_GOODBYE)) return this.#startGoodbye()
        return this.#unexpected()
      default:
        return this.#unexpected()
    }
  }

  #pseudo(kind: EntryKind, extra: Partial<Entry>): DecoderEvent {
    const entry: Entry = {
      kind,
      path: new Uint8Array([SLASH]),
      pathString: '/',
      name: EMPTY,
      metadata: ZERO_METADATA,
      filenameOffset: undefined,
      entryOffset: this.#itemOffset,
      fileSize: extra.fileSize,
      archiveOffset: undefined,
      payloadOffset: undefined,
      linkTarget: undefined,
      linkOffset: undefined,
      device: undefined,
      version: extra.version,
    }
    return { type: 'entry', entry }
  }

  #content(view: DataView, off: number): DecoderEvent | undefined {
    const size = this.#itemSize
    const at = this.#itemOffset
    this.#state = S_HEADER
    this.#need = 16
    switch (this.#itemLo) {
      case PXAR_FORMAT_VERSION.lo: {
        const v = u64At(view, off)
        if (v.hi !== 0 || v.lo !== 2) {
          throw new PxarFormatError('ERR_PXAR_UNSUPPORTED', `unsupported format version ${v.lo}`, at)
        }
        this.#version = 2
        this.#phase = P_AFTER_VERSION
        return this.#pseudo('version', { version: 2 })
      }
      case PXAR_FILENAME.lo: {
        const name = this.#readName(view, off, size, at)
        if (this.#phase === P_START) {
          // single mode: entry starts at its FILENAME
          this.#name = name
          this.#filenameOffset = at
          this.#phase = P_AFTER_FILENAME
          return undefined
        }
        const frame = this.#stack[this.#stack.length - 1]!
        const h = hashFilename(name)
        frame.offsets.push(at)
        frame.hashLo.push(h.lo)
        frame.hashHi.push(h.hi)
        frame.ends.push(-1)
        frame.extra.push(0)
        this.#name = name
        this.#filenameOffset = at
        this.#phase = P_AFTER_FILENAME
        return undefined
      }
      case PXAR_ENTRY.lo:
      case PXAR_ENTRY_V1.lo: {
        const stat = this.#itemLo === PXAR_ENTRY.lo ? readStat(view, off, at) : readStatV1(view, off, at)
        if (!this.#sawRoot) {
          this.#sawRoot = true
          this.#name = EMPTY
          this.#filenameOffset = undefined
        }
        this.#pending = {
          stat,
          entryOffset: at,
          xattrs: undefined,
          users: undefined,
          groups: undefined,
          groupObj: undefined,
          default: undefined,
          defaultUsers: undefined,
          defaultGroups: undefined,
          fcaps: undefined,
          quota: undefined,
        }
        this.#phase = P_ATTRS
        return undefined
      }
      case PXAR_HARDLINK.lo: {
        if (size <= 8) throw new PxarFormatError('ERR_PXAR_SIZE', 'hardlink item too small', at)
        const o = u64At(view, off)
        if (o.hi >= MAX_SAFE_HI)
          throw new PxarFormatError('ERR_PXAR_INVALID_DATA', 'hardlink offset too large', at)
        const linkOffset = o.hi * TWO_32 + o.lo
        const target = this.#readPath(view, off + 8, size - 8, at, 'hardlink target')
        const fo = this.#filenameOffset ?? 0
        if (linkOffset === 0 || linkOffset > fo) {
          throw new PxarFormatError('ERR_PXAR_INVALID_DATA', `hardlink offset ${linkOffset} out of range`, at)
        }
        this.#pending = undefined
        return this.#emitChild(
          'hardlink',
          ZERO_METADATA,
          at,
          { linkTarget: target, linkOffset },
          this.#pos,
          0,
        )
      }
      case PXAR_XATTR_LO: {
        const p = this.#pending!
        const bytes = new Uint8Array(view.buffer, view.byteOffset + off, size)
        const nul = bytes.indexOf(0)
        if (nul < 0) {
          throw new PxarFormatError('ERR_PXAR_INVALID_DATA', 'xattr without NUL after its name', at)
        }
        p.xattrs ??= []
        p.xattrs.push({ name: bytes.slice(0, nul), value: bytes.slice(nul + 1) })
        return undefined
      }
      case PXAR_ACL_USER_LO:
      case PXAR_ACL_DEFAULT_USER_LO: {
        const p = this.#pending!
        const u: AclUser = { uid: this.#u64(view, off), permissions: this.#u64(view, off + 8) }
        if (this.#itemLo === PXAR_ACL_USER_LO) (p.users ??= []).push(u)
        else (p.defaultUsers ??= []).push(u)
        return undefined
      }
      case PXAR_ACL_GROUP_LO:
      case PXAR_ACL_DEFAULT_GROUP_LO: {
        const p = this.#pending!
        const g: AclGroup = { gid: this.#u64(view, off), permissions: this.#u64(view, off + 8) }
        if (this.#itemLo === PXAR_ACL_GROUP_LO) (p.groups ??= []).push(g)
        else (p.defaultGroups ??= []).push(g)
        return undefined
      }
      case PXAR_ACL_GROUP_OBJ_LO: {
        const p = this.#pending!
        if (p.groupObj !== undefined)
          throw new PxarFormatError('ERR_PXAR_INVALID_DATA', 'second ACL group object', at)
        p.groupObj = { permissions: this.#u64(view, off) }
        return undefined
      }
      case PXAR_ACL_DEFAULT_LO: {
        const p = this.#pending!
        if (p.default !== undefined)
          throw new PxarFormatError('ERR_PXAR_INVALID_DATA', 'second default ACL', at)
        p.default = {
          userObjPermissions: this.#u64(view, off),
          groupObjPermissions: this.#u64(view, off + 8),
          otherPermissions: this.#u64(view, off + 16),
          maskPermissions: this.#u64(view, off + 24),
        }
        return undefined
      }
      case PXAR_FCAPS_LO: {
        const p = this.#pending!
        if (p.fcaps !== undefined) throw new PxarFormatError('ERR_PXAR_INVALID_DATA', 'second FCAPS item', at)
        p.fcaps = new Uint8Array(view.buffer, view.byteOffset + off, size).slice()
        return undefined
      }
      case PXAR_QUOTA_PROJID_LO: {
        const p = this.#pending!
        if (p.quota !== undefined)
          throw new PxarFormatError('ERR_PXAR_INVALID_DATA', 'second QUOTA_PROJID item', at)
        p.quota = this.#u64(view, off)
        return undefined
      }
      case PXAR_SYMLINK_LO: {
        const target = this.#readPath(view, off, size, at, 'symlink target')
        this.#checkMode(S_IFLNK, 'SYMLINK')
        return this.#finishEntry('symlink', { linkTarget: target }, this.#pos)
      }
      case PXAR_DEVICE_LO: {
        const major = this.#u64(view, off)
        const minor = this.#u64(view, off + 8)
        const fmt = this.#pending!.stat.mode & S_IFMT
        if (fmt !== S_IFCHR && fmt !== S_IFBLK) {
          this.#anomaly('ERR_PXAR_INVALID_DATA', 'DEVICE item for an entry whose mode is not a device', at)
        }
        return this.#finishEntry(
          fmt === S_IFBLK ? 'block_device' : 'char_device',
          { device: { major, minor } },
          this.#pos,
        )
      }
      case PXAR_PAYLOAD_REF.lo: {
        if (this.#version !== 2) {
          throw new PxarFormatError('ERR_PXAR_INVALID_DATA', 'PAYLOAD_REF item in a v1 archive', at)
        }
        const o = u64At(view, off)
        const s = u64At(view, off + 8)
        if (o.hi >= MAX_SAFE_HI || s.hi >= MAX_SAFE_HI) {
          throw new PxarFormatError('ERR_PXAR_SIZE', 'payload reference out of range', at)
        }
        this.#checkMode(S_IFREG, 'PAYLOAD_REF')
        const fileSize = s.hi * TWO_32 + s.lo
        return this.#finishEntry(
          'file',
          { fileSize, archiveOffset: at + 16, payloadOffset: o.hi * TWO_32 + o.lo },
          this.#pos,
          fileSize,
        )
      }
      default:
        return this.#unexpected()
    }
  }

  #u64(view: DataView, off: number): number | bigint {
    return u64Value(view.getUint32(off, true), view.getUint32(off + 4, true))
  }

  #readName(view: DataView, off: number, size: number, at: number): Uint8Array {
    const bytes = new Uint8Array(view.buffer, view.byteOffset + off, size)
    if (size < 1 || bytes[size - 1] !== 0) {
      throw new PxarFormatError('ERR_PXAR_BAD_NAME', 'file name without terminating NUL', at)
    }
    const name = bytes.subarray(0, size - 1)
    if (name.length === 0) throw new PxarFormatError('ERR_PXAR_BAD_NAME', 'empty file name', at)
    if (name.includes(0)) throw new PxarFormatError('ERR_PXAR_BAD_NAME', 'file name contains NUL', at)
    if (name.includes(SLASH)) throw new PxarFormatError('ERR_PXAR_BAD_NAME', "file name contains '/'", at)
    if (name[0] === 0x2e && (name.length === 1 || (name.length === 2 && name[1] === 0x2e))) {
      throw new PxarFormatError(
        'ERR_PXAR_BAD_NAME',
        `illegal file name '${name.length === 1 ? '.' : '..'}'`,
        at,
      )
    }
    return name.slice()
  }

  #readPath(view: DataView, off: number, size: number, at: number, what: string): Uint8Array {
    const bytes = new Uint8Array(view.buffer, view.byteOffset + off, size)
    if (size < 1 || bytes[size - 1] !== 0) {
      throw new PxarFormatError('ERR_PXAR_BAD_NAME', `${what} without terminating NUL`, at)
    }
    const p = bytes.subarray(0, size - 1)
    if (p.includes(0)) throw new PxarFormatError('ERR_PXAR_BAD_NAME', `${what} contains NUL`, at)
    return p.slice()
  }

  #checkMode(fmt: number, item: string): void {
    if ((this.#pending!.stat.mode & S_IFMT) !== fmt) {
      this.#anomaly(
        'ERR_PXAR_INVALID_DATA',
        `${item} item for an entry with mode ${this.#pending!.stat.mode.toString(8)}`,
        this.#itemOffset,
      )
    }
  }

  /** The current entry is ended by a FILENAME/GOODBYE header at `at` (or its range's end). */
  #terminate(at: number, redispatch = false): DecoderEvent | undefined {
    let fmt = this.#pending!.stat.mode & S_IFMT
    if (fmt !== S_IFDIR && fmt !== S_IFIFO && fmt !== S_IFSOCK) {
      // upstream treats any other entry followed by FILENAME/GOODBYE as a directory
      this.#anomaly(
        'ERR_PXAR_INVALID_DATA',
        `entry with mode ${this.#pending!.stat.mode.toString(8)} has no data item`,
        at,
      )
      fmt = S_IFDIR
    }
    if (fmt === S_IFDIR) {
      const ev = this.#finishEntry('directory', {}, -1)
      if (!this.#single) {
        const e = (ev as { entry: Entry }).entry
        this.#stack.push({
          path: e.path,
          pathString: e.pathString,
          tailBase: this.#stack.length === 0 ? 0 : e.entryOffset,
          offsets: [],
          hashLo: [],
          hashHi: [],
          ends: [],
          extra: [],
        })
        this.#phase = P_DIR
        this.#redispatch = redispatch
      }
      return ev
    }
    if (this.#stack.length === 0 && !this.#single) {
      throw new PxarFormatError(
        'ERR_PXAR_INVALID_DATA',
        'the archive root is not a directory',
        this.#pending!.entryOffset,
      )
    }
    const kind: EntryKind = fmt === S_IFIFO ? 'fifo' : 'socket'
    const ev = this.#finishEntry(kind, {}, at)
    if (!this.#single) this.#redispatch = redispatch
    return ev
  }

  /** Builds the pending entry; `end` is its end offset (for the goodbye check), -1 for directories. */
  #finishEntry(kind: EntryKind, extra: Partial<Entry>, end = -1, goodbyeExtra = 0): DecoderEvent {
    const p = this.#pending!
    if (kind === 'file' && extra.payloadOffset === undefined) this.#checkMode(S_IFREG, 'PAYLOAD')
    this.#pending = undefined
    const noAcl =
      p.users === undefined &&
      p.groups === undefined &&
      p.groupObj === undefined &&
      p.default === undefined &&
      p.defaultUsers === undefined &&
      p.defaultGroups === undefined
    const metadata: Metadata = {
      stat: p.stat,
      xattrs: p.xattrs ?? NONE,
      acl: noAcl
        ? EMPTY_ACL
        : {
            users: p.users ?? NONE,
            groups: p.groups ?? NONE,
            groupObj: p.groupObj,
            default: p.default,
            defaultUsers: p.defaultUsers ?? NONE,
            defaultGroups: p.defaultGroups ?? NONE,
          },
      fcaps: p.fcaps,
      quotaProjectId: p.quota,
    }
    if (kind !== 'directory' && this.#stack.length === 0 && !this.#single) {
      throw new PxarFormatError('ERR_PXAR_INVALID_DATA', 'the archive root is not a directory', p.entryOffset)
    }
    return this.#emitChild(kind, metadata, p.entryOffset, extra, end, goodbyeExtra)
  }

  #emitChild(
    kind: EntryKind,
    metadata: Metadata,
    entryOffset: number,
    extra: Partial<Entry>,
    end: number,
    goodbyeExtra: number,
  ): DecoderEvent {
    let path: Uint8Array
    let pathString: string
    const name = this.#name
    const frame = this.#stack[this.#stack.length - 1]
    if (this.#filenameOffset === undefined) {
      path = new Uint8Array([SLASH])
      pathString = '/'
    } else if (this.#single) {
      const parent = this.#singleParent ?? new Uint8Array([SLASH])
      path = joinPath(parent, name)
      pathString = decodeUtf8(path)
    } else {
      path = joinPath(frame!.path, name)
      pathString = `${frame!.pathString === '/' ? '' : frame!.pathString}/${decodeUtf8(name)}`
    }
    const entry: Entry = {
      kind,
      path,
      pathString,
      name,
      metadata,
      filenameOffset: this.#filenameOffset,
      entryOffset,
      // every entry has the same shape (monomorphic property access for consumers)
      fileSize: extra.fileSize,
      archiveOffset: extra.archiveOffset,
      payloadOffset: extra.payloadOffset,
      linkTarget: extra.linkTarget,
      linkOffset: extra.linkOffset,
      device: extra.device,
      version: undefined,
    }
    if (this.#single) {
      this.#state = S_DONE
      this.#phase = P_DIR
    } else if (kind !== 'directory') {
      this.#phase = P_DIR
      if (end >= 0) this.#childEnd(end, goodbyeExtra)
    }
    return { type: 'entry', entry }
  }

  #childEnd(end: number, extra: number): void {
    const frame = this.#stack[this.#stack.length - 1]
    if (frame === undefined) return
    const i = frame.ends.length - 1
    frame.ends[i] = end
    frame.extra[i] = extra
  }

  #endStream(): DecoderEvent | undefined {
    this.#state = S_HEADER
    this.#need = 16
    if (this.#streamIsPrelude) {
      this.#streamIsPrelude = false
      return undefined
    }
    // v1 file payload (or skipped goodbye content in lenient mode)
    if (this.#goodbye !== undefined) {
      this.#closeDirectory()
      return undefined
    }
    this.#childEnd(this.#pos, 0)
    return undefined
  }

  #startGoodbye(): undefined {
    const frame = this.#stack[this.#stack.length - 1]!
    const n = frame.offsets.length
    const at = this.#itemOffset
    const expectLo = new Uint32Array(n)
    const expectHi = new Uint32Array(n)
    const check: GoodbyeCheck = {
      offset: at,
      fullSize: this.#itemSize + 16,
      count: n,
      expectLo,
      expectHi,
      matched: new Uint8Array(n),
      index: 0,
    }
    this.#goodbye = check
    if (this.#itemSize !== 24 * (n + 1)) {
      this.#anomaly(
        'ERR_PXAR_BAD_GOODBYE',
        `goodbye table size ${this.#itemSize + 16} does not fit ${n} entries`,
        at,
      )
      this.#state = S_SKIP
      this.#remaining = this.#itemSize
      return undefined
    }
    const order = Array.from({ length: n }, (_, i) => i)
    order.sort((a, b) => compareU64(frame.hashLo[a]!, frame.hashHi[a]!, frame.hashLo[b]!, frame.hashHi[b]!))
    const perm = bstPermutation(n)
    for (let i = 0; i < n; i++) {
      const c = order[perm[i]!]!
      expectLo[i] = frame.hashLo[c]!
      expectHi[i] = frame.hashHi[c]!
    }
    this.#state = S_GOODBYE
    this.#need = 24
    return undefined
  }

  #goodbyeItem(view: DataView, off: number): DecoderEvent | undefined {
    const g = this.#goodbye!
    const frame = this.#stack[this.#stack.length - 1]!
    const hLo = view.getUint32(off, true)
    const hHi = view.getUint32(off + 4, true)
    const oLo = view.getUint32(off + 8, true)
    const oHi = view.getUint32(off + 12, true)
    const sLo = view.getUint32(off + 16, true)
    const sHi = view.getUint32(off + 20, true)
    const at = this.#unitStart
    const i = g.index++
    const offset = oHi < MAX_SAFE_HI ? oHi * TWO_32 + oLo : -1
    const size = sHi < MAX_SAFE_HI ? sHi * TWO_32 + sLo : -1
    if (i === g.count) {
      if (hLo !== PXAR_GOODBYE_TAIL_MARKER_LO || hHi !== PXAR_GOODBYE_TAIL_MARKER_HI) {
        this.#anomaly('ERR_PXAR_BAD_GOODBYE', 'goodbye table without tail marker', at)
      } else if (offset !== g.offset - frame.tailBase || size !== g.fullSize) {
        this.#anomaly('ERR_PXAR_BAD_GOODBYE', 'goodbye tail does not match its directory', at)
      }
      this.#closeDirectory()
      return undefined
    }
    if (hLo !== g.expectLo[i] || hHi !== g.expectHi[i]) {
      this.#anomaly('ERR_PXAR_BAD_GOODBYE', `goodbye item ${i} out of order or unknown`, at)
      return undefined
    }
    const target = offset < 0 ? -1 : g.offset - offset
    const c = findOffset(frame.offsets, target)
    if (c < 0 || g.matched[c] === 1 || frame.hashLo[c] !== hLo || frame.hashHi[c] !== hHi) {
      this.#anomaly('ERR_PXAR_BAD_GOODBYE', `goodbye item ${i} does not point at its entry`, at)
      return undefined
    }
    g.matched[c] = 1
    const exact = frame.ends[c]! - target
    if (size !== exact && (frame.extra[c] === 0 || size !== exact + frame.extra[c]!)) {
      this.#anomaly('ERR_PXAR_BAD_GOODBYE', `goodbye item ${i} has a wrong size`, at)
    }
    return undefined
  }

  #closeDirectory(): void {
    this.#goodbye = undefined
    this.#stack.pop()
    this.#state = S_HEADER
    this.#need = 16
    this.#phase = P_DIR
    if (this.#stack.length === 0) {
      this.#state = S_DONE
      return
    }
    this.#childEnd(this.#pos, 0)
  }
}

function joinPath(parent: Uint8Array, name: Uint8Array): Uint8Array {
  const root = parent.length === 1 && parent[0] === SLASH
  const out = new Uint8Array((root ? 0 : parent.length) + 1 + name.length)
  if (!root) out.set(parent)
  const p = root ? 0 : parent.length
  out[p] = SLASH
  out.set(name, p + 1)
  return out
}

function findOffset(offsets: readonly number[], target: number): number {
  let lo = 0
  let hi = offsets.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const v = offsets[mid]!
    if (v === target) return mid
    if (v < target) lo = mid + 1
    else hi = mid - 1
  }
  return -1
}
