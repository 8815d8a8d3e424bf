/**
 * Snapshot verification as PBS does it (`src/backup/verify.rs`, `datastore.md` §12.2):
 * blobs are checked against the manifest (size, SHA-256, CRC, decodable); indexes against the
 * manifest (`csum`, `size`), then every referenced chunk is loaded, its CRC and crypt mode
 * checked and, when unencrypted (or a key is given), decoded and compared with its digest and
 * length. Corrupt chunks can be quarantined as `<digest>.<n>.bad`.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isPxarError, PxarError } from '@pxar/format'
import { type BackupDir, snapshotPath } from './backup-dir.ts'
import { type BlobKey, decodeBlob, inspectBlob } from './blob.ts'
import { toHex } from './digest.ts'
import { DynamicIndex } from './dynamic-index.ts'
import { FixedIndex } from './fixed-index.ts'
import { chunkCryptMode, type ManifestKey } from './manifest.ts'
import type { Datastore } from './snapshot.ts'

/** One problem found by {@link verifySnapshot}. */
export interface VerifyError {
  /** Archive file name (or `index.json.blob`). */
  readonly file: string
  /** Hex digest of the damaged chunk, for chunk errors. */
  readonly chunk?: string
  /** Error code (`ERR_*`) and message. */
  readonly code: string
  readonly message: string
}

/** Result of {@link verifySnapshot}. */
export interface VerifyResult {
  /** Snapshot path `type/id/time` (with `ns/...` prefix if any). */
  readonly snapshot: string
  readonly ok: boolean
  readonly errors: readonly VerifyError[]
  /** Hex digests of chunks found damaged or missing. */
  readonly damagedChunks: readonly string[]
  /** Number of distinct chunks checked. */
  readonly chunksChecked: number
}

/** Options of {@link verifySnapshot}. */
export interface VerifyOptions {
  /** Key to decrypt and digest-check encrypted chunks (the server has none). */
  readonly key?: BlobKey & ManifestKey
  /** Rename corrupt chunks to `<digest>.<n>.bad`. Default false. */
  readonly quarantine?: boolean
  /** Store `verify_state` in the manifest's `unprotected`. Default false. */
  readonly updateManifest?: boolean
  /** Task id for `verify_state.upid`. */
  readonly upid?: string
  /** Chunks already verified (ok) by earlier calls; updated in place. */
  readonly verified?: Set<string>
  /** Chunks known to be corrupt; updated in place. */
  readonly corrupt?: Set<string>
}

function describe(err: unknown): { code: string; message: string } {
  if (isPxarError(err)) return { code: err.code, message: err.message }
  return { code: 'ERR_VERIFY_FAILED', message: err instanceof Error ? err.message : String(err) }
}

/**
 * Verifies one snapshot. Never throws for damaged data (that is reported); throws only if the
 * snapshot or its manifest cannot be read.
 *
 * @throws PxarError `ERR_SNAPSHOT_NOT_FOUND`, `ERR_BLOB_*` / `ERR_MANIFEST_*` for the manifest.
 */
