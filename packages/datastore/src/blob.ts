/**
 * DataBlob encoding and decoding (upstream `pbs-datastore/src/data_blob.rs`): the container of
 * every chunk and `.blob` file.
 *
 * ```
 * unencrypted: magic(8) crc32(4, LE)                      payload      (header 12 bytes)
 * encrypted:   magic(8) crc32(4, LE) iv(16) gcm-tag(16)   ciphertext   (header 44 bytes)
 * ```
 * The CRC covers only the bytes after the header. Compression (zstd level 1) happens before
 * encryption and is kept only when it makes the payload strictly smaller.
 *
 * Both directions are pure synchronous functions over bytes, usable from worker threads: pass
 * the raw 32-byte key as `crypt` there instead of a {@link CryptConfig}.
 */
import { PxarError, PxarFormatError } from '@pxar/format'
import { crc32 } from './crc32.ts'
import { CRYPT_IV_SIZE, CRYPT_TAG_SIZE, CryptConfig } from './crypt-config.ts'
import { bytesEqual, sha256, toBytes, toHex } from './digest.ts'
import { zstd } from './zstd.ts'

/** The four blob kinds, named as the vectors and `pbs-oracle` name them. */
export type BlobKind = 'uncompressed' | 'compressed' | 'encrypted' | 'encrypted-compressed'

/** Magic numbers (first 8 bytes of SHA-256 of "Proxmox Backup … blob v1.0"). */
export const BLOB_MAGIC: Readonly<Record<BlobKind, Uint8Array<ArrayBuffer>>> = {
  uncompressed: new Uint8Array([66, 171, 56, 7, 190, 131, 112, 161]),
  compressed: new Uint8Array([49, 185, 88, 66, 111, 182, 163, 127]),
  encrypted: new Uint8Array([123, 103, 133, 190, 34, 45, 76, 240]),
  'encrypted-compressed': new Uint8Array([230, 89, 27, 191, 11, 191, 216, 11]),
}

/** Header size of unencrypted blobs. */
export const BLOB_HEADER_SIZE = 12
/** Header size of encrypted blobs (adds IV and GCM tag). */
export const ENCRYPTED_BLOB_HEADER_SIZE = 44
/** Largest plaintext `DataBlob::encode` accepts (128 MiB); also the default decode limit. */
export const MAX_BLOB_SIZE: number = 128 * 1024 * 1024
/** Largest chunk plaintext the backup protocol accepts (16 MiB). */
export const MAX_CHUNK_SIZE: number = 16 * 1024 * 1024
/** Largest encoded blob/chunk the backup protocol accepts (16 MiB + 44). */
export const MAX_ENCODED_BLOB_SIZE: number = MAX_CHUNK_SIZE + ENCRYPTED_BLOB_HEADER_SIZE

/** zstd level PBS uses for blobs. */
export const BLOB_ZSTD_LEVEL = 1

/** A key: a ready {@link CryptConfig}, or the raw 32 key bytes (e.g. passed to a worker thread). */
export type BlobKey = CryptConfig | Uint8Array

const configCache = new WeakMap<Uint8Array, CryptConfig>()

/** Resolves a {@link BlobKey} to a CryptConfig (raw keys are cached per array object). */
export function toCryptConfig(key: BlobKey): CryptConfig {
  if (key instanceof CryptConfig) return key
  let cc = configCache.get(key)
  if (!cc) {
    cc = new CryptConfig(key)
    configCache.set(key, cc)
  }
  return cc
}

/** Options of {@link encodeBlob}. */
export interface EncodeBlobOptions {
  /** Try zstd compression (kept only when smaller). Default false. */
  readonly compress?: boolean
  /** Encrypt with this key. */
  readonly crypt?: BlobKey | undefined
  /** Fixed 16-byte IV, for reproducible output in tests only; default: fresh random IV. */
  readonly iv?: Uint8Array
}

function magicKind(bytes: Uint8Array): BlobKind | undefined {
  if (bytes.length < 8) return undefined
  for (const kind of Object.keys(BLOB_MAGIC) as BlobKind[]) {
    const m = BLOB_MAGIC[kind]
    let same = true
    for (let i = 0; i < 8; i++) {
      if (bytes[i] !== m[i]) {
        same = false
        break
      }
    }
    if (same) return kind
  }
  return undefined
}

/**
 * Uninitialized, unpooled buffer (every byte gets written by the caller): skips the zero fill,
 * which costs as much as the copy itself for 4 MiB chunks, and owns its ArrayBuffer so it can be
 * transferred between threads.
 */
