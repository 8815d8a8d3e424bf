/**
 * Garbage collection as PBS does it (`datastore.md` §12.1): mark every chunk referenced by any
 * `.fidx`/`.didx` below the datastore (atime := now), then sweep chunk files whose atime is
 * older than `min(gcStart − 24 h, oldest running writer) − 5 min`. Unlike PBS, temp files of
 * inserts that never completed (`<digest>.tmp_XXXXXX`) are removed once their mtime is older
 * than that cutoff.
 */
import { open, readdir, readFile, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { isPxarError, PxarError } from '@pxar/format'
import { ioError, writeFileAtomic } from './atomic-file.ts'
import { processAlive, touchPath } from './chunk-store.ts'
import { toHex } from './digest.ts'
import { DynamicIndex } from './dynamic-index.ts'
import { FixedIndex } from './fixed-index.ts'
import type { Datastore } from './snapshot.ts'

/** Result of a garbage collection (saved as `.gc-status` with kebab-case keys). */
export interface GcStatus {
  readonly indexFileCount: number
  /** Sum of the logical sizes of all indexes. */
  readonly indexDataBytes: number
  /** Chunk files kept. */
  readonly diskChunks: number
  readonly diskBytes: number
  readonly removedChunks: number
  readonly removedBytes: number
  /** Kept only because a writer older than them is still running. */
  readonly pendingChunks: number
  readonly pendingBytes: number
  readonly removedBad: number
  readonly stillBad: number
  /**
   * `<digest>.tmp_XXXXXX` leftovers of writers that died, removed because their mtime is older
   * than the cutoff (PBS leaves them; a running insert's temp file is always newer). Not part
   * of `.gc-status`.
   */
  readonly removedTemp: number
  /** The atime cutoff used, epoch ms. */
  readonly cutoffMs: number
}

/** Options of {@link garbageCollect}. */
export interface GcOptions {
  /** GC start time (phase 1), epoch ms; default now. */
  readonly now?: number
  /** Write `.gc-status`. Default true. */
  readonly writeStatus?: boolean
  /** Task id stored as `upid` in `.gc-status`. */
  readonly upid?: string
}

/** Safety margin of the sweep: 24 h (relatime) + 5 min. */
export const GC_GRACE_MS: number = (24 * 3600 + 300) * 1000

const running = new WeakSet<Datastore>()

/** Name of the cross-process GC lock file in the datastore root (skipped by the mark phase). */
export const GC_LOCK_NAME = '.gc-lock'

/**
 * Takes the datastore-wide GC lock: a file created exclusively with our pid (PBS uses an
 * exclusive fcntl lock on `.lock`, which Node cannot take). A lock left by a dead process is
 * taken over.
 */
async function acquireGcLock(base: string): Promise<() => Promise<void>> {
  const path = join(base, GC_LOCK_NAME)
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx')
      await fh.writeFile(String(process.pid))
      await fh.close()
      return () => unlink(path).catch(() => {})
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw ioError('unable to create the GC lock', err)
      const pid = Number(await readFile(path, 'utf8').catch(() => ''))
      if (Number.isSafeInteger(pid) && pid > 0 && processAlive(pid)) {
        throw new PxarError('ERR_SNAPSHOT_LOCKED', `garbage collection already running (pid ${pid})`)
      }
      await unlink(path).catch(() => {})
    }
  }
  throw new PxarError('ERR_SNAPSHOT_LOCKED', 'unable to take the GC lock')
}

/** Yields every `.fidx`/`.didx` file below `dir`, skipping names that start with `.`. */
async function* indexFiles(dir: string): AsyncGenerator<string> {
  let entries: import('node:fs').Dirent[]
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === 'ENOENT' || code === 'EACCES') return
    throw ioError(`unable to list ${dir}`, err)
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : 1))
  for (const e of entries) {
    if (e.name.startsWith('.')) continue
    const path = join(dir, e.name)
    if (e.isDirectory()) yield* indexFiles(path)
    else if (e.isFile() && /\.[fd]idx$/.test(e.name)) yield path
  }
}

/**
 * Reads the digests and logical size of an index file (by extension, as PBS does).
 * Returns undefined if the file vanished meanwhile.
 */
