/**
 * CryptConfig: everything derived from one 32-byte PBS encryption key (upstream
 * `pbs-tools/src/crypt_config.rs`).
 *
 * - `idKey = PBKDF2-HMAC-SHA256(password = key, salt = "_id_key", 10 iterations, 32 bytes)`
 * - keyed chunk digest `SHA-256(data || idKey)`, auth tag `HMAC-SHA256(idKey, data)`
 * - fingerprint `SHA-256(FINGERPRINT_INPUT || idKey)`
 * - AES-256-GCM with the raw key, 16-byte IV, empty AAD, 16-byte tag.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  pbkdf2Sync,
  randomBytes,
} from 'node:crypto'
import { PxarError } from '@pxar/format'
import { toBytes } from './digest.ts'

/** SHA-256("Proxmox Backup Encryption Key Fingerprint"): hashed before `idKey` to get a key's fingerprint. */
export const FINGERPRINT_INPUT: Uint8Array<ArrayBuffer> = toBytes(
  createHash('sha256').update('Proxmox Backup Encryption Key Fingerprint').digest(),
)

/** Length of the raw encryption key. */
export const CRYPT_KEY_SIZE = 32
/** Length of the AES-GCM IV PBS uses (not the usual 12). */
export const CRYPT_IV_SIZE = 16
/** Length of the AES-GCM tag. */
export const CRYPT_TAG_SIZE = 16

/** Output of {@link CryptConfig.encrypt}. */
export interface EncryptedData {
  readonly iv: Uint8Array<ArrayBuffer>
  readonly tag: Uint8Array<ArrayBuffer>
  readonly ciphertext: Uint8Array<ArrayBuffer>
}

/**
 * Derived state of an encryption key. Cheap to construct (10 PBKDF2 rounds), so worker threads
 * can rebuild it from the raw {@link CryptConfig.encKey} bytes.
 *
 * @example
 * ```ts
 * const cc = new CryptConfig(rawKey)
 * const digest = cc.computeDigest(chunk)
 * console.log(cc.fingerprintText()) // 'xx:xx:…' (32 bytes)
 * ```
 */
export class CryptConfig {
  /** The raw 32-byte key (AES-256-GCM key). */
  readonly encKey: Uint8Array<ArrayBuffer>
  /** PBKDF2-derived 32-byte id key (digest suffix, HMAC key). */
  readonly idKey: Uint8Array<ArrayBuffer>
  #fingerprint: Uint8Array<ArrayBuffer> | undefined

  /** @throws RangeError unless `key` is exactly 32 bytes. */
  constructor(key: Uint8Array) {
    if (!(key instanceof Uint8Array) || key.length !== CRYPT_KEY_SIZE) {
      throw new RangeError(`encryption key must be ${CRYPT_KEY_SIZE} bytes`)
    }
    this.encKey = new Uint8Array(key)
    this.idKey = toBytes(pbkdf2Sync(this.encKey, '_id_key', 10, 32, 'sha256'))
  }

  /** Keyed chunk digest `SHA-256(data || idKey)`. */
  computeDigest(data: Uint8Array): Uint8Array<ArrayBuffer> {
    return toBytes(createHash('sha256').update(data).update(this.idKey).digest())
  }

  /** `HMAC-SHA256(idKey, data)` (manifest signatures). */
  computeAuthTag(data: Uint8Array): Uint8Array<ArrayBuffer> {
    return toBytes(createHmac('sha256', this.idKey).update(data).digest())
  }

  /** The 32-byte key fingerprint. */
  fingerprint(): Uint8Array<ArrayBuffer> {
    this.#fingerprint ??= this.computeDigest(FINGERPRINT_INPUT)
    return this.#fingerprint
  }

  /** Fingerprint text: full form (32 bytes) by default, `{ short: true }` for the 8-byte display form. */
  fingerprintText(options: { short?: boolean } = {}): string {
    return formatFingerprint(this.fingerprint(), options)
  }

  /**
   * AES-256-GCM encryption with a fresh random 16-byte IV (or `iv` for reproducible output).
   *
   * @throws RangeError when `iv` is not 16 bytes.
   */
  encrypt(plaintext: Uint8Array, iv?: Uint8Array): EncryptedData {
    const nonce = iv ? new Uint8Array(iv) : toBytes(randomBytes(CRYPT_IV_SIZE))
    if (nonce.length !== CRYPT_IV_SIZE) throw new RangeError(`IV must be ${CRYPT_IV_SIZE} bytes`)
    const cipher = createCipheriv('aes-256-gcm', this.encKey, nonce, { authTagLength: CRYPT_TAG_SIZE })
    const head = cipher.update(plaintext)
    const tail = cipher.final()
    const ciphertext = tail.length === 0 ? toBytes(head) : toBytes(Buffer.concat([head, tail]))
    return { iv: nonce, tag: toBytes(cipher.getAuthTag()), ciphertext }
  }

  /**
   * AES-256-GCM decryption and tag check.
   *
   * @throws PxarError `ERR_BLOB_DECRYPT` when authentication fails (wrong key, tampered data).
   */
  decrypt(ciphertext: Uint8Array, iv: Uint8Array, tag: Uint8Array): Uint8Array<ArrayBuffer> {
    if (iv.length !== CRYPT_IV_SIZE) throw new RangeError(`IV must be ${CRYPT_IV_SIZE} bytes`)
    if (tag.length !== CRYPT_TAG_SIZE) throw new RangeError(`tag must be ${CRYPT_TAG_SIZE} bytes`)
    const decipher = createDecipheriv('aes-256-gcm', this.encKey, iv, { authTagLength: CRYPT_TAG_SIZE })
    decipher.setAuthTag(tag)
    const head = decipher.update(ciphertext)
    try {
      const tail = decipher.final()
      return tail.length === 0 ? toBytes(head) : toBytes(Buffer.concat([head, tail]))
    } catch (cause) {
      throw new PxarError('ERR_BLOB_DECRYPT', 'AES-GCM authentication failed (wrong key or corrupt data)', {
        cause,
      })
    }
  }
}

/**
 * Formats a fingerprint as colon-separated lowercase hex pairs: all 32 bytes (95 characters), or
 * only the first 8 with `{ short: true }` (what PBS prints in log lines).
 */
export function formatFingerprint(fingerprint: Uint8Array, options: { short?: boolean } = {}): string {
  const bytes = options.short ? fingerprint.subarray(0, 8) : fingerprint
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':')
}

/**
 * Parses a fingerprint text: colons are dropped, then exactly 32 bytes of hex (either case).
 *
 * @throws PxarError `ERR_KEY_FORMAT` on anything else.
 */
export function parseFingerprint(text: string): Uint8Array<ArrayBuffer> {
  const hex = text.replaceAll(':', '')
  if (!/^[0-9a-fA-F]{64}$/.test(hex))
    throw new PxarError('ERR_KEY_FORMAT', `invalid fingerprint ${JSON.stringify(text)}`)
  const out = new Uint8Array(32)
  for (let i = 0; i < 32; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return out
}
