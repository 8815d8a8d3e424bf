import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  checkManifestFingerprint,
  chunkCryptMode,
  computeManifestSignature,
  formatFingerprint,
  type JsonObject,
  manifestFingerprint,
  manifestSignedJson,
  manifestToJsonValue,
  manifestToString,
  parseJson,
  parseManifest,
  prettyJson,
} from '@pxar/datastore'
import { isPxarError } from '@pxar/format'
import { fail, type PbsCase } from '../types.ts'
import { blobEncode } from './blob.ts'
import { caseKey, expectEqual } from './keys.ts'

function readText(c: PbsCase, rel: string): string {
  return readFileSync(join(c.root, rel), 'utf8')
}

/** Compares two JSON texts semantically (lossless numbers, key order ignored). */
function expectJson(field: string, actual: unknown, expected: unknown): void {
  const a = prettyJson(actual)
  const e = prettyJson(expected)
  if (a !== e) fail(`${field}: got ${a}, expected ${e}`)
}

/** `manifest-sign`: BackupManifest::to_string(key) of the input, byte-exact with the output file. */
export async function manifestSign(c: PbsCase): Promise<void> {
  const [input] = c.inputs
  const [output] = c.outputs
  if (!input || !output) fail('case needs an input and an output')
  const exp = parseJson(readText(c, c.expected)) as JsonObject
  const key = await caseKey(c)
  const m = parseManifest(readText(c, input))
  const text = manifestToString(m, key ? { key } : {})
  if (text !== readText(c, output)) fail(`written manifest differs from ${output}:\n${text}`)
  expectEqual('canonical', manifestSignedJson(m), exp.canonical)
  const written = parseManifest(text, key ? { key } : {})
  expectEqual('signature', written.signature, exp.signature)
  expectEqual('signed', key !== undefined, exp.signed)
  expectEqual('key_fingerprint', key ? formatFingerprint(key.fingerprint()) : null, exp.key_fingerprint)
  expectJson('manifest', manifestToJsonValue(written), exp.manifest)
}

/** `manifest-verify`: BackupManifest::from_data with a key, then check_fingerprint. */
export async function manifestVerify(c: PbsCase): Promise<void> {
  const [input] = c.inputs
  if (!input) fail('case needs an input')
  const exp = parseJson(readText(c, c.expected)) as JsonObject
  const key = await caseKey(c)
  if (!key) fail('manifest-verify case without key')
  const text = readText(c, input)
  const raw = parseJson(text) as JsonObject
  expectEqual('canonical', manifestSignedJson(raw), exp.canonical)
  expectEqual('computed_signature', computeManifestSignature(raw, key), exp.computed_signature)
  expectEqual('signature', raw.signature ?? null, exp.signature)
  let m: ReturnType<typeof parseManifest>
  try {
    m = parseManifest(text, { key })
  } catch (err) {
    if (!isPxarError(err)) throw err
    if (exp.ok !== false) fail(`verification failed: ${err.message}`)
    expectEqual('error', err.message, exp.error)
    const want = String(exp.error).startsWith('wrong key')
      ? 'ERR_MANIFEST_FINGERPRINT'
      : 'ERR_MANIFEST_SIGNATURE'
    expectEqual('error code', err.code, want)
    return
  }
  if (exp.ok !== true) fail('manifest verified, expected a failure')
  let fpOk = true
  try {
    checkManifestFingerprint(m, key)
  } catch {
    fpOk = false
  }
  expectEqual('check_fingerprint_ok', fpOk, exp.check_fingerprint_ok)
  const fp = manifestFingerprint(m)
  expectEqual('fingerprint', fp ? formatFingerprint(fp) : null, exp.fingerprint)
  expectJson(
    'files',
    m.files.map((f) => ({
      chunk_crypt_mode: chunkCryptMode(f.cryptMode),
      crypt_mode: f.cryptMode,
      csum: f.csum,
      filename: f.filename,
      size: f.size,
    })),
    exp.files,
  )
}

/** `datastore-manifest`: the mini datastore's manifests (sign) and their `index.json.blob` (encode). */
export async function datastoreManifest(c: PbsCase): Promise<void> {
  if (c.command[1] === 'manifest-sign') return manifestSign(c)
  if (c.command[1] === 'blob-encode') return blobEncode(c)
  fail(`unknown datastore-manifest command ${String(c.command[1])}`)
}
