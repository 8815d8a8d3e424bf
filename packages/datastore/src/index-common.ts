/** Shared pieces of the `.didx`/`.fidx` formats (4096-byte header, uuid, ctime, checksum). */
import { randomBytes } from 'node:crypto'
import { type FileHandle, open, rename, unlink } from 'node:fs/promises'
import { basename, dirname, extname, join } from 'node:path'
import { PxarError, PxarFormatError } from '@pxar/format'
import { bytesEqual, toBytes, toHex } from './digest.ts'

/** Size of the header of both index kinds. */
export const INDEX_HEADER_SIZE = 4096
/** Magic of dynamic indexes (`.didx`). */
export const DYNAMIC_INDEX_MAGIC: Uint8Array<ArrayBuffer> = new Uint8Array([
  28, 145, 78, 165, 25, 186, 179, 205,
])
/** Magic of fixed indexes (`.fidx`). */
export const FIXED_INDEX_MAGIC: Uint8Array<ArrayBuffer> = new Uint8Array([
  47, 127, 65, 237, 145, 253, 15, 205,
])

/** Header fields both writers accept. */
export interface IndexWriterOptions {
  /** 16 bytes; default random (v4). */
  readonly uuid?: Uint8Array
  /** Creation time, epoch seconds; default now. */
  readonly ctime?: number
}

/** What a writer reports when finished (the manifest's `csum` and `size`). */
export interface IndexSummary {
  /** Index checksum (manifest `csum`). */
  readonly csum: Uint8Array<ArrayBuffer>
  /** Logical size: last end offset (didx) or image size (fidx); manifest `size`. */
  readonly size: number
  /** Number of entries. */
  readonly count: number
}

/** Random v4 UUID bytes, like libuuid's `uuid_generate`. */
export function randomUuid(): Uint8Array<ArrayBuffer> {
  const u = toBytes(randomBytes(16))
  u[6] = (u[6]! & 0x0f) | 0x40
  u[8] = (u[8]! & 0x3f) | 0x80
  return u
}

/** Builds the common 64 header bytes (magic, uuid, ctime, zero csum) into `header`. */
export function writeHeaderStart(
  header: Uint8Array<ArrayBuffer>,
  magic: Uint8Array,
  options: IndexWriterOptions,
): { uuid: Uint8Array<ArrayBuffer>; ctime: number } {
  const uuid = options.uuid ? new Uint8Array(options.uuid) : randomUuid()
  if (uuid.length !== 16) throw new RangeError('index uuid must be 16 bytes')
  const ctime = options.ctime ?? Math.floor(Date.now() / 1000)
  if (!Number.isSafeInteger(ctime)) throw new RangeError('index ctime must be an integer')
  header.set(magic, 0)
  header.set(uuid, 8)
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength)
  setI64(view, 24, ctime)
  return { uuid, ctime }
}

/** Writes a non-negative safe integer as u64 LE. */
export function setU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value % 0x100000000, true)
  view.setUint32(offset + 4, Math.floor(value / 0x100000000), true)
}

function setI64(view: DataView, offset: number, value: number): void {
  const lo = ((value % 0x100000000) + 0x100000000) % 0x100000000
  view.setUint32(offset, lo, true)
  view.setInt32(offset + 4, Math.floor(value / 0x100000000), true)
}

/** Reads a u64 LE as a number; throws when it exceeds 2^53. */
export function getU64(view: DataView, offset: number, what: string, base = 0): number {
  const hi = view.getUint32(offset + 4, true)
  if (hi >= 0x200000) throw new PxarFormatError('ERR_INDEX_FORMAT', `${what} too large`, base + offset)
  return hi * 0x100000000 + view.getUint32(offset, true)
}

/** Parsed common header. */
export interface IndexHeader {
  readonly uuid: Uint8Array<ArrayBuffer>
  readonly ctime: number
  readonly indexCsum: Uint8Array<ArrayBuffer>
}

/** Validates length and magic, returns uuid/ctime/csum. */
export function readHeaderStart(bytes: Uint8Array, magic: Uint8Array, kind: string): IndexHeader {
  if (bytes.length < INDEX_HEADER_SIZE) {
    throw new PxarFormatError(
      'ERR_INDEX_FORMAT',
      `${kind} shorter than its ${INDEX_HEADER_SIZE}-byte header`,
      bytes.length,
    )
  }
  for (let i = 0; i < 8; i++) {
    if (bytes[i] !== magic[i]) {
      throw new PxarFormatError('ERR_INDEX_MAGIC', `wrong ${kind} magic ${toHex(bytes.subarray(0, 8))}`, 0)
    }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, 64)
  const hi = view.getInt32(28, true)
  const ctime = hi * 0x100000000 + view.getUint32(24, true)
  return { uuid: bytes.slice(8, 24), ctime, indexCsum: bytes.slice(32, 64) }
}

/** Throws `ERR_INDEX_CSUM` unless `actual` equals `expected`. */
export function checkCsum(actual: Uint8Array, expected: Uint8Array): void {
  if (!bytesEqual(actual, expected)) {
    throw new PxarError(
      'ERR_INDEX_CSUM',
      `index checksum mismatch (expected ${toHex(expected)}, computed ${toHex(actual)})`,
    )
  }
}

/** `<dir>/<name without last extension>.<ext>`: the temp name PBS uses while writing an index. */
export function tempIndexPath(path: string, ext: string): string {
  const base = basename(path)
  const e = extname(base)
  return join(dirname(path), `${e ? base.slice(0, -e.length) : base}.${ext}`)
}

/** A temp index file being written; `commit` syncs and renames it over the target. */
export interface TempIndexFile {
  readonly handle: FileHandle
  readonly tmp: string
  commit(): Promise<void>
  abort(): Promise<void>
}

/**
 * Opens a temp file for an index and returns helpers to finish or abort it atomically.
 *
 * @throws PxarError `ERR_STORE_IO` when the file cannot be created.
 */
export async function openTempIndex(path: string, ext: string): Promise<TempIndexFile> {
  const tmp = tempIndexPath(path, ext)
  let handle: FileHandle
  try {
    handle = await open(tmp, 'w', 0o644)
  } catch (cause) {
    throw new PxarError('ERR_STORE_IO', `cannot create index ${tmp}`, { cause })
  }
  let done = false
  return {
    handle,
    tmp,
    async commit(): Promise<void> {
      await handle.sync()
      await handle.close()
      await rename(tmp, path)
      done = true
    },
    async abort(): Promise<void> {
      if (done) return
      done = true
      await handle.close().catch(() => {})
      await unlink(tmp).catch(() => {})
    },
  }
}
