/**
 * The chunk store of a PBS datastore (`pbs-datastore/src/chunk_store.rs`):
 * `<base>/.chunks/<first 4 hex digits>/<64 hex digits>`, one encoded DataBlob per file.
 *
 * Prefix directories: {@link ChunkStore.create} makes all 65536 of them up front, as PBS does
 * (pass `prefixDirs: 'lazy'` to skip that); inserting always creates a missing prefix directory
 * on demand, so stores that only contain the used prefixes work too.
 *
 * Inserts are atomic: temp file `<digest>.tmp_XXXXXX` in the prefix directory, then rename.
 * Two processes inserting the same chunk concurrently both succeed and leave one complete file.
 */

import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs'
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PxarError, PxarFormatError } from '@pxar/format'
import { ioError, writeFileAtomic } from './atomic-file.ts'
import { decodeBlob, inspectBlob } from './blob.ts'
import { fromHex } from './digest.ts'

/** A chunk digest: 32 bytes, or its 64-char hex form. */
export type ChunkDigest = Uint8Array | string

const HEX64 = /^[0-9a-f]{64}$/
const BAD_NAME = /^([0-9a-f]{64})\.([0-9])\.bad$/
const TEMP_NAME = /^([0-9a-f]{64})\.tmp_[A-Za-z0-9]{6}$/
const PREFIX_NAME = /^[0-9a-f]{4}$/

const MAGIC_ENCRYPTED = [0x7b, 0x67, 0x85, 0xbe, 0x22, 0x2d, 0x4c, 0xf0]
const MAGIC_ENCRYPTED_COMPRESSED = [0xe6, 0x59, 0x1b, 0xbf, 0x0b, 0xbf, 0xd8, 0x0b]

function magicIs(bytes: Uint8Array, magic: readonly number[]): boolean {
  return bytes.length >= 8 && magic.every((b, i) => bytes[i] === b)
}
function isEncryptedBlob(bytes: Uint8Array): boolean {
  return magicIs(bytes, MAGIC_ENCRYPTED) || magicIs(bytes, MAGIC_ENCRYPTED_COMPRESSED)
}

/**
 * Normalizes a digest to lowercase hex.
 * @throws TypeError unless it is 32 bytes or 64 hex characters.
 */
export function digestHex(digest: ChunkDigest): string {
  if (typeof digest === 'string') {
    const hex = digest.toLowerCase()
    if (!HEX64.test(hex)) throw new TypeError(`invalid chunk digest '${digest}'`)
    return hex
  }
  if (!(digest instanceof Uint8Array) || digest.length !== 32)
    throw new TypeError('chunk digest must be 32 bytes')
  let s = ''
  for (const b of digest) s += b.toString(16).padStart(2, '0')
  return s
}

/** Result of {@link ChunkStore.insert}. */
export interface InsertResult {
  /** True when a chunk with that digest was already stored (it was only touched). */
  readonly duplicate: boolean
  /** Size of the file now stored under the digest. */
  readonly size: number
}

/** Options of {@link ChunkStore.insert}. */
export interface InsertOptions {
  /** Check CRC, and digest/size of unencrypted chunks, before storing. Default false. */
  readonly verify?: boolean
  /** Expected plaintext size (checked with `verify`). */
  readonly size?: number
}

/** Result of {@link ChunkStore.stat}. */
export interface ChunkStat {
  readonly size: number
  readonly atimeMs: number
  readonly mtimeMs: number
}

/** A chunk file found by {@link ChunkStore.listChunks}. */
export interface ChunkFileEntry {
  readonly digest: string
  readonly path: string
  /** `n` of a quarantined `<digest>.<n>.bad` file; undefined for a normal chunk. */
  readonly bad?: number
  /**
   * True for a `<digest>.tmp_XXXXXX` temp file of an insert (only listed with
   * `{ temp: true }`): a write in progress, or the leftover of a writer that died.
   */
  readonly temp?: boolean
}

