/**
 * Byte sources an archive is mounted from: a local `.pxar` file, a split `.mpxar` + `.ppxar`
 * pair, an archive of a local datastore snapshot, an archive of a snapshot on a Proxmox Backup
 * Server (a reader session), or any {@link ReadAt}.
 */
import { open } from 'node:fs/promises'
import { type Accessor, openAccessor, type ReadAt } from '@pxar/codec'
import {
  type BackupDir,
  type BlobKey,
  type ChunkIndex,
  type ChunkSource,
  Datastore,
  type DynamicIndex,
  type ManifestFile,
  readDynamicIndexFile,
  toCryptConfig,
} from '@pxar/datastore'
import { PxarError } from '@pxar/format'
import { BlockCacheReadAt } from './block-cache.ts'
import { DecodePool } from './decode-pool.ts'
import { type ChunkLocation, PooledIndexReadAt } from './pooled-reader.ts'

/** A `.pxar` file (v1 archive, or the metadata stream of a split archive with `payload`). */
export interface PxarFileSource {
  readonly kind: 'pxar'
  readonly path: string
}

/** A split archive: `.mpxar` metadata plus `.ppxar` payload (default: beside it, same stem). */
export interface SplitFileSource {
  readonly kind: 'split'
  readonly metadata: string
  readonly payload?: string | undefined
}

/** An archive inside a snapshot of a local datastore. */
export interface DatastoreSource {
  readonly kind: 'datastore'
  /** Datastore directory (or an opened {@link Datastore}). */
  readonly store: string | Datastore
  readonly snapshot: BackupDir
  /**
   * Archive name as in the manifest or without `.didx`: `root.pxar(.didx)` for a v1 archive,
   * `root.mpxar(.didx)` for a split one (its `root.ppxar.didx` is opened too).
   */
  readonly archive: string
  /** Key (CryptConfig or raw 32 bytes) for an encrypted snapshot. */
  readonly crypt?: BlobKey | undefined
  /** Decoded chunks cached per index (default 16, i.e. about 64 MiB with 4 MiB chunks). */
  readonly cacheChunks?: number | undefined
  /** Chunks fetched ahead of sequential reads (default 4). */
  readonly readAhead?: number | undefined
}

/**
 * What a {@link PbsSource} needs of a reader session: `PbsReader` of `@pxar/pbs-client` fits
 * (indexes checked against the manifest, chunks fetched in parallel through its LRU cache).
 */
export interface PbsArchiveReader {
  /** Downloads an index of the snapshot, checked against the manifest. */
  openIndex(name: string): Promise<{ readonly index: ChunkIndex; readonly file: ManifestFile }>
  /** Encoded chunks of the session (checked for the crypt mode). */
  chunkSource(encrypted: boolean): ChunkSource
  /** Ends the session. */
  close(): Promise<void>
}

/** An archive of a snapshot on a Proxmox Backup Server, read over a reader session. */
export interface PbsSource {
  readonly kind: 'pbs'
  /** An open reader session on the snapshot (e.g. `await PbsReader.open(client, store, snapshot)`). */
  readonly reader: PbsArchiveReader
  /**
   * Archive name as in the manifest or without `.didx`: `root.pxar(.didx)`, or
   * `root.mpxar(.didx)` (its `root.ppxar.didx` is opened too).
   */
  readonly archive: string
  /** Key of an encrypted archive (the one the reader session was opened with). */
  readonly crypt?: BlobKey | undefined
  /** Decoded chunks cached per index (default 16). */
  readonly cacheChunks?: number | undefined
  /** Chunks fetched ahead of sequential reads (default 8: they come over the network). */
  readonly readAhead?: number | undefined
  /** Close the reader session on unmount (default true). */
  readonly closeReader?: boolean | undefined
}

/** Any random-access sources, e.g. a PBS reader session's chunked readers. */
export interface ReadAtSource {
  readonly kind: 'readAt'
  readonly archive: ReadAt
  /** Payload of a split archive. */
  readonly payload?: ReadAt | undefined
  /** Called on unmount. */
  readonly close?: (() => Promise<void>) | undefined
}

/** What {@link openSource} accepts. */
export type MountSource = PxarFileSource | SplitFileSource | DatastoreSource | PbsSource | ReadAtSource

/** An opened source: the accessor over it and how to release it. */
export interface OpenedSource {
  readonly accessor: Accessor
  /** A short description (for `fsname` and messages). */
  readonly name: string
  close(): Promise<void>
}

/**
 * A {@link ReadAt} over a local file and its closer.
 * @throws {PxarError} `ERR_PXAR_IO` when the file cannot be opened.
 */
export async function fileReadAt(path: string): Promise<ReadAt & { close(): Promise<void> }> {
  let fh: Awaited<ReturnType<typeof open>>
  try {
    fh = await open(path, 'r')
  } catch (err) {
    throw new PxarError('ERR_PXAR_IO', `cannot open ${path}: ${(err as Error).message}`, { cause: err })
  }
  const { size } = await fh.stat()
  return {
    size,
    async read(buf: Uint8Array, position: number): Promise<number> {
      if (position >= size) return 0
      return (await fh.read(buf, 0, Math.min(buf.length, size - position), position)).bytesRead
    },
    close: () => fh.close(),
  }
}

/** Chunk reading options shared by the datastore and PBS sources. */
interface ChunkedOptions {
  readonly cacheChunks?: number | undefined
  readonly readAhead?: number | undefined
}

