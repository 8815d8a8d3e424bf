/**
 * RSA master keys (upstream `pbs-key-config/src/lib.rs`, `proxmox-backup-client key
 * create-master-key`): the backup key is stored once more in each snapshot as
 * `rsa-encrypted.key.blob`, an uncompressed, unencrypted DataBlob holding
 * `RSA-PKCS#1-v1.5-encrypt(master public key, compact JSON of an unprotected KeyConfig)`.
 */
import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
} from 'node:crypto'
import { PxarError } from '@pxar/format'
import { encodeBlob } from './blob.ts'
import { CryptConfig } from './crypt-config.ts'
import { toBytes } from './digest.ts'
import { formatKeyTime, type KeyConfig, parseKeyConfig, serializeKeyConfig } from './key-file.ts'

/** PEM texts of a master key pair. */
export interface MasterKeyPair {
  /** `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo), i.e. `master-public.pem`. */
  readonly publicPem: string
  /** `-----BEGIN ENCRYPTED PRIVATE KEY-----` (PKCS#8, AES-256-CBC), i.e. `master-private.pem`. */
  readonly privatePem: string
}

/** Options of {@link generateMasterKeyPair}. */
export interface GenerateMasterKeyOptions {
  /** Protects the private key PEM. */
  readonly password: string
  /** RSA modulus size; default 4096 like the client. */
  readonly bits?: number
}

/**
 * Generates an RSA master key pair (exponent 65537) as `key create-master-key` does.
 *
 * @example
 * ```ts
 * const { publicPem, privatePem } = await generateMasterKeyPair({ password: 'secret' })
 * ```
 */
export function generateMasterKeyPair(options: GenerateMasterKeyOptions): Promise<MasterKeyPair> {
  return new Promise((resolve, reject) => {
    generateKeyPair(
      'rsa',
      {
        modulusLength: options.bits ?? 4096,
        publicExponent: 65537,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: {
          type: 'pkcs8',
          format: 'pem',
          cipher: 'aes-256-cbc',
          passphrase: options.password,
        },
      },
      (err, publicPem, privatePem) => {
        if (err) reject(err)
        else resolve({ publicPem, privatePem })
      },
    )
  })
}

function publicKeyOf(key: string | KeyObject): KeyObject {
  if (typeof key !== 'string') return key
  if (!key.includes('-----BEGIN PUBLIC KEY-----')) {
    throw new PxarError(
      'ERR_KEY_FORMAT',
      'master public key must be a PEM SubjectPublicKeyInfo ("BEGIN PUBLIC KEY")',
    )
  }
  try {
    return createPublicKey(key)
  } catch (cause) {
    throw new PxarError('ERR_KEY_FORMAT', 'invalid master public key', { cause })
  }
}

function modulusBytes(key: KeyObject): number {
  const bits = key.asymmetricKeyDetails?.modulusLength
  if (key.asymmetricKeyType !== 'rsa' || bits === undefined) {
    throw new PxarError('ERR_KEY_FORMAT', 'master key is not an RSA key')
  }
  return Math.ceil(bits / 8)
}

/** Options of {@link masterKeyConfig}. */
export interface MasterKeyConfigOptions {
  /** `created` text of the original key file (kept as is). */
  readonly created: string
  /** `modified` time, epoch seconds (default now). */
  readonly now?: number
  readonly utcOffsetMinutes?: number
}

/** The unprotected KeyConfig (kdf null, fingerprint set, no hint) that gets RSA-encrypted. */
export function masterKeyConfig(key: Uint8Array, options: MasterKeyConfigOptions): KeyConfig {
  const cc = new CryptConfig(key)
  const now = options.now ?? Math.floor(Date.now() / 1000)
  return {
    kdf: null,
    created: options.created,
    modified: formatKeyTime(now, options.utcOffsetMinutes),
    data: cc.encKey,
    fingerprint: cc.fingerprint(),
  }
}

/**
 * Encrypts a key file for the master key: compact JSON, RSA PKCS#1 v1.5.
 *
 * @throws PxarError `ERR_KEY_FORMAT` for a non-SPKI or non-RSA public key, or when the key file
 *   must be unprotected (`kdf` null) but is not.
 */
export function rsaEncryptKeyConfig(kc: KeyConfig, publicKey: string | KeyObject): Uint8Array<ArrayBuffer> {
  if (kc.kdf !== null) throw new PxarError('ERR_KEY_FORMAT', 'only unprotected key configs are RSA-wrapped')
  const key = publicKeyOf(publicKey)
  const size = modulusBytes(key)
  const json = new TextEncoder().encode(serializeKeyConfig(kc))
  if (json.length > size - 11) throw new PxarError('ERR_KEY_FORMAT', 'key config too large for the RSA key')
  const ct = toBytes(publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, json))
  if (ct.length !== size)
    throw new PxarError('ERR_KEY_FORMAT', `RSA output has ${ct.length} bytes, expected ${size}`)
  return ct
}

