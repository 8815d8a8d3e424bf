/**
 * The snapshot manifest (`index.json`, stored as `index.json.blob`), as in PBS
 * `pbs-datastore/src/manifest.rs`: model, parsing, pretty serialization, HMAC signing with the
 * key's `id_key`, signature verification and the fingerprint check.
 */
import { createHash, createHmac } from 'node:crypto'
import { PxarError } from '@pxar/format'
import {
  canonicalJson,
  JsonFloat,
  type JsonObject,
  type JsonValue,
  parseJson,
  prettyJson,
} from './canonical-json.ts'

/** Name of the manifest blob inside a snapshot directory. */
export const MANIFEST_BLOB_NAME = 'index.json.blob'
/** Name of the optional client log blob (not listed in the manifest). */
export const CLIENT_LOG_BLOB_NAME = 'client.log.blob'
/** Name of the catalog index. */
export const CATALOG_NAME = 'catalog.pcat1.didx'
/** Name of the RSA-wrapped key blob. */
export const ENCRYPTED_KEY_BLOB_NAME = 'rsa-encrypted.key.blob'

/** The crypt modes of a manifest file entry. */
export const CRYPT_MODES = ['none', 'encrypt', 'sign-only'] as const
/** `none`, `encrypt` or `sign-only`. */
export type CryptMode = (typeof CRYPT_MODES)[number]

/** Backup types, in the server's listing order. */
export const BACKUP_TYPES = ['ct', 'host', 'vm'] as const
/** `vm`, `ct` or `host`. */
export type BackupType = (typeof BACKUP_TYPES)[number]

/**
 * What manifest signing needs from a key: PBS `CryptConfig::compute_auth_tag`
 * (HMAC-SHA256 keyed with `id_key`) and the 32-byte key fingerprint.
 * {@link manifestKeyFromIdKey} builds one from a raw `id_key`.
 */
export interface ManifestKey {
  computeAuthTag(data: Uint8Array): Uint8Array
  fingerprint(): Uint8Array
}

/** A manifest file entry (`FileInfo`). */
export interface ManifestFile {
  readonly filename: string
  readonly cryptMode: CryptMode
  /** Encoded blob size, or the logical size of an index. */
  readonly size: number
  /** 32-byte SHA-256 (blob) or index checksum, as lowercase hex. */
  readonly csum: string
}

/** A backup manifest (`BackupManifest`). */
export interface BackupManifest {
  readonly backupType: BackupType
  readonly backupId: string
  /** Epoch seconds. */
  readonly backupTime: number
  readonly files: readonly ManifestFile[]
  /** Data not covered by the signature (`key-fingerprint`, `verify_state`, `notes`, ...). */
  readonly unprotected: JsonObject
  /** Lowercase hex HMAC-SHA256, or null when unsigned. */
  readonly signature: string | null
}

/** Builds a {@link ManifestKey} from a raw 32-byte `id_key` (see `crypto.md` §2). */
export function manifestKeyFromIdKey(idKey: Uint8Array): ManifestKey {
  if (idKey.length !== 32) throw new RangeError('id_key must be 32 bytes')
  const id = Uint8Array.from(idKey)
  const fp = new Uint8Array(createHash('sha256').update(FINGERPRINT_INPUT).update(id).digest())
  return {
    computeAuthTag: (data) => new Uint8Array(createHmac('sha256', id).update(data).digest()),
    fingerprint: () => fp.slice(),
  }
}

/** SHA-256("Proxmox Backup Encryption Key Fingerprint"). */
const FINGERPRINT_INPUT = Uint8Array.from(
  Buffer.from('6ed0ef77471fff4d55c7a8fe4a9db62161407f134c725ddf30992d25ec45ed26', 'hex'),
)

const HEX = /^[0-9a-fA-F]{64}$/

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/** Full fingerprint form: 32 bytes as lowercase hex pairs joined by `:`. */
function formatFingerprint(fp: Uint8Array): string {
  return Array.from(fp, (b) => b.toString(16).padStart(2, '0')).join(':')
}

/** Short (display) form: the first 8 bytes, as PBS prints in messages. */
function formatFingerprintShort(fp: Uint8Array): string {
  return formatFingerprint(fp.subarray(0, 8))
}

