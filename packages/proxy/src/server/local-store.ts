/**
 * {@link RemoteStore} over a local datastore directory (PBS layout, `@pxar/datastore`): a new
 * snapshot directory per backup, finished (visible) only when the manifest is stored.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  type BackupDir,
  Datastore,
  DynamicIndex,
  DynamicIndexFileWriter,
  decodeBlob,
  FixedIndex,
  FixedIndexWriter,
  MANIFEST_BLOB_NAME,
  parseManifest,
  type SnapshotInfo,
  type SnapshotWriter,
} from '@pxar/datastore'
import { PxarError } from '@pxar/format'
import type { BackupSession, BeginBackupOptions, IndexUpload, RemoteStore, SnapshotRef } from './store.ts'

const hex = (d: Uint8Array): string => Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('hex')

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b)
}

/** A {@link RemoteStore} writing into a local PBS-layout datastore. */
export class LocalStore implements RemoteStore {
  readonly datastore: Datastore

  constructor(datastore: Datastore) {
    this.datastore = datastore
  }

  /** Opens a datastore directory, creating it (with lazily created chunk dirs) when missing. */
  static async open(path: string, options: { create?: boolean } = {}): Promise<LocalStore> {
    try {
      return new LocalStore(await Datastore.open(path))
    } catch (err) {
      if (!options.create || !(err instanceof PxarError)) throw err
      return new LocalStore(await Datastore.create(path, { prefixDirs: 'lazy' }))
    }
  }

  async beginBackup(options: BeginBackupOptions): Promise<BackupSession> {
    const s = options.snapshot
    const dir: BackupDir = { ns: [...s.ns], type: s.type, id: s.id, time: s.time }
    // The writer holds the group lock and knows the base snapshot (the newest finished one,
    // unless it failed verification), which stays protected from pruning while it is open.
    const writer = await this.datastore.beginSnapshot(
      dir,
      options.owner === undefined ? {} : { owner: options.owner },
    )
    return new LocalSession(this.datastore, s, writer, writer.previous)
  }
}

class LocalSession implements BackupSession {
  readonly snapshot: SnapshotRef
  readonly #ds: Datastore
  readonly #writer: SnapshotWriter
  readonly #previous: SnapshotInfo | undefined
  /** Digests (hex) known to this session: uploaded or registered from a previous index. */
  readonly #known = new Set<string>()
  readonly #open = new Set<{ abort(): Promise<void> }>()
  #manifest: Uint8Array | undefined
  #done = false

  constructor(
    ds: Datastore,
    snapshot: SnapshotRef,
    writer: SnapshotWriter,
    previous: SnapshotInfo | undefined,
  ) {
    this.#ds = ds
    this.snapshot = snapshot
    this.#writer = writer
    this.#previous = previous
  }

  async previousBackupTime(): Promise<number | undefined> {
    return this.#previous?.time
  }