/**
 * The `rsa-encrypted.key.blob` file content for `key` (uncompressed, unencrypted DataBlob).
 */
export function encodeRsaEncryptedKeyBlob(
  key: Uint8Array,
  publicKey: string | KeyObject,
  options: MasterKeyConfigOptions,
): Uint8Array<ArrayBuffer> {
  return encodeBlob(rsaEncryptKeyConfig(masterKeyConfig(key, options), publicKey))
}

/** Options of {@link rsaDecryptKeyConfig}. */
export interface RsaDecryptOptions {
  /** Password of an encrypted private key PEM. */
  readonly passphrase?: string
}

/**
 * Decrypts an RSA-wrapped key config (the payload of `rsa-encrypted.key.blob`) with the master
 * private key. PKCS#1 v1.5 padding is removed by hand: Node builds on OpenSSL 3 refuse
 * `RSA_PKCS1_PADDING` for private decryption (CVE-2023-46809 mitigation).
 *
 * @throws PxarError `ERR_KEY_PASSWORD` (private key passphrase), `ERR_KEY_FORMAT` (bad padding,
 *   wrong key, not a key config).
 */
export function rsaDecryptKeyConfig(
  ciphertext: Uint8Array,
  privateKey: string | KeyObject,
  options: RsaDecryptOptions = {},
): KeyConfig {
  let key: KeyObject
  if (typeof privateKey === 'string') {
    try {
      key = createPrivateKey(
        options.passphrase !== undefined ? { key: privateKey, passphrase: options.passphrase } : privateKey,
      )
    } catch (cause) {
      throw new PxarError('ERR_KEY_PASSWORD', 'unable to load master private key (wrong passphrase?)', {
        cause,
      })
    }
  } else {
    key = privateKey
  }
  const size = modulusBytes(key)
  if (ciphertext.length !== size) {
    throw new PxarError('ERR_KEY_FORMAT', `RSA ciphertext has ${ciphertext.length} bytes, expected ${size}`)
  }
  let em: Uint8Array
  try {
    em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, ciphertext)
  } catch (cause) {
    throw new PxarError('ERR_KEY_FORMAT', 'RSA decryption failed', { cause })
  }
  // EM = 00 02 PS(>= 8 non-zero bytes) 00 M
  const sep = em.indexOf(0, 2)
  if (em[0] !== 0 || em[1] !== 2 || sep < 10) {
    throw new PxarError('ERR_KEY_FORMAT', 'RSA decryption failed (bad PKCS#1 padding: wrong master key?)')
  }
  return parseKeyConfig(em.subarray(sep + 1))
}

/** Options of {@link paperkeyText}. */
export interface PaperkeyOptions {
  /** Optional subject line printed first. */
  readonly subject?: string
}

/**
 * Paper-key text (upstream `paperkey.rs`, text mode) without the QR codes, which upstream renders
 * with the external `qrencode` tool: a key file is printed as pretty JSON between
 * `-----BEGIN/END PROXMOX BACKUP KEY-----`; a PEM master private key is printed with line numbers,
 * in blocks of 5 lines separated by form feeds.
 *
 * @throws PxarError `ERR_KEY_FORMAT` when `input` is neither a key file nor a PEM private key.
 */
export function paperkeyText(input: string, options: PaperkeyOptions = {}): string {
  let out = options.subject !== undefined ? `Subject: ${options.subject}\n\n` : ''
  if (
    input.startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----\n') ||
    input.startsWith('-----BEGIN RSA PRIVATE KEY-----\n')
  ) {
    const lines = input
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.length > 0)
    if (lines.length < 20) throw new PxarError('ERR_KEY_FORMAT', 'private key PEM too short for a paper key')
    for (let i = 0; i < lines.length; i += 5) {
      for (let j = i; j < Math.min(i + 5, lines.length); j++)
        out += `${String(j).padStart(2, ' ')}: ${lines[j]}\n`
      out += '\x0c'
    }
    return out
  }
  const kc = parseKeyConfig(input)
  const pretty = JSON.stringify(JSON.parse(serializeKeyConfig(kc)), null, 2)
  return `${out}-----BEGIN PROXMOX BACKUP KEY-----\n${pretty}\n-----END PROXMOX BACKUP KEY-----\n`
}