export async function verifySnapshot(
  ds: Datastore,
  dir: BackupDir,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const manifest = await ds.readManifest(dir)
  const base = ds.snapshotDir(dir)
  const errors: VerifyError[] = []
  const damaged = new Set<string>()
  const verified = options.verified ?? new Set<string>()
  const corrupt = options.corrupt ?? new Set<string>()
  let checked = 0
  const store = ds.chunkStore

  for (const file of manifest.files) {
    const path = join(base, file.filename)
    try {
      const bytes = await readFile(path).catch((err) => {
        throw (err as { code?: string }).code === 'ENOENT'
          ? new PxarError('ERR_VERIFY_FAILED', `file ${file.filename} is missing`)
          : err
      })
      if (file.filename.endsWith('.blob')) {
        if (bytes.length !== file.size)
          throw new PxarError('ERR_VERIFY_FAILED', 'blob size differs from manifest')
        if (createHash('sha256').update(bytes).digest('hex') !== file.csum) {
          throw new PxarError('ERR_VERIFY_FAILED', 'blob checksum differs from manifest')
        }
        const info = inspectBlob(bytes)
        if (info.crc !== info.computedCrc) throw new PxarError('ERR_BLOB_CRC', 'blob has wrong CRC checksum')
        if (!info.encrypted) decodeBlob(bytes)
        continue
      }
      const idx = file.filename.endsWith('.didx') ? DynamicIndex.parse(bytes) : FixedIndex.parse(bytes)
      const { csum, size } = idx.computeCsum()
      if (toHex(csum) !== file.csum || size !== file.size) {
        throw new PxarError('ERR_INDEX_CSUM', 'index checksum/size differs from manifest')
      }
      const wantEncrypted = chunkCryptMode(file.cryptMode) === 'encrypt'
      for (let i = 0; i < idx.count; i++) {
        const digest = idx.digest(i)
        const hex = toHex(digest)
        if (verified.has(hex)) continue
        if (corrupt.has(hex)) {
          damaged.add(hex)
          errors.push({
            file: file.filename,
            chunk: hex,
            code: 'ERR_VERIFY_FAILED',
            message: 'chunk known to be corrupt',
          })
          continue
        }
        const expectedLen =
          idx instanceof DynamicIndex
            ? idx.end(i) - idx.start(i)
            : idx.chunkRange(i).end - idx.chunkRange(i).start
        checked++
        try {
          const blob = await store.read(hex)
          const info = inspectBlob(blob)
          if (info.crc !== info.computedCrc)
            throw new PxarError('ERR_BLOB_CRC', 'chunk has wrong CRC checksum')
          if (info.encrypted !== wantEncrypted) {
            throw new PxarError(
              'ERR_VERIFY_FAILED',
              `chunk crypt mode does not match index (${file.cryptMode})`,
            )
          }
          if (!info.encrypted || options.key) {
            const data = decodeBlob(blob, { digest, ...(options.key ? { crypt: options.key } : {}) })
            if (data.length !== expectedLen) {
              throw new PxarError('ERR_VERIFY_FAILED', `chunk size ${data.length} != ${expectedLen}`)
            }
          }
          verified.add(hex)
        } catch (err) {
          const d = describe(err)
          errors.push({ file: file.filename, chunk: hex, ...d })
          damaged.add(hex)
          corrupt.add(hex)
          if (options.quarantine && d.code !== 'ERR_CHUNK_MISSING') await store.renameCorrupt(hex)
        }
      }
    } catch (err) {
      errors.push({ file: file.filename, ...describe(err) })
    }
  }
  const ok = errors.length === 0
  if (options.updateManifest) {
    await ds.updateManifest(dir, (u) => ({
      ...u,
      verify_state: { upid: options.upid ?? '', state: ok ? 'ok' : 'failed' },
    }))
  }
  return { snapshot: snapshotPath(dir), ok, errors, damagedChunks: [...damaged], chunksChecked: checked }
}

/** Result of {@link verifyDatastore}. */
export interface VerifyDatastoreResult {
  readonly snapshots: readonly VerifyResult[]
  /** Snapshot paths that failed verification. */
  readonly failed: readonly string[]
}

/**
 * Verifies every finished snapshot of every group in the given namespaces (default: all,
 * recursively), sharing the verified/corrupt chunk sets so each chunk is read once.
 */
export async function verifyDatastore(
  ds: Datastore,
  options: Omit<VerifyOptions, 'verified' | 'corrupt'> & { namespaces?: readonly (readonly string[])[] } = {},
): Promise<VerifyDatastoreResult> {
  const verified = new Set<string>()
  const corrupt = new Set<string>()
  const namespaces: (readonly string[])[] = []
  if (options.namespaces) namespaces.push(...options.namespaces)
  else {
    const queue: (readonly string[])[] = [[]]
    while (queue.length > 0) {
      const ns = queue.shift()!
      namespaces.push(ns)
      queue.push(...(await ds.listNamespaces(ns)))
    }
  }
  const snapshots: VerifyResult[] = []
  for (const ns of namespaces) {
    for (const g of await ds.listGroups(ns)) {
      for (const s of await ds.listSnapshots(g)) {
        snapshots.push(await verifySnapshot(ds, s.dir, { ...options, verified, corrupt }))
      }
    }
  }
  return { snapshots, failed: snapshots.filter((r) => !r.ok).map((r) => r.snapshot) }
}