export async function readIndexDigests(
  path: string,
): Promise<{ digests: Uint8Array[]; size: number } | undefined> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return undefined
    throw ioError(`unable to read ${path}`, err)
  }
  const digests: Uint8Array[] = []
  let idx: DynamicIndex | FixedIndex
  try {
    idx = path.endsWith('.didx') ? DynamicIndex.parse(bytes) : FixedIndex.parse(bytes)
  } catch (err) {
    // name the damaged file: the whole run stops on it (as in PBS)
    if (isPxarError(err)) throw new PxarError(err.code, `${path}: ${err.message}`, { cause: err })
    throw err
  }
  for (let i = 0; i < idx.count; i++) digests.push(idx.digest(i))
  return { digests, size: idx.size }
}

/**
 * Runs garbage collection on a datastore.
 *
 * @throws PxarError `ERR_SNAPSHOT_LOCKED` if a GC is already running (this or another process);
 *   index parse errors (`ERR_INDEX_*`) abort the run, as in PBS; `ERR_STORE_IO`.
 */
export async function garbageCollect(ds: Datastore, options: GcOptions = {}): Promise<GcStatus> {
  if (running.has(ds)) throw new PxarError('ERR_SNAPSHOT_LOCKED', 'garbage collection already running')
  running.add(ds)
  let unlock: (() => Promise<void>) | undefined
  try {
    unlock = await acquireGcLock(ds.base)
    const store = ds.chunkStore
    const start = options.now ?? Date.now()
    // like PBS, the oldest writer is determined before the mark phase starts
    const oldestWriter = Math.min((await store.oldestWriterStartAll()) ?? start, start)
    // phase 1: mark
    let indexFileCount = 0
    let indexDataBytes = 0
    const touched = new Set<string>()
    for await (const file of indexFiles(ds.base)) {
      const idx = await readIndexDigests(file)
      if (!idx) continue
      indexFileCount++
      indexDataBytes += idx.size
      for (const d of idx.digests) {
        const hex = toHex(d)
        if (touched.has(hex)) continue
        touched.add(hex)
        if (!(await store.touch(hex))) {
          for (let n = 0; n < 10; n++) await touchPath(store.badChunkPath(hex, n))
        }
      }
    }
    // phase 2: sweep
    const cutoffMs = Math.min(start - 86400_000, oldestWriter) - 300_000
    let diskChunks = 0
    let diskBytes = 0
    let removedChunks = 0
    let removedBytes = 0
    let pendingChunks = 0
    let pendingBytes = 0
    let removedBad = 0
    let stillBad = 0
    let removedTemp = 0
    for await (const e of store.listChunks({ temp: true })) {
      let st: import('node:fs').Stats
      try {
        st = await stat(e.path)
      } catch (err) {
        if ((err as { code?: string }).code === 'ENOENT') continue
        throw ioError(`unable to stat ${e.path}`, err)
      }
      if (!st.isFile()) continue
      if (e.temp) {
        if (st.mtimeMs < cutoffMs) {
          await unlink(e.path).catch((err: { code?: string }) => {
            if (err.code !== 'ENOENT') throw ioError(`unable to remove ${e.path}`, err)
          })
          removedTemp++
        }
        continue
      }
      if (st.atimeMs < cutoffMs) {
        try {
          await unlink(e.path)
        } catch (err) {
          if ((err as { code?: string }).code !== 'ENOENT') throw ioError(`unable to remove ${e.path}`, err)
        }
        if (e.bad !== undefined) removedBad++
        else {
          removedChunks++
          removedBytes += st.size
        }
        continue
      }
      if (e.bad !== undefined) {
        stillBad++
        continue
      }
      if (st.atimeMs < oldestWriter) {
        pendingChunks++
        pendingBytes += st.size
      } else {
        diskChunks++
        diskBytes += st.size
      }
    }
    const status: GcStatus = {
      indexFileCount,
      indexDataBytes,
      diskChunks,
      diskBytes,
      removedChunks,
      removedBytes,
      pendingChunks,
      pendingBytes,
      removedBad,
      stillBad,
      removedTemp,
      cutoffMs,
    }
    if (options.writeStatus !== false) {
      const json = {
        ...(options.upid !== undefined ? { upid: options.upid } : {}),
        'index-file-count': indexFileCount,
        'index-data-bytes': indexDataBytes,
        'disk-bytes': diskBytes,
        'disk-chunks': diskChunks,
        'removed-bytes': removedBytes,
        'removed-chunks': removedChunks,
        'pending-bytes': pendingBytes,
        'pending-chunks': pendingChunks,
        'removed-bad': removedBad,
        'still-bad': stillBad,
      }
      await writeFileAtomic(join(ds.base, '.gc-status'), JSON.stringify(json))
    }
    return status
  } finally {
    await unlock?.()
    running.delete(ds)
  }
}