/** Options of {@link ChunkStore.listChunks}. */
export interface ListChunksOptions {
  /** Also list `<digest>.tmp_XXXXXX` temp files (with `temp: true`). Default false. */
  readonly temp?: boolean
}

/** Options of {@link ChunkStore.create}. */
export interface CreateChunkStoreOptions {
  /** `'all'` (default, as PBS): create the 65536 prefix directories now; `'lazy'`: on demand. */
  readonly prefixDirs?: 'all' | 'lazy'
}

/** Options of {@link ChunkStore.open}. */
export interface ChunkStoreOptions {
  /** fsync chunk files and their directory on insert (PBS `sync-level` file/filesystem). Default false. */
  readonly fsync?: boolean
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory()
  } catch {
    return false
  }
}

/**
 * A chunk store rooted at a datastore directory.
 *
 * @example
 * ```ts
 * const store = await ChunkStore.open('/backup/store1')
 * const { duplicate } = await store.insert(digest, encodedBlob)
 * const blob = await store.read(digest)
 * ```
 */
export class ChunkStore {
  /** The datastore directory (parent of `.chunks`). */
  readonly base: string
  /** `<base>/.chunks`. */
  readonly chunkDir: string
  readonly #fsync: boolean
  readonly #writers = new Map<number, number>()
  #nextWriter = 1

  private constructor(base: string, options: ChunkStoreOptions) {
    this.base = base
    this.chunkDir = join(base, '.chunks')
    this.#fsync = options.fsync ?? false
  }

  /**
   * Creates a new chunk store (`.chunks`, prefix directories, empty `.lock`) under `base`
   * (created if missing) and opens it.
   *
   * @throws PxarError `ERR_STORE_LAYOUT` if `base/.chunks` already exists; `ERR_STORE_IO`.
   */
  static async create(
    base: string,
    options: CreateChunkStoreOptions & ChunkStoreOptions = {},
  ): Promise<ChunkStore> {
    const chunkDir = join(base, '.chunks')
    if (await isDir(chunkDir))
      throw new PxarError('ERR_STORE_LAYOUT', `chunk store already exists at ${base}`)
    try {
      await mkdir(chunkDir, { recursive: true })
      await writeFile(join(base, '.lock'), '', { flag: 'a' })
      if ((options.prefixDirs ?? 'all') === 'all') {
        for (let hi = 0; hi < 256; hi++) {
          const batch: Promise<unknown>[] = []
          for (let lo = 0; lo < 256; lo++) {
            const name = ((hi << 8) | lo).toString(16).padStart(4, '0')
            batch.push(mkdir(join(chunkDir, name), { recursive: true }))
          }
          await Promise.all(batch)
        }
      }
    } catch (err) {
      throw ioError(`unable to create chunk store at ${base}`, err)
    }
    return new ChunkStore(base, options)
  }

  /**
   * Opens an existing chunk store.
   * @throws PxarError `ERR_STORE_LAYOUT` if `base/.chunks` is not a directory.
   */
  static async open(base: string, options: ChunkStoreOptions = {}): Promise<ChunkStore> {
    if (!(await isDir(join(base, '.chunks')))) {
      throw new PxarError('ERR_STORE_LAYOUT', `no chunk store at ${base} (missing .chunks directory)`)
    }
    return new ChunkStore(base, options)
  }

  /** Path of the chunk file for `digest`: `.chunks/<4 hex>/<64 hex>`. */
  chunkPath(digest: ChunkDigest): string {
    const hex = digestHex(digest)
    return join(this.chunkDir, hex.slice(0, 4), hex)
  }

  /** File metadata of a stored chunk, or undefined if it does not exist. */
  async stat(digest: ChunkDigest): Promise<ChunkStat | undefined> {
    try {
      const st = await stat(this.chunkPath(digest))
      if (!st.isFile())
        throw new PxarError('ERR_STORE_LAYOUT', `chunk ${digestHex(digest)} is not a regular file`)
      return { size: st.size, atimeMs: st.atimeMs, mtimeMs: st.mtimeMs }
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return undefined
      if (err instanceof PxarError) throw err
      throw ioError(`unable to stat chunk ${digestHex(digest)}`, err)
    }
  }

