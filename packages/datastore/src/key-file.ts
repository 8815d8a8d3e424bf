/**
 * PBS key files (`KeyConfig` JSON, upstream `pbs-key-config/src/lib.rs`), as written by
 * `proxmox-backup-client key create`:
 *
 * ```json
 * {"kdf":{"Scrypt":{"n":65536,"r":8,"p":1,"salt":"…"}},"created":"…","modified":"…","data":"…","fingerprint":"…","hint":"…"}
 * ```
 * `data` is the raw key (kdf null) or `IV(16) || TAG(16) || AES-256-GCM(derived, raw key)`.
 */
import { pbkdf2, randomBytes, scrypt } from 'node:crypto'
import { PxarError } from '@pxar/format'
import { CRYPT_KEY_SIZE, CryptConfig, formatFingerprint, parseFingerprint } from './crypt-config.ts'
import { bytesEqual, toBytes } from './digest.ts'

/** Key-derivation parameters stored in a key file. */
export type KeyDerivation =
  | {
      readonly type: 'scrypt'
      readonly n: number
      readonly r: number
      readonly p: number
      readonly salt: Uint8Array<ArrayBuffer>
    }
  | { readonly type: 'pbkdf2'; readonly iter: number; readonly salt: Uint8Array<ArrayBuffer> }

/** KDF names as the CLI/API use them. */
export type KdfName = 'none' | 'scrypt' | 'pbkdf2'

/** A parsed key file. Timestamps stay as stored text (they carry the writer's UTC offset). */
export interface KeyConfig {
  readonly kdf: KeyDerivation | null
  /** RFC 3339 text, e.g. `2024-07-01T14:00:00+02:00`. */
  readonly created: string
  readonly modified: string
  /** Raw key (kdf null) or IV || tag || ciphertext. */
  readonly data: Uint8Array<ArrayBuffer>
  /** Stored fingerprint (32 bytes), when present. */
  readonly fingerprint?: Uint8Array<ArrayBuffer>
  readonly hint?: string
}

/** Summary of a key file as the PBS API shows it (`KeyInfo`). */
export interface KeyInfo {
  readonly kdf: KdfName
  /** Epoch seconds. */
  readonly created: number
  readonly modified: number
  /** Full-form fingerprint, when the file stores one. */
  readonly fingerprint?: string
  readonly hint?: string
}

/** A successfully decrypted key. */
export interface DecryptedKey {
  /** The raw 32-byte key. */
  readonly key: Uint8Array<ArrayBuffer>
  /** `created` of the key file, epoch seconds. */
  readonly created: number
  /** The key's fingerprint (recomputed). */
  readonly fingerprint: Uint8Array<ArrayBuffer>
  readonly cryptConfig: CryptConfig
}

/** scrypt memory ceiling PBS passes to OpenSSL (1025 MiB). */
const SCRYPT_MAXMEM = 1025 * 1024 * 1024
const MAX_PBKDF2_ITER = 1 << 24

function formatError(message: string): PxarError {
  return new PxarError('ERR_KEY_FORMAT', `invalid key file: ${message}`)
}

function b64decode(value: unknown, what: string): Uint8Array<ArrayBuffer> {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) {
    throw formatError(`${what} is not base64`)
  }
  return toBytes(Buffer.from(value, 'base64'))
}

function b64encode(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

const TIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(Z|([+-])(\d{2}):(\d{2}))$/

/**
 * Parses a key-file timestamp strictly: `YYYY-MM-DDTHH:MM:SSZ` or `…±HH:MM` (no fractions).
 *
 * @throws PxarError `ERR_KEY_FORMAT`.
 */
export function parseKeyTime(text: string): number {
  const m = TIME_RE.exec(text)
  if (!m) throw formatError(`bad timestamp ${JSON.stringify(text)}`)
  const [, y, mo, d, h, mi, s, z, sign, oh, om] = m
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s))
  const back = new Date(ms)
  if (back.getUTCDate() !== Number(d) || back.getUTCMonth() !== Number(mo) - 1 || Number(h) > 23) {
    throw formatError(`bad timestamp ${JSON.stringify(text)}`)
  }
  let offset = 0
  if (z !== 'Z') offset = (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om))
  return Math.floor(ms / 1000) - offset * 60
}

/**
 * Formats epoch seconds as PBS writes key timestamps: local time with an explicit offset
 * (`+00:00`, never `Z`). `utcOffsetMinutes` defaults to the local zone's offset at that time.
 */