/** Parses a fingerprint string (`:` separators removed, then 32 bytes of hex, any case). */
function parseManifestFingerprint(text: string): Uint8Array<ArrayBuffer> {
  const hex = text.replaceAll(':', '')
  if (!HEX.test(hex)) throw new PxarError('ERR_MANIFEST_FORMAT', `invalid key fingerprint '${text}'`)
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}

function bad(msg: string): never {
  throw new PxarError('ERR_MANIFEST_FORMAT', `invalid manifest: ${msg}`)
}

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof JsonFloat)
}

function u64(v: JsonValue | undefined, what: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v
  if (typeof v === 'bigint' && v >= 0n) bad(`${what} ${v} exceeds 2^53`)
  return bad(`${what} must be an unsigned integer`)
}

/** Converts a manifest JSON value (as from {@link parseJson}) into the typed model. */
export function manifestFromJson(json: JsonValue): BackupManifest {
  if (!isObject(json)) bad('not a JSON object')
  const type = json['backup-type']
  if (typeof type !== 'string' || !(BACKUP_TYPES as readonly string[]).includes(type)) bad('bad backup-type')
  const id = json['backup-id']
  if (typeof id !== 'string') bad('bad backup-id')
  const time = json['backup-time']
  if (typeof time !== 'number' || !Number.isSafeInteger(time)) bad('bad backup-time')
  const files = json.files
  if (!Array.isArray(files)) bad('files must be an array')
  const parsed = (files as readonly JsonValue[]).map((f, i): ManifestFile => {
    if (!isObject(f)) bad(`files[${i}] is not an object`)
    const filename = f.filename
    if (typeof filename !== 'string') bad(`files[${i}].filename must be a string`)
    const mode = f['crypt-mode'] ?? 'none'
    if (typeof mode !== 'string' || !(CRYPT_MODES as readonly string[]).includes(mode)) {
      bad(`files[${i}] has an unknown crypt-mode`)
    }
    const csum = f.csum
    if (typeof csum !== 'string' || !HEX.test(csum)) bad(`files[${i}].csum must be 64 hex digits`)
    return {
      filename,
      cryptMode: mode as CryptMode,
      size: u64(f.size, `files[${i}].size`),
      csum: csum.toLowerCase(),
    }
  })
  const unprotected = json.unprotected ?? Object.create(null)
  if (!isObject(unprotected)) bad('unprotected must be an object')
  const sig = json.signature ?? null
  if (sig !== null && typeof sig !== 'string') bad('signature must be a string or null')
  return {
    backupType: type as BackupType,
    backupId: id,
    backupTime: time,
    files: parsed,
    unprotected,
    signature: sig,
  }
}

/** The manifest as a plain JSON object with PBS's kebab-case keys (what serde emits). */
export function manifestToJsonValue(m: BackupManifest): JsonObject {
  return {
    'backup-type': m.backupType,
    'backup-id': m.backupId,
    'backup-time': m.backupTime,
    files: m.files.map((f) => ({
      filename: f.filename,
      'crypt-mode': f.cryptMode,
      size: f.size,
      csum: f.csum,
    })),
    unprotected: m.unprotected,
    signature: m.signature,
  }
}

/** The canonical JSON that is signed: the manifest without `unprotected` and `signature`. */
export function manifestSignedJson(m: BackupManifest | JsonObject): string {
  const json = 'backupType' in m ? manifestToJsonValue(m as BackupManifest) : (m as JsonObject)
  const { unprotected: _u, signature: _s, ...rest } = json
  return canonicalJson(rest)
}

/** Lowercase hex HMAC-SHA256 (with the key's id_key) over {@link manifestSignedJson}. */
export function computeManifestSignature(m: BackupManifest | JsonObject, key: ManifestKey): string {
  return toHex(key.computeAuthTag(new TextEncoder().encode(manifestSignedJson(m))))
}

/**
 * Signs a manifest (PBS `to_string(Some(crypt_config))`): sets `signature` and
 * `unprotected["key-fingerprint"]`. Used for both `encrypt` and `sign-only` backups.
 */