  /** True if a chunk file exists for `digest`. */
  async exists(digest: ChunkDigest): Promise<boolean> {
    return (await this.stat(digest)) !== undefined
  }

  /**
   * Reads the encoded blob of a chunk (no decoding, no atime update).
   * @throws PxarError `ERR_CHUNK_MISSING`, `ERR_STORE_IO`.
   */
  async read(digest: ChunkDigest): Promise<Uint8Array<ArrayBuffer>> {
    try {
      const buf = await readFile(this.chunkPath(digest))
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) as Uint8Array<ArrayBuffer>
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') {
        throw new PxarError('ERR_CHUNK_MISSING', `chunk ${digestHex(digest)} is missing`, { cause: err })
      }
      throw ioError(`unable to read chunk ${digestHex(digest)}`, err)
    }
  }

  /**
   * Sets a chunk's atime to now, keeping its mtime (what GC's mark phase does).
   * Returns false if the chunk does not exist.
   */
  async touch(digest: ChunkDigest): Promise<boolean> {
    return touchPath(this.chunkPath(digest))
  }

  /**
   * Inserts an encoded chunk (PBS `insert_chunk` semantics). The caller vouches that `blob`
   * is the DataBlob of the chunk with this digest (the pipeline computes both).
   *
   * - no file yet → written atomically, `duplicate: false`;
   * - same size already stored → touched, `duplicate: true`;
   * - stored file empty → overwritten;
   * - incoming encrypted: an unencrypted stored chunk, or two uncompressed encrypted chunks of
   *   different size, is an error (`ERR_CHUNK_DIGEST`); otherwise the stored one is kept;
   * - incoming unencrypted: a stored encrypted chunk is replaced (it cannot legitimately have a
   *   plaintext digest: another client's spoiling attempt; PBS keeps it when smaller), else a
   *   smaller stored chunk is kept and a bigger one replaced.
   *
   * With `verify` (what the server does for uploaded chunks) the blob's CRC is checked and an
   * unencrypted chunk is decoded and compared with the digest (and `size`, when given) first.
   *
   * @throws PxarError `ERR_CHUNK_DIGEST`, `ERR_STORE_LAYOUT` (not a regular file), `ERR_STORE_IO`;
   *   with `verify` also `ERR_BLOB_*`.
   */
  async insert(digest: ChunkDigest, blob: Uint8Array, options: InsertOptions = {}): Promise<InsertResult> {
    const hex = digestHex(digest)
    if (blob.length < 12) throw new RangeError('encoded chunk is shorter than a blob header')
    if (options.verify) {
      const info = inspectBlob(blob)
      if (info.crc !== info.computedCrc) {
        throw new PxarFormatError('ERR_BLOB_CRC', `chunk ${hex} has a wrong CRC checksum`, 8)
      }
      if (!info.encrypted) {
        const data = decodeBlob(blob, { digest: fromHex(hex) })
        if (options.size !== undefined && data.length !== options.size) {
          throw new PxarError('ERR_CHUNK_DIGEST', `chunk ${hex}: size ${data.length} != ${options.size}`)
        }
      }
    }
    const path = join(this.chunkDir, hex.slice(0, 4), hex)
    const existing = await this.stat(hex)
    // An unencrypted chunk (its digest vouched for by the caller, or checked with `verify`)
    // proves that a stored encrypted blob under its plaintext digest is bogus (keyed digests do
    // not collide with plain ones): replace it whatever the sizes, so that another client cannot
    // spoil a chunk it can name by storing a blob of the wrong kind first.
    const spoiled =
      existing !== undefined &&
      existing.size !== 0 &&
      !isEncryptedBlob(blob) &&
      isEncryptedBlob(await readHead(path))
    if (existing && !spoiled) {
      const old = existing.size
      if (old === blob.length) {
        await this.touch(hex)
        return { duplicate: true, size: old }
      }
      if (old !== 0) {
        if (isEncryptedBlob(blob)) {
          const head = await readHead(path)
          if (!isEncryptedBlob(head)) {
            throw new PxarError(
              'ERR_CHUNK_DIGEST',
              `chunk ${hex}: encrypted chunk collides with an unencrypted one`,
            )
          }
          if (magicIs(head, MAGIC_ENCRYPTED) && magicIs(blob, MAGIC_ENCRYPTED)) {
            throw new PxarError('ERR_CHUNK_DIGEST', `chunk ${hex}: two encrypted chunks of different size`)
          }
          await this.touch(hex)
          return { duplicate: true, size: old }
        }
        if (old < blob.length) {
          await this.touch(hex)
          return { duplicate: true, size: old }
        }
      }
    }
    await this.#write(path, blob)
    return { duplicate: false, size: blob.length }
  }

  async #write(path: string, blob: Uint8Array): Promise<void> {
    try {
      await writeFileAtomic(path, blob, { fsync: this.#fsync })
    } catch (err) {
      // the prefix directory may not exist (lazy layout): create it and retry once. Another
      // process may have created it since the first attempt failed, so ENOENT always retries.
      const dir = join(path, '..')
      const cause = (err as { cause?: { code?: string } }).cause
      if (cause?.code !== 'ENOENT' && (await isDir(dir))) throw err
      try {
        await mkdir(dir, { recursive: true })
      } catch (e) {
        throw ioError(`unable to create ${dir}`, e)
      }
      await writeFileAtomic(path, blob, { fsync: this.#fsync })
    }
  }

  /** Removes a chunk file (used by GC); false if it did not exist. */
  async remove(digest: ChunkDigest): Promise<boolean> {
    return removePath(this.chunkPath(digest))
  }

  /**
   * Lists the chunk files (`<64 hex>` and `<64 hex>.<n>.bad`) of all prefix directories; other
   * names, such as `*.tmp_*` leftovers of interrupted writes, are ignored unless `temp` is set.
   * Missing prefix directories are fine.
   */
  async *listChunks(options: ListChunksOptions = {}): AsyncGenerator<ChunkFileEntry> {
    let prefixes: string[]
    try {
      prefixes = (await readdir(this.chunkDir)).filter((n) => PREFIX_NAME.test(n)).sort()
    } catch (err) {
      throw ioError(`unable to list ${this.chunkDir}`, err)
    }
    for (const prefix of prefixes) {
      let names: string[]
      try {
        names = await readdir(join(this.chunkDir, prefix))
      } catch (err) {
        if ((err as { code?: string }).code === 'ENOENT' || (err as { code?: string }).code === 'ENOTDIR')
          continue
        throw ioError(`unable to list ${prefix}`, err)
      }
      names.sort()
      for (const name of names) {
        const path = join(this.chunkDir, prefix, name)
        if (name.length === 64 && HEX64.test(name)) {
          if (name.startsWith(prefix)) yield { digest: name, path }
          continue
        }
        const m = BAD_NAME.exec(name)
        if (m?.[1]?.startsWith(prefix)) {
          yield { digest: m[1], path, bad: Number(m[2]) }
          continue
        }
        if (options.temp) {
          const t = TEMP_NAME.exec(name)
          if (t?.[1]?.startsWith(prefix)) yield { digest: t[1], path, temp: true }
        }
      }
    }
  }

  /** Path of `<digest>.<n>.bad`. */
  badChunkPath(digest: ChunkDigest, n: number): string {
    return `${this.chunkPath(digest)}.${n}.bad`
  }

  /**
   * Quarantines a corrupt chunk as `<digest>.<n>.bad` with the first free `n` in 0..9 (9 is
   * overwritten when all exist), as PBS verify does. Returns the new path, or undefined if the
   * chunk did not exist.
   */
  async renameCorrupt(digest: ChunkDigest): Promise<string | undefined> {
    let target = this.badChunkPath(digest, 9)
    for (let n = 0; n < 10; n++) {
      const p = this.badChunkPath(digest, n)
      if (!(await exists(p))) {
        target = p
        break
      }
    }
    try {
      await rename(this.chunkPath(digest), target)
      return target
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return undefined
      throw ioError(`unable to quarantine chunk ${digestHex(digest)}`, err)
    }
  }

  /**
   * Registers a running backup writer (PBS takes a shared lock on `.lock` and remembers the
   * start time). GC never removes chunks newer than the oldest registered writer's start.
   * Besides the in-process record, a marker `.writers/<pid>-<n>` holding the start time is
   * written (best effort), so a GC in another process sees the writer too.
   * Returns the function that unregisters it.
   */
  registerWriter(startTimeMs: number = Date.now()): () => void {
    const id = this.#nextWriter++
    this.#writers.set(id, startTimeMs)
    const marker = join(this.base, WRITERS_DIR, `${process.pid}-${id}`)
    try {
      mkdirSync(join(this.base, WRITERS_DIR), { recursive: true })
      writeFileSync(marker, String(startTimeMs), { flag: 'wx' })
    } catch {
      // read-only or foreign datastore: the in-process record still protects our chunks
    }
    return () => {
      this.#writers.delete(id)
      try {
        unlinkSync(marker)
      } catch {
        // already gone
      }
    }
  }

  /** Start time (ms) of the oldest writer registered in this process, if any. */
  oldestWriterStart(): number | undefined {
    let min: number | undefined
    for (const t of this.#writers.values()) if (min === undefined || t < min) min = t
    return min
  }

  /**
   * Start time (ms) of the oldest writer of any live process (markers of dead processes are
   * removed), if any.
   */
  async oldestWriterStartAll(): Promise<number | undefined> {
    let min = this.oldestWriterStart()
    const dir = join(this.base, WRITERS_DIR)
    let names: string[] = []
    try {
      names = await readdir(dir)
    } catch {
      return min
    }
    for (const name of names) {
      const m = /^([0-9]+)-[0-9]+$/.exec(name)
      if (!m) continue
      const pid = Number(m[1])
      if (pid === process.pid) continue
      if (!processAlive(pid)) {
        await unlink(join(dir, name)).catch(() => {})
        continue
      }
      const t = Number(await readFile(join(dir, name), 'utf8').catch(() => 'NaN'))
      if (Number.isFinite(t) && (min === undefined || t < min)) min = t
    }
    return min
  }

  /** Removes the whole chunk directory tree (tests / datastore removal). */
  async destroy(): Promise<void> {
    await rm(this.chunkDir, { recursive: true, force: true })
  }
}

/** Directory (in the datastore root) of cross-process writer markers. */
export const WRITERS_DIR = '.writers'

/** True if a process with this pid exists. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM'
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

async function readHead(path: string): Promise<Uint8Array> {
  const fh = await open(path, 'r')
  try {
    const buf = new Uint8Array(8)
    const { bytesRead } = await fh.read(buf, 0, 8, 0)
    return buf.subarray(0, bytesRead)
  } catch (err) {
    throw ioError(`unable to read ${path}`, err)
  } finally {
    await fh.close()
  }
}

/** atime = now, mtime kept (Node has no UTIME_OMIT, so the current mtime is passed back). */
export async function touchPath(path: string): Promise<boolean> {
  try {
    const st = await stat(path, { bigint: true })
    const mtime = Number(st.mtimeNs) / 1e9
    // Node hands libuv a double of seconds that it truncates to microseconds: aim at the middle of
    // the current millisecond so the stored atime is never below a Date.now() taken earlier.
    await utimes(path, (Date.now() + 0.5) / 1000, mtime)
    return true
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return false
    throw ioError(`unable to touch ${path}`, err)
  }
}

async function removePath(path: string): Promise<boolean> {
  try {
    await unlink(path)
    return true
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return false
    throw ioError(`unable to remove ${path}`, err)
  }
}