function allocBlob(size: number): Uint8Array<ArrayBuffer> {
  return toBytes(Buffer.allocUnsafeSlow(size))
}

function writeCrc(blob: Uint8Array<ArrayBuffer>, headerSize: number): void {
  const crc = crc32(blob.subarray(headerSize))
  new DataView(blob.buffer, blob.byteOffset, blob.byteLength).setUint32(8, crc, true)
}

/**
 * Encodes `data` as a DataBlob, choosing the kind like `DataBlob::encode`: compressed only when
 * the zstd frame is strictly shorter than `data`; with a key, compress-then-encrypt.
 *
 * @throws PxarError `ERR_BLOB_TOO_LARGE` when `data` exceeds {@link MAX_BLOB_SIZE}.
 * @example
 * ```ts
 * const blob = encodeBlob(chunk, { compress: true, crypt: cryptConfig })
 * ```
 */
export function encodeBlob(data: Uint8Array, options: EncodeBlobOptions = {}): Uint8Array<ArrayBuffer> {
  if (data.length > MAX_BLOB_SIZE) {
    throw new PxarError('ERR_BLOB_TOO_LARGE', `blob data too large (${data.length} > ${MAX_BLOB_SIZE} bytes)`)
  }
  // Like upstream: unencrypted blobs use zstd's streaming encoder (frame without content size),
  // encrypted blobs the bulk API. Only a strictly shorter frame is kept.
  const compressed = options.compress
    ? zstd().compress(data, {
        level: BLOB_ZSTD_LEVEL,
        maxSize: data.length - 1,
        contentSize: options.crypt !== undefined,
      })
    : undefined
  if (options.crypt === undefined) {
    const payload = compressed ?? data
    const blob = allocBlob(BLOB_HEADER_SIZE + payload.length)
    blob.set(compressed ? BLOB_MAGIC.compressed : BLOB_MAGIC.uncompressed, 0)
    blob.set(payload, BLOB_HEADER_SIZE)
    writeCrc(blob, BLOB_HEADER_SIZE)
    return blob
  }
  const cc = toCryptConfig(options.crypt)
  const enc = cc.encrypt(compressed ?? data, options.iv)
  const blob = allocBlob(ENCRYPTED_BLOB_HEADER_SIZE + enc.ciphertext.length)
  blob.set(compressed ? BLOB_MAGIC['encrypted-compressed'] : BLOB_MAGIC.encrypted, 0)
  blob.set(enc.iv, 12)
  blob.set(enc.tag, 28)
  blob.set(enc.ciphertext, ENCRYPTED_BLOB_HEADER_SIZE)
  writeCrc(blob, ENCRYPTED_BLOB_HEADER_SIZE)
  return blob
}

/** Header facts of an encoded blob, from {@link inspectBlob}. */
export interface BlobInfo {
  readonly kind: BlobKind
  readonly magic: Uint8Array<ArrayBuffer>
  readonly encrypted: boolean
  readonly compressed: boolean
  readonly headerSize: number
  /** CRC stored in the header. */
  readonly crc: number
  /** CRC computed over the bytes after the header. */
  readonly computedCrc: number
  /** IV (encrypted kinds only). */
  readonly iv?: Uint8Array<ArrayBuffer>
  /** GCM tag (encrypted kinds only). */
  readonly tag?: Uint8Array<ArrayBuffer>
  /** Total encoded length. */
  readonly rawSize: number
}

/**
 * Reads and checks a blob header (magic, minimum length); `computedCrc` is computed when first
 * read. Does not decode.
 *
 * @throws PxarFormatError `ERR_BLOB_TRUNCATED` (shorter than the header), `ERR_BLOB_MAGIC`.
 */