  async downloadPrevious(name: string): Promise<Uint8Array | undefined> {
    if (!this.#previous || !/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(name)) return undefined
    let bytes: Uint8Array
    try {
      bytes = await readFile(join(this.#previous.path, name))
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return undefined
      throw new PxarError('ERR_STORE_IO', `cannot read previous ${name}`, { cause: err })
    }
    if (name.endsWith('.didx') || name.endsWith('.fidx')) {
      const index = name.endsWith('.didx') ? DynamicIndex.parse(bytes) : FixedIndex.parse(bytes)
      for (let i = 0; i < index.count; i++) this.#known.add(hex(index.digest(i)))
    }
    return bytes
  }

  readChunk(digest: Uint8Array): Promise<Uint8Array> {
    return this.#ds.chunkStore.read(digest)
  }

  async hasChunk(digest: Uint8Array): Promise<boolean> {
    const key = hex(digest)
    if (this.#known.has(key)) return true
    if (await this.#ds.chunkStore.touch(digest)) {
      this.#known.add(key)
      return true
    }
    return false
  }

  #checkKnown(digest: Uint8Array): void {
    if (!this.#known.has(hex(digest))) throw new PxarError('ERR_STORE_IO', `no such chunk ${hex(digest)}`)
  }

  async #upload(digest: Uint8Array, blob: Uint8Array): Promise<void> {
    await this.#ds.chunkStore.insert(digest, blob)
    this.#known.add(hex(digest))
  }

  async createDynamicIndex(name: string): Promise<IndexUpload> {
    if (!name.endsWith('.didx'))
      throw new PxarError('ERR_SNAPSHOT_INVALID', `bad dynamic index name '${name}'`)
    const file = await DynamicIndexFileWriter.create(this.#writer.filePath(name))
    this.#open.add(file)
    /** The last appended chunk: its end is the next chunk's start (or the closing size). */
    let pending: Uint8Array | undefined
    let pendingStart = 0
    let closed = false
    return {
      uploadChunk: (digest, _size, blob) => this.#upload(digest, blob),
      append: async (digests, offsets) => {
        if (closed) throw new PxarError('ERR_STORE_IO', 'index writer already closed')
        if (digests.length !== offsets.length) throw new TypeError('digest and offset lists differ in length')
        for (let i = 0; i < digests.length; i++) {
          const d = digests[i] as Uint8Array
          const o = offsets[i] as number
          this.#checkKnown(d)
          if (pending) {
            if (o <= pendingStart) throw new PxarError('ERR_STORE_IO', 'got strange chunk offset')
            file.add(o, pending)
          } else if (o !== 0) throw new PxarError('ERR_STORE_IO', 'got strange chunk offset')
          pending = d
          pendingStart = o
        }
      },
      close: async ({ chunkCount, size, csum }) => {
        closed = true
        if (pending) file.add(size, pending)
        this.#open.delete(file)
        const summary = await file.close()
        if (summary.count !== chunkCount || summary.size !== size || !sameBytes(summary.csum, csum)) {
          throw new PxarError('ERR_INDEX_CSUM', `dynamic index ${name} does not match its summary`)
        }
        await this.#writer.addIndex(name, summary)
      },
    }
  }

  async createFixedIndex(name: string, size: number, chunkSize?: number): Promise<IndexUpload> {
    if (!name.endsWith('.fidx')) throw new PxarError('ERR_SNAPSHOT_INVALID', `bad fixed index name '${name}'`)
    const w = new FixedIndexWriter(chunkSize === undefined ? { size } : { size, chunkSize })
    let count = 0
    return {
      uploadChunk: (digest, _size, blob) => this.#upload(digest, blob),
      append: async (digests, offsets) => {
        for (let i = 0; i < digests.length; i++) {
          const d = digests[i] as Uint8Array
          const o = offsets[i] as number
          this.#checkKnown(d)
          if (o % w.chunkSize !== 0) throw new PxarError('ERR_STORE_IO', 'got strange chunk offset')
          w.setDigest(o / w.chunkSize, d)
          count++
        }
      },
      close: async ({ chunkCount, size: closeSize, csum }) => {
        const summary = await w.writeFile(this.#writer.filePath(name))
        if (count !== chunkCount || closeSize !== size || !sameBytes(summary.csum, csum)) {
          throw new PxarError('ERR_INDEX_CSUM', `fixed index ${name} does not match its summary`)
        }
        await this.#writer.addIndex(name, summary)
      },
    }
  }

  async uploadBlob(name: string, blob: Uint8Array): Promise<void> {
    if (name === MANIFEST_BLOB_NAME) {
      parseManifest(decodeBlob(blob))
      this.#manifest = blob
      return
    }
    await this.#writer.addBlob(name, blob)
  }

  async finish(): Promise<void> {
    if (this.#open.size > 0) throw new PxarError('ERR_SNAPSHOT_INVALID', 'found open index writer')
    if (!this.#manifest) throw new PxarError('ERR_SNAPSHOT_INVALID', 'manifest has not been uploaded')
    await this.#writer.finish({ manifest: parseManifest(decodeBlob(this.#manifest)) })
    this.#done = true
  }

  async abort(): Promise<void> {
    if (this.#done) return
    this.#done = true
    for (const f of this.#open) await f.abort().catch(() => {})
    this.#open.clear()
    await this.#writer.abort()
  }
}