export function formatKeyTime(epoch: number, utcOffsetMinutes?: number): string {
  const offset = utcOffsetMinutes ?? -new Date(epoch * 1000).getTimezoneOffset()
  const t = new Date((epoch + offset * 60) * 1000)
  const p2 = (n: number): string => String(n).padStart(2, '0')
  const abs = Math.abs(offset)
  return (
    `${String(t.getUTCFullYear()).padStart(4, '0')}-${p2(t.getUTCMonth() + 1)}-${p2(t.getUTCDate())}` +
    `T${p2(t.getUTCHours())}:${p2(t.getUTCMinutes())}:${p2(t.getUTCSeconds())}` +
    `${offset < 0 ? '-' : '+'}${p2(Math.floor(abs / 60))}:${p2(abs % 60)}`
  )
}

function uint(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw formatError(`${what} must be an unsigned integer`)
  return value
}

function parseKdf(value: unknown): KeyDerivation | null {
  if (value === null || value === undefined) return null
  if (typeof value !== 'object' || Array.isArray(value)) throw formatError('kdf must be an object or null')
  const keys = Object.keys(value)
  if (keys.length !== 1) throw formatError('kdf must have exactly one variant')
  const obj = value as Record<string, Record<string, unknown>>
  if (obj.Scrypt && typeof obj.Scrypt === 'object') {
    const s = obj.Scrypt
    return {
      type: 'scrypt',
      n: uint(s.n, 'n'),
      r: uint(s.r, 'r'),
      p: uint(s.p, 'p'),
      salt: b64decode(s.salt, 'salt'),
    }
  }
  if (obj.PBKDF2 && typeof obj.PBKDF2 === 'object') {
    const s = obj.PBKDF2
    return { type: 'pbkdf2', iter: uint(s.iter, 'iter'), salt: b64decode(s.salt, 'salt') }
  }
  throw formatError(`unknown kdf variant ${keys[0]}`)
}

/**
 * Parses key file text (or bytes). Validates structure and types, not the key itself.
 *
 * @throws PxarError `ERR_KEY_FORMAT`.
 * @example
 * ```ts
 * const kc = parseKeyConfig(await readFile('encryption-key.json', 'utf8'))
 * ```
 */