/** Decode workers for a source (with the raw key of an encrypted snapshot). */
function decodePool(crypt: BlobKey | undefined): DecodePool {
  return new DecodePool(crypt === undefined ? {} : { key: toCryptConfig(crypt).encKey })
}

/**
 * A read-ahead reader over an index: chunks are read, decoded and verified (CRC, decryption,
 * digest) in worker threads; the main thread only copies bytes.
 */
function chunkedReadAt(
  index: ChunkIndex,
  pool: DecodePool,
  locate: (digest: Uint8Array) => ChunkLocation | Promise<ChunkLocation>,
  options: ChunkedOptions,
  defaultAhead: number,
): ReadAt {
  return new PooledIndexReadAt(index, {
    pool,
    locate,
    readAhead: options.readAhead ?? defaultAhead,
    ...(options.cacheChunks === undefined ? {} : { cacheChunks: options.cacheChunks }),
  })
}

async function indexReader(
  ds: Datastore,
  dir: string,
  name: string,
  source: DatastoreSource,
  pool: DecodePool,
): Promise<ReadAt> {
  let index: DynamicIndex
  try {
    index = await readDynamicIndexFile(`${dir}/${name}`)
  } catch (err) {
    if (
      (err as { cause?: { code?: string } }).cause?.code === 'ENOENT' ||
      (err as { code?: string }).code === 'ENOENT'
    ) {
      throw new PxarError('ERR_SNAPSHOT_NOT_FOUND', `archive ${name} not found in the snapshot`, {
        cause: err,
      })
    }
    throw err
  }
  const store = ds.chunkStore
  return chunkedReadAt(index, pool, (digest) => ({ path: store.chunkPath(digest) }), source, 4)
}

async function pbsReader(source: PbsSource, name: string, pool: DecodePool): Promise<ReadAt> {
  const { index, file } = await source.reader.openIndex(name)
  const encrypted = file.cryptMode === 'encrypt'
  if (encrypted && source.crypt === undefined) {
    throw new PxarError('ERR_BLOB_NO_KEY', `archive ${name} is encrypted: a key is needed`)
  }
  const chunks = source.reader.chunkSource(encrypted)
  return chunkedReadAt(index, pool, async (digest) => ({ blob: await chunks.read(digest) }), source, 8)
}

/** The archive's base name without `.didx`; a payload name is mapped to its metadata archive. */
function archiveBase(archive: string): string {
  return archive.replace(/\.didx$/, '').replace(/\.ppxar$/, '.mpxar')
}

/**
 * Opens a source and an accessor over it.
 * @throws {PxarError} `ERR_PXAR_IO` (files), `ERR_SNAPSHOT_NOT_FOUND` (datastore), format errors
 *   when the archive is not a valid pxar archive.
 */
export async function openSource(source: MountSource): Promise<OpenedSource> {
  switch (source.kind) {
    case 'pxar': {
      const f = await fileReadAt(source.path)
      try {
        return {
          accessor: await openAccessor(new BlockCacheReadAt(f)),
          name: source.path,
          close: () => f.close(),
        }
      } catch (err) {
        await f.close()
        throw err
      }
    }
    case 'split': {
      const payloadPath = source.payload ?? source.metadata.replace(/\.mpxar$/, '.ppxar')
      if (payloadPath === source.metadata) throw new TypeError('cannot derive the payload path; pass payload')
      const m = await fileReadAt(source.metadata)
      let p: Awaited<ReturnType<typeof fileReadAt>> | undefined
      try {
        p = await fileReadAt(payloadPath)
        const accessor = await openAccessor(new BlockCacheReadAt(m), { payload: p })
        const pp = p
        return {
          accessor,
          name: source.metadata,
          close: async () => {
            await m.close()
            await pp.close()
          },
        }
      } catch (err) {
        await m.close()
        await p?.close()
        throw err
      }
    }
    case 'datastore': {
      const ds = typeof source.store === 'string' ? await Datastore.open(source.store) : source.store
      const dir = ds.snapshotDir(source.snapshot)
      const base = archiveBase(source.archive)
      const pool = decodePool(source.crypt)
      try {
        const archive = await indexReader(ds, dir, `${base}.didx`, source, pool)
        let payload: ReadAt | undefined
        if (base.endsWith('.mpxar')) {
          payload = await indexReader(ds, dir, `${base.slice(0, -'.mpxar'.length)}.ppxar.didx`, source, pool)
        }
        const accessor = await openAccessor(archive, { payload })
        return { accessor, name: `${dir}/${base}`, close: () => pool.close() }
      } catch (err) {
        await pool.close()
        throw err
      }
    }
    case 'pbs': {
      const base = archiveBase(source.archive)
      const pool = decodePool(source.crypt)
      const close = async (): Promise<void> => {
        await pool.close()
        if (source.closeReader !== false) await source.reader.close()
      }
      try {
        const archive = await pbsReader(source, `${base}.didx`, pool)
        let payload: ReadAt | undefined
        if (base.endsWith('.mpxar')) {
          payload = await pbsReader(source, `${base.slice(0, -'.mpxar'.length)}.ppxar.didx`, pool)
        }
        const accessor = await openAccessor(archive, { payload })
        return { accessor, name: `pbs:${base}`, close }
      } catch (err) {
        await close().catch(() => {})
        throw err
      }
    }
    case 'readAt': {
      const accessor = await openAccessor(source.archive, { payload: source.payload })
      return { accessor, name: 'pxar', close: source.close ?? (async () => {}) }
    }
  }
}