export function inspectBlob(bytes: Uint8Array): BlobInfo {
  if (bytes.length < BLOB_HEADER_SIZE) {
    throw new PxarFormatError('ERR_BLOB_TRUNCATED', `blob too short (${bytes.length} bytes)`, bytes.length)
  }
  const kind = magicKind(bytes)
  if (!kind)
    throw new PxarFormatError('ERR_BLOB_MAGIC', `unknown blob magic ${toHex(bytes.subarray(0, 8))}`, 0)
  const encrypted = kind === 'encrypted' || kind === 'encrypted-compressed'
  const headerSize = encrypted ? ENCRYPTED_BLOB_HEADER_SIZE : BLOB_HEADER_SIZE
  if (bytes.length < headerSize) {
    throw new PxarFormatError(
      'ERR_BLOB_TRUNCATED',
      `encrypted blob too short (${bytes.length} bytes)`,
      bytes.length,
    )
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let computed: number | undefined
  const body = bytes.subarray(headerSize)
  return {
    kind,
    magic: bytes.slice(0, 8),
    encrypted,
    compressed: kind === 'compressed' || kind === 'encrypted-compressed',
    headerSize,
    crc: view.getUint32(8, true),
    // computed on first use: decoding with `verifyCrc: false` does not pay for it
    get computedCrc(): number {
      computed ??= crc32(body)
      return computed
    },
    rawSize: bytes.length,
    ...(encrypted
      ? { iv: bytes.slice(12, 12 + CRYPT_IV_SIZE), tag: bytes.slice(28, 28 + CRYPT_TAG_SIZE) }
      : {}),
  }
}

/** Options of {@link decodeBlob}. */
export interface DecodeBlobOptions {
  /** Key for encrypted blobs. */
  readonly crypt?: BlobKey | undefined
  /** Check the header CRC (as `DataBlob::load_from_reader` does). Default true. */
  readonly verifyCrc?: boolean
  /**
   * Expected chunk digest: compared with SHA-256(plaintext) for unencrypted blobs and with the
   * keyed digest SHA-256(plaintext || idKey) for encrypted ones.
   */
  readonly digest?: Uint8Array | undefined
  /** Limit for the decoded size (default {@link MAX_BLOB_SIZE}). */
  readonly maxSize?: number
}

/**
 * Decodes a DataBlob: header and CRC check, AES-GCM decryption and tag check, zstd
 * decompression, optional digest check.
 *
 * @throws PxarFormatError `ERR_BLOB_TRUNCATED`, `ERR_BLOB_MAGIC`, `ERR_BLOB_CRC` (offset 8);
 *   PxarError `ERR_BLOB_NO_KEY`, `ERR_BLOB_DECRYPT`, `ERR_BLOB_DECOMPRESS`, `ERR_BLOB_TOO_LARGE`,
 *   `ERR_CHUNK_DIGEST`.
 * @example
 * ```ts
 * const data = decodeBlob(await readFile(path), { crypt: cryptConfig, digest })
 * ```
 */
export function decodeBlob(bytes: Uint8Array, options: DecodeBlobOptions = {}): Uint8Array<ArrayBuffer> {
  const info = inspectBlob(bytes)
  if (options.verifyCrc !== false && info.crc !== info.computedCrc) {
    throw new PxarFormatError(
      'ERR_BLOB_CRC',
      `blob has wrong CRC checksum (stored ${info.crc.toString(16)}, computed ${info.computedCrc.toString(16)})`,
      8,
    )
  }
  const maxSize = options.maxSize ?? MAX_BLOB_SIZE
  let payload: Uint8Array = bytes.subarray(info.headerSize)
  let cc: CryptConfig | undefined
  if (info.encrypted) {
    if (options.crypt === undefined) {
      throw new PxarError('ERR_BLOB_NO_KEY', 'unable to decrypt blob - missing CryptConfig')
    }
    cc = toCryptConfig(options.crypt)
    payload = cc.decrypt(payload, info.iv!, info.tag!)
  }
  let data: Uint8Array<ArrayBuffer>
  if (info.compressed) {
    data = zstd().decompress(payload, maxSize)
  } else {
    if (payload.length > maxSize) {
      throw new PxarError('ERR_BLOB_TOO_LARGE', `blob payload exceeds the limit of ${maxSize} bytes`)
    }
    if (info.encrypted) {
      data = payload as Uint8Array<ArrayBuffer> // fresh buffer from the decipher
    } else {
      data = allocBlob(payload.length)
      data.set(payload)
    }
  }
  if (options.digest !== undefined) {
    const actual = cc ? cc.computeDigest(data) : sha256(data)
    if (!bytesEqual(actual, options.digest)) {
      throw new PxarError(
        'ERR_CHUNK_DIGEST',
        `blob digest mismatch (expected ${toHex(options.digest)}, got ${toHex(actual)})`,
      )
    }
  }
  return data
}

/** True when the blob's stored CRC matches its payload (false for malformed blobs). */
export function blobCrcOk(bytes: Uint8Array): boolean {
  try {
    const info = inspectBlob(bytes)
    return info.crc === info.computedCrc
  } catch {
    return false
  }
}