export function signManifest(m: BackupManifest, key: ManifestKey): BackupManifest {
  const signature = computeManifestSignature(m, key)
  const unprotected: JsonObject = {
    ...m.unprotected,
    'key-fingerprint': formatFingerprint(key.fingerprint()),
  }
  return { ...m, unprotected, signature }
}

/**
 * Serializes a manifest as the client writes `index.json` (pretty JSON, sorted keys). With a
 * key the manifest is signed first (see {@link signManifest}).
 */
export function manifestToString(m: BackupManifest, options: { key?: ManifestKey } = {}): string {
  const out = options.key ? signManifest(m, options.key) : m
  return prettyJson(manifestToJsonValue(out))
}

/** The key fingerprint recorded in `unprotected["key-fingerprint"]`, if any. */
export function manifestFingerprint(m: BackupManifest): Uint8Array | undefined {
  const fp = m.unprotected['key-fingerprint']
  if (fp === undefined || fp === null) return undefined
  if (typeof fp !== 'string') bad('key-fingerprint must be a string')
  return parseManifestFingerprint(fp)
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/**
 * PBS `check_fingerprint`: a manifest carrying a key fingerprint needs that very key.
 * @throws PxarError `ERR_MANIFEST_FINGERPRINT` ("missing key" / "wrong key").
 */
export function checkManifestFingerprint(m: BackupManifest, key?: ManifestKey): void {
  const fp = manifestFingerprint(m)
  if (fp === undefined) return
  if (!key) {
    throw new PxarError(
      'ERR_MANIFEST_FINGERPRINT',
      `missing key - manifest was created with key ${formatFingerprintShort(fp)}`,
    )
  }
  const own = key.fingerprint()
  if (!sameBytes(fp, own)) {
    throw new PxarError(
      'ERR_MANIFEST_FINGERPRINT',
      `wrong key - manifest's key ${formatFingerprintShort(fp)} does not match provided key ${formatFingerprintShort(own)}`,
    )
  }
}

/** Options of {@link parseManifest}. */
export interface ParseManifestOptions {
  /** Verify the signature (if the manifest has one) with this key. */
  readonly key?: ManifestKey
}

/**
 * Parses manifest JSON (`BackupManifest::from_data`). With a key and a `signature`, the
 * signature is recomputed over the *raw* JSON (unknown fields included) and must match; a
 * `key-fingerprint`, when present, must be the key's. Without a key (or without a signature)
 * nothing is verified. Unknown fields are dropped from the returned model.
 *
 * @throws PxarError `ERR_MANIFEST_FORMAT` (syntax/structure), `ERR_MANIFEST_FINGERPRINT`
 *   (wrong key), `ERR_MANIFEST_SIGNATURE` (tampered content).
 */
export function parseManifest(data: Uint8Array | string, options: ParseManifestOptions = {}): BackupManifest {
  let text: string
  if (typeof data === 'string') text = data
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(data)
    } catch (cause) {
      throw new PxarError('ERR_MANIFEST_FORMAT', 'invalid manifest: not UTF-8', { cause })
    }
  }
  const json = parseJson(text)
  if (!isObject(json)) bad('not a JSON object')
  const { key } = options
  const signature = json.signature
  if (key && typeof signature === 'string') {
    const unprotected = json.unprotected
    const fpValue = isObject(unprotected) ? unprotected['key-fingerprint'] : undefined
    if (fpValue !== undefined && fpValue !== null) {
      if (typeof fpValue !== 'string') bad('key-fingerprint must be a string')
      const fp = parseManifestFingerprint(fpValue)
      const own = key.fingerprint()
      if (!sameBytes(fp, own)) {
        throw new PxarError(
          'ERR_MANIFEST_FINGERPRINT',
          `wrong key - unable to verify signature since manifest's key ${formatFingerprintShort(fp)} does not match provided key ${formatFingerprintShort(own)}`,
        )
      }
    }
    if (computeManifestSignature(json, key) !== signature) {
      throw new PxarError('ERR_MANIFEST_SIGNATURE', 'wrong signature in manifest')
    }
  }
  return manifestFromJson(json)
}

/** The chunk crypt mode of an index listed with this crypt mode (`encrypt` stays, else `none`). */
export function chunkCryptMode(mode: CryptMode): 'none' | 'encrypt' {
  return mode === 'encrypt' ? 'encrypt' : 'none'
}
