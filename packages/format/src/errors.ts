/**
 * Every error code the @pxar packages throw. Callers branch on `err.code`
 * (not `instanceof`, which breaks when a package is installed twice).
 * Codes are grouped by the package that throws them; add new ones to the matching group.
 */
export const PXAR_ERROR_CODES = [
  // archive format / codec
  'ERR_PXAR_TRUNCATED',
  'ERR_PXAR_BAD_HEADER',
  'ERR_PXAR_UNKNOWN_ITEM',
  'ERR_PXAR_SIZE',
  'ERR_PXAR_BAD_NAME',
  'ERR_PXAR_BAD_GOODBYE',
  'ERR_PXAR_TRAILING_DATA',
  'ERR_PXAR_INVALID_DATA',
  'ERR_PXAR_UNSUPPORTED',
  'ERR_PXAR_NOT_FOUND',
  'ERR_PXAR_ENCODER_STATE',
  'ERR_PXAR_ENCODER_INVALID',
  'ERR_PXAR_IO',
  // chunker
  'ERR_CHUNKER_CONFIG',
  // datastore: blobs
  'ERR_BLOB_MAGIC',
  'ERR_BLOB_CRC',
  'ERR_BLOB_TOO_LARGE',
  'ERR_BLOB_TRUNCATED',
  'ERR_BLOB_DECRYPT',
  'ERR_BLOB_NO_KEY',
  'ERR_BLOB_DECOMPRESS',
  // datastore: keys and crypto
  'ERR_KEY_FORMAT',
  'ERR_KEY_PASSWORD',
  'ERR_KEY_FINGERPRINT',
  'ERR_KEY_KDF',
  // datastore: indexes
  'ERR_INDEX_MAGIC',
  'ERR_INDEX_FORMAT',
  'ERR_INDEX_CSUM',
  'ERR_INDEX_EMPTY',
  'ERR_INDEX_RANGE',
  // datastore: chunk store
  'ERR_CHUNK_MISSING',
  'ERR_CHUNK_DIGEST',
  'ERR_STORE_IO',
  'ERR_STORE_LAYOUT',
  // datastore: catalog
  'ERR_CATALOG_MAGIC',
  'ERR_CATALOG_FORMAT',
  // datastore: manifest
  'ERR_MANIFEST_FORMAT',
  'ERR_MANIFEST_SIGNATURE',
  'ERR_MANIFEST_FINGERPRINT',
  // datastore: snapshots, prune, gc, verify
  'ERR_SNAPSHOT_NOT_FOUND',
  'ERR_SNAPSHOT_EXISTS',
  'ERR_SNAPSHOT_PROTECTED',
  'ERR_SNAPSHOT_LOCKED',
  'ERR_SNAPSHOT_INVALID',
  'ERR_VERIFY_FAILED',
  // pbs-client / server: network protocols
  'ERR_PBS_HTTP',
  'ERR_PBS_AUTH',
  'ERR_PBS_CERT',
  'ERR_PBS_PROTOCOL',
  'ERR_PBS_REPOSITORY',
  // fuse: mounting archives
  'ERR_FUSE_UNAVAILABLE',
  'ERR_FUSE_MOUNT',
  // proxy: restoring archives to disk
  'ERR_RESTORE_UNSAFE',
  'ERR_RESTORE_EXISTS',
  'ERR_RESTORE_IO',
] as const

/** A code from {@link PXAR_ERROR_CODES}. */
export type PxarErrorCode = (typeof PXAR_ERROR_CODES)[number]

/**
 * Base class of every error the @pxar packages throw for bad data or failed operations.
 * Bad arguments throw `TypeError`/`RangeError` instead.
 */
export class PxarError extends Error {
  override name = 'PxarError'
  readonly code: PxarErrorCode
  constructor(code: PxarErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}

/** A malformed byte stream; `offset` is the absolute byte position of the problem, when known. */
export class PxarFormatError extends PxarError {
  override name = 'PxarFormatError'
  readonly offset: number | undefined
  constructor(code: PxarErrorCode, message: string, offset?: number, options?: ErrorOptions) {
    super(code, offset === undefined ? message : `${message} (at byte ${offset})`, options)
    this.offset = offset
  }
}

/** True when `err` is a {@link PxarError} (checked by shape, so it works across package copies). */
export function isPxarError(err: unknown): err is PxarError {
  if (!(err instanceof Error)) return false
  const code: unknown = (err as Error & { code?: unknown }).code
  return typeof code === 'string' && (PXAR_ERROR_CODES as readonly string[]).includes(code)
}