export function parseKeyConfig(text: string | Uint8Array): KeyConfig {
  let json: unknown
  try {
    json = JSON.parse(
      typeof text === 'string' ? text : new TextDecoder('utf-8', { fatal: true }).decode(text),
    )
  } catch (cause) {
    throw new PxarError('ERR_KEY_FORMAT', 'invalid key file: not JSON', { cause })
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw formatError('not a JSON object')
  const o = json as Record<string, unknown>
  if (typeof o.created !== 'string' || typeof o.modified !== 'string')
    throw formatError('missing created/modified')
  parseKeyTime(o.created)
  parseKeyTime(o.modified)
  const kdf = parseKdf(o.kdf)
  const kc: { -readonly [K in keyof KeyConfig]: KeyConfig[K] } = {
    kdf,
    created: o.created,
    modified: o.modified,
    data: b64decode(o.data, 'data'),
  }
  if (o.fingerprint !== undefined && o.fingerprint !== null) {
    if (typeof o.fingerprint !== 'string') throw formatError('fingerprint must be a string')
    kc.fingerprint = parseFingerprint(o.fingerprint)
  }
  if (o.hint !== undefined && o.hint !== null) {
    if (typeof o.hint !== 'string') throw formatError('hint must be a string')
    kc.hint = o.hint
  }
  return kc
}

/** Serializes a key file compactly, in the field order of the official client. */
export function serializeKeyConfig(kc: KeyConfig): string {
  let kdf: unknown = null
  if (kc.kdf?.type === 'scrypt') {
    kdf = { Scrypt: { n: kc.kdf.n, r: kc.kdf.r, p: kc.kdf.p, salt: b64encode(kc.kdf.salt) } }
  } else if (kc.kdf?.type === 'pbkdf2') {
    kdf = { PBKDF2: { iter: kc.kdf.iter, salt: b64encode(kc.kdf.salt) } }
  }
  const out: Record<string, unknown> = {
    kdf,
    created: kc.created,
    modified: kc.modified,
    data: b64encode(kc.data),
  }
  if (kc.fingerprint) out.fingerprint = formatFingerprint(kc.fingerprint)
  if (kc.hint !== undefined) out.hint = kc.hint
  return JSON.stringify(out)
}

/** KeyInfo view of a key file (no password needed). */
export function keyInfo(kc: KeyConfig): KeyInfo {
  const info: { -readonly [K in keyof KeyInfo]: KeyInfo[K] } = {
    kdf: kc.kdf?.type ?? 'none',
    created: parseKeyTime(kc.created),
    modified: parseKeyTime(kc.modified),
  }
  if (kc.fingerprint) info.fingerprint = formatFingerprint(kc.fingerprint)
  if (kc.hint !== undefined) info.hint = kc.hint
  return info
}

function passwordBytes(password: string | Uint8Array): Uint8Array {
  return typeof password === 'string' ? new TextEncoder().encode(password) : password
}

/**
 * Derives the 32-byte key-encryption key from a passphrase.
 *
 * @throws PxarError `ERR_KEY_KDF` for parameters outside what OpenSSL would accept (or that would
 *   need more than 1025 MiB), `ERR_KEY_PASSWORD` for a passphrase shorter than 5 bytes.
 */
export async function deriveKeyFromPassword(
  kdf: KeyDerivation,
  password: string | Uint8Array,
): Promise<Uint8Array<ArrayBuffer>> {
  const pw = passwordBytes(password)
  if (pw.length < 5) throw new PxarError('ERR_KEY_PASSWORD', 'Passphrase is too short!')
  if (kdf.type === 'scrypt') {
    const { n, r, p } = kdf
    const mem = 128 * n * r * p
    if (n < 2 || (n & (n - 1)) !== 0 || r < 1 || p < 1 || !Number.isSafeInteger(mem) || mem > SCRYPT_MAXMEM) {
      throw new PxarError('ERR_KEY_KDF', `unsupported scrypt parameters n=${n} r=${r} p=${p}`)
    }
    return new Promise((resolve, reject) => {
      scrypt(pw, kdf.salt, 32, { N: n, r, p, maxmem: mem + 16 * 1024 * 1024 }, (err, key) => {
        if (err) reject(new PxarError('ERR_KEY_KDF', `scrypt failed: ${err.message}`, { cause: err }))
        else resolve(toBytes(key))
      })
    })
  }
  if (kdf.iter < 1 || kdf.iter > MAX_PBKDF2_ITER) {
    throw new PxarError('ERR_KEY_KDF', `unsupported PBKDF2 iteration count ${kdf.iter}`)
  }
  return new Promise((resolve, reject) => {
    pbkdf2(pw, kdf.salt, kdf.iter, 32, 'sha256', (err, key) => {
      if (err) reject(new PxarError('ERR_KEY_KDF', `PBKDF2 failed: ${err.message}`, { cause: err }))
      else resolve(toBytes(key))
    })
  })
}

/** Options of {@link decryptKeyConfig}. */
export interface DecryptKeyOptions {
  /** Passphrase; required unless the key file has `kdf: null`. */
  readonly password?: string | Uint8Array | undefined
}

/**
 * Decrypts a key file and checks its stored fingerprint.
 *
 * @throws PxarError `ERR_KEY_PASSWORD` (missing, too short or wrong passphrase; the message names
 *   the hint), `ERR_KEY_FINGERPRINT`, `ERR_KEY_FORMAT`, `ERR_KEY_KDF`.
 * @example
 * ```ts
 * const { cryptConfig } = await decryptKeyConfig(kc, { password: 'secret' })
 * ```
 */
export async function decryptKeyConfig(
  kc: KeyConfig,
  options: DecryptKeyOptions = {},
): Promise<DecryptedKey> {
  let raw: Uint8Array<ArrayBuffer>
  if (kc.kdf === null) {
    raw = kc.data
  } else {
    if (options.password === undefined)
      throw new PxarError('ERR_KEY_PASSWORD', 'key file is password protected')
    const derived = await deriveKeyFromPassword(kc.kdf, options.password)
    if (kc.data.length < 32) throw new PxarError('ERR_KEY_FORMAT', 'Unable to decrypt key - short data')
    try {
      raw = new CryptConfig(derived).decrypt(
        kc.data.subarray(32),
        kc.data.subarray(0, 16),
        kc.data.subarray(16, 32),
      )
    } catch (cause) {
      const msg =
        kc.hint !== undefined
          ? `Unable to decrypt key (password hint: ${kc.hint})`
          : 'Unable to decrypt key (wrong password?)'
      throw new PxarError('ERR_KEY_PASSWORD', msg, { cause })
    }
  }
  if (raw.length !== CRYPT_KEY_SIZE)
    throw new PxarError('ERR_KEY_FORMAT', `got strange key length (${raw.length} != 32)`)
  const cryptConfig = new CryptConfig(raw)
  const fingerprint = cryptConfig.fingerprint()
  if (kc.fingerprint && !bytesEqual(kc.fingerprint, fingerprint)) {
    throw new PxarError(
      'ERR_KEY_FINGERPRINT',
      `KeyConfig contains wrong fingerprint ${formatFingerprint(kc.fingerprint, { short: true })}, contained key has fingerprint ${formatFingerprint(fingerprint, { short: true })}`,
    )
  }
  return { key: cryptConfig.encKey, created: parseKeyTime(kc.created), fingerprint, cryptConfig }
}

/** Options of {@link createKeyConfig}. */
export interface CreateKeyOptions {
  /** Default `scrypt` (like the client); `none` stores the key unprotected. */
  readonly kdf?: KdfName
  /** Required unless kdf is `none`. */
  readonly password?: string | Uint8Array
  /** Password hint (not allowed with kdf `none`). */
  readonly hint?: string
  /** Creation time, epoch seconds (default now). */
  readonly now?: number
  /** Offset used to write timestamps (default: local zone). */
  readonly utcOffsetMinutes?: number
  /** `created` text to keep (re-encryption keeps the original); default from `now`. */
  readonly created?: string
  /** Fixed salt (32 bytes) and IV (16 bytes), for reproducible tests only. */
  readonly salt?: Uint8Array
  readonly iv?: Uint8Array
}

/** A fresh random 32-byte encryption key. */
export function generateKey(): Uint8Array<ArrayBuffer> {
  return toBytes(randomBytes(CRYPT_KEY_SIZE))
}

/**
 * Wraps a raw 32-byte key into a key file, protected by scrypt (n=65536, r=8, p=1) or PBKDF2
 * (65535 iterations) as the official client does, or unprotected.
 *
 * @throws RangeError for a key that is not 32 bytes; TypeError for a missing password or a hint
 *   without password; PxarError `ERR_KEY_PASSWORD` for a passphrase shorter than 5 bytes.
 */
export async function createKeyConfig(key: Uint8Array, options: CreateKeyOptions = {}): Promise<KeyConfig> {
  const cc = new CryptConfig(key)
  const kdfName = options.kdf ?? 'scrypt'
  const now = options.now ?? Math.floor(Date.now() / 1000)
  const modified = formatKeyTime(now, options.utcOffsetMinutes)
  const created = options.created ?? modified
  const base = { created, modified, fingerprint: cc.fingerprint() }
  if (kdfName === 'none') {
    if (options.hint !== undefined) throw new TypeError('a hint needs a password-protected key')
    return { kdf: null, ...base, data: cc.encKey }
  }
  if (options.password === undefined) throw new TypeError(`kdf ${kdfName} needs a password`)
  const salt = options.salt ? new Uint8Array(options.salt) : toBytes(randomBytes(32))
  const kdf: KeyDerivation =
    kdfName === 'scrypt'
      ? { type: 'scrypt', n: 65536, r: 8, p: 1, salt }
      : { type: 'pbkdf2', iter: 65535, salt }
  const derived = await deriveKeyFromPassword(kdf, options.password)
  const enc = new CryptConfig(derived).encrypt(cc.encKey, options.iv)
  const data = new Uint8Array(64)
  data.set(enc.iv, 0)
  data.set(enc.tag, 16)
  data.set(enc.ciphertext, 32)
  const kc: KeyConfig = { kdf, ...base, data }
  return options.hint !== undefined ? { ...kc, hint: options.hint } : kc
}

/** Options of {@link changeKeyPassphrase}. */
export interface ChangePassphraseOptions {
  /** Current passphrase (ignored for unprotected keys). */
  readonly password?: string | Uint8Array
  /** New passphrase (required unless `kdf` is `none`). */
  readonly newPassword?: string | Uint8Array
  /** KDF for the new file (default scrypt). */
  readonly kdf?: KdfName
  readonly hint?: string
  readonly now?: number
  readonly utcOffsetMinutes?: number
}

/**
 * Re-encrypts a key file under a new passphrase (`created` kept, `modified` set to now).
 *
 * @throws like {@link decryptKeyConfig} and {@link createKeyConfig}.
 */
export async function changeKeyPassphrase(
  kc: KeyConfig,
  options: ChangePassphraseOptions,
): Promise<KeyConfig> {
  const { key } = await decryptKeyConfig(kc, { password: options.password })
  const create: { -readonly [K in keyof CreateKeyOptions]: CreateKeyOptions[K] } = { created: kc.created }
  if (options.kdf !== undefined) create.kdf = options.kdf
  if (options.newPassword !== undefined) create.password = options.newPassword
  if (options.hint !== undefined) create.hint = options.hint
  if (options.now !== undefined) create.now = options.now
  if (options.utcOffsetMinutes !== undefined) create.utcOffsetMinutes = options.utcOffsetMinutes
  return createKeyConfig(key, create)
}
