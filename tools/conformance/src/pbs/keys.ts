import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  type CryptConfig,
  decryptKeyConfig,
  formatFingerprint,
  keyInfo,
  parseKeyConfig,
  toHex,
} from '@pxar/datastore'
import { isPxarError } from '@pxar/format'
import { fail, type PbsCase } from '../types.ts'

/** Reads a JSON file of the vector directory. */
export function readCaseJson(c: PbsCase, rel: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(c.root, rel), 'utf8')) as Record<string, unknown>
}

/** Value following `flag` in the case's oracle command. */
export function commandOption(c: PbsCase, flag: string): string | undefined {
  const i = c.command.indexOf(flag)
  return i >= 0 ? c.command[i + 1] : undefined
}

/** Asserts `actual === expected` for a named field. */
export function expectEqual(field: string, actual: unknown, expected: unknown): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    fail(`${field}: got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`)
  }
}

const keyCache = new Map<string, Promise<CryptConfig>>()

/** CryptConfig of the case's `--keyfile`/`--password`, or undefined without `--keyfile`. */
export function caseKey(c: PbsCase): Promise<CryptConfig> | undefined {
  const file = commandOption(c, '--keyfile')
  if (file === undefined) return undefined
  const password = commandOption(c, '--password')
  const id = `${c.root}\0${file}\0${password ?? ''}`
  let p = keyCache.get(id)
  if (!p) {
    const kc = parseKeyConfig(readFileSync(join(c.root, file)))
    p = decryptKeyConfig(kc, { password }).then((k) => k.cryptConfig)
    keyCache.set(id, p)
  }
  return p
}

function checkFileView(c: PbsCase, exp: Record<string, unknown>): ReturnType<typeof parseKeyConfig> {
  const file = c.inputs[0]!
  const kc = parseKeyConfig(readFileSync(join(c.root, file)))
  const info = keyInfo(kc)
  expectEqual('key_info', sortKeys(info), sortKeys(exp.key_info as Record<string, unknown>))
  expectEqual('created', info.created, exp.created)
  expectEqual('modified', info.modified, exp.modified)
  expectEqual('data', toHex(kc.data), exp.data)
  expectEqual('hint', kc.hint ?? null, exp.hint)
  expectEqual(
    'fingerprint_stored',
    kc.fingerprint ? formatFingerprint(kc.fingerprint) : null,
    exp.fingerprint_stored,
  )
  const kdf = kc.kdf === null ? null : { ...kc.kdf, salt: toHex(kc.kdf.salt) }
  expectEqual('kdf', kdf && sortKeys(kdf), exp.kdf && sortKeys(exp.kdf as Record<string, unknown>))
  if (kc.kdf !== null) {
    expectEqual('enc_iv', toHex(kc.data.subarray(0, 16)), exp.enc_iv)
    expectEqual('enc_tag', toHex(kc.data.subarray(16, 32)), exp.enc_tag)
    expectEqual('enc_key', toHex(kc.data.subarray(32)), exp.enc_key)
  }
  return kc
}

function sortKeys(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)))
}

export async function key(c: PbsCase): Promise<void> {
  const exp = readCaseJson(c, c.expected)
  const kc = checkFileView(c, exp)
  const password = typeof c.raw.password === 'string' ? c.raw.password : undefined
  const k = await decryptKeyConfig(kc, { password })
  expectEqual('decrypted', true, exp.decrypted)
  expectEqual('raw_key', toHex(k.key), exp.raw_key)
  expectEqual('id_key', toHex(k.cryptConfig.idKey), exp.id_key)
  expectEqual('fingerprint', formatFingerprint(k.fingerprint, { short: true }), exp.fingerprint)
  expectEqual('fingerprint_full', formatFingerprint(k.fingerprint), exp.fingerprint_full)
}

async function expectKeyError(c: PbsCase, code: string): Promise<void> {
  const exp = readCaseJson(c, c.expected)
  const kc = checkFileView(c, exp)
  expectEqual('decrypted', false, exp.decrypted)
  const password = typeof c.raw.password === 'string' ? c.raw.password : undefined
  try {
    await decryptKeyConfig(kc, { password })
  } catch (err) {
    if (!isPxarError(err) || err.code !== code) throw err
    const expected = String(exp.error)
    // OpenSSL appends its own error text to the upstream message; compare the upstream part.
    if (!expected.startsWith(err.message))
      fail(`error message ${JSON.stringify(err.message)}, expected ${JSON.stringify(expected)}`)
    return
  }
  fail(`key decrypted, expected ${code}`)
}

export async function keyWrongPassword(c: PbsCase): Promise<void> {
  await expectKeyError(c, 'ERR_KEY_PASSWORD')
}

export async function keyWrongFingerprint(c: PbsCase): Promise<void> {
  await expectKeyError(c, 'ERR_KEY_FINGERPRINT')
}
