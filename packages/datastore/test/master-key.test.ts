import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { SHARED_DIR } from '../../../scripts/vectors.ts'
import {
  createKeyConfig,
  decodeBlob,
  decryptKeyConfig,
  encodeRsaEncryptedKeyBlob,
  formatFingerprint,
  fromHex,
  generateMasterKeyPair,
  inspectBlob,
  paperkeyText,
  parseKeyConfig,
  rsaDecryptKeyConfig,
  rsaEncryptKeyConfig,
  serializeKeyConfig,
  sha256,
  toHex,
} from '../src/formats.ts'

const KEY = Uint8Array.from({ length: 32 }, (_, i) => i)
const FP = '0e:ab:d4:46:0b:6e:b9:ca:34:50:23:de:e2:b7:78:c7:90:e5:4a:16:83:b9:65:9c:0a:57:ae:19:90:90:15:9b'

// The upstream test RSA key (spec vectors A2) and the wrapped-key vector (B11), read from the spec.
const spec = readFileSync(join(SHARED_DIR, 'spec', 'vectors.md'), 'utf8')

function specNumber(name: string): bigint {
  const m = new RegExp(`\\* \`${name}\` \\(\\d+ digits?\\):\\n\\s*\`\`\`\\n([\\d\\s]+?)\`\`\``).exec(spec)
  if (!m) throw new Error(`RSA component ${name} not found in the spec`)
  return BigInt(m[1]!.replace(/\s+/g, ''))
}

function b64url(n: bigint): string {
  let hex = n.toString(16)
  if (hex.length % 2) hex = `0${hex}`
  return Buffer.from(hex, 'hex').toString('base64url')
}

function upstreamKey(): { priv: KeyObject; pub: KeyObject } {
  const jwk = {
    kty: 'RSA',
    n: b64url(specNumber('n')),
    e: b64url(specNumber('e')),
    d: b64url(specNumber('d')),
    p: b64url(specNumber('p')),
    q: b64url(specNumber('q')),
    dp: b64url(specNumber('dmp1')),
    dq: b64url(specNumber('dmq1')),
    qi: b64url(specNumber('iqmp')),
  }
  const priv = createPrivateKey({ key: jwk, format: 'jwk' })
  return { priv, pub: createPublicKey(priv) }
}

describe('master key', () => {
  it('B11: decrypts the deterministic RSA-wrapped key file', async () => {
    const section = spec.slice(spec.indexOf('### B11.'))
    const block = /```\n([0-9a-f\n]+)```/.exec(section)![1]!.replace(/\n/g, '')
    const ct = fromHex(block)
    const { priv } = upstreamKey()
    const kc = rsaDecryptKeyConfig(ct, priv)
    const k = await decryptKeyConfig(kc)
    expect(k.key).toEqual(KEY)
    expect(formatFingerprint(k.fingerprint)).toBe(FP)
    const blobHex = /`42ab3807be8370a1` ‖ CRC32 bytes `([0-9a-f]{8})`/.exec(section)![1]!
    const blob = new Uint8Array([...fromHex('42ab3807be8370a1'), ...fromHex(blobHex), ...ct])
    expect(decodeBlob(blob)).toEqual(ct)
    expect(toHex(sha256(blob))).toBe(/SHA-256\n`([0-9a-f]{64})`/.exec(section)![1])
  })

  it('A2: round trip through the upstream public key, and the blob is uncompressed/unencrypted', async () => {
    const { priv, pub } = upstreamKey()
    const kc = await createKeyConfig(KEY, { kdf: 'none', now: 0, utcOffsetMinutes: 0 })
    const ct = rsaEncryptKeyConfig(kc, pub)
    expect(ct.length).toBe(512)
    const back = rsaDecryptKeyConfig(ct, priv)
    expect(serializeKeyConfig(back)).toBe(serializeKeyConfig(kc))
    const blob = encodeRsaEncryptedKeyBlob(KEY, pub, { created: kc.created, now: 5 })
    expect(inspectBlob(blob).kind).toBe('uncompressed')
    const wrapped = rsaDecryptKeyConfig(decodeBlob(blob), priv)
    expect(wrapped.created).toBe(kc.created)
    expect((await decryptKeyConfig(wrapped)).key).toEqual(KEY)
  })

  it('generates an encrypted PKCS#8 pair and refuses the wrong passphrase', async () => {
    const pair = await generateMasterKeyPair({ password: 'master-pass', bits: 3072 })
    expect(pair.publicPem).toContain('-----BEGIN PUBLIC KEY-----')
    expect(pair.privatePem).toContain('-----BEGIN ENCRYPTED PRIVATE KEY-----')
    const kc = await createKeyConfig(KEY, { kdf: 'none' })
    const ct = rsaEncryptKeyConfig(kc, pair.publicPem)
    expect(ct.length).toBe(384)
    expect(rsaDecryptKeyConfig(ct, pair.privatePem, { passphrase: 'master-pass' }).data).toEqual(KEY)
    expect(() => rsaDecryptKeyConfig(ct, pair.privatePem, { passphrase: 'nope' })).toThrow(
      expect.objectContaining({ code: 'ERR_KEY_PASSWORD' }),
    )
    const flipped = ct.slice()
    flipped[7]! ^= 1
    expect(() => rsaDecryptKeyConfig(flipped, pair.privatePem, { passphrase: 'master-pass' })).toThrow(
      expect.objectContaining({ code: 'ERR_KEY_FORMAT' }),
    )
    expect(() => rsaEncryptKeyConfig(kc, '-----BEGIN RSA PUBLIC KEY-----\n')).toThrow(
      expect.objectContaining({ code: 'ERR_KEY_FORMAT' }),
    )
    const text = paperkeyText(pair.privatePem)
    expect(text.startsWith(' 0: -----BEGIN ENCRYPTED PRIVATE KEY-----\n')).toBe(true)
  })

  it('prints a key file as a paper key', async () => {
    const kc = await createKeyConfig(KEY, { kdf: 'none', now: 0, utcOffsetMinutes: 0 })
    const text = paperkeyText(serializeKeyConfig(kc), { subject: 'test' })
    expect(text.split('\n').slice(0, 4)).toEqual([
      'Subject: test',
      '',
      '-----BEGIN PROXMOX BACKUP KEY-----',
      '{',
    ])
    const json = text.split('-----BEGIN PROXMOX BACKUP KEY-----\n')[1]!.split('-----END')[0]!
    expect(serializeKeyConfig(parseKeyConfig(json))).toBe(serializeKeyConfig(kc))
  })
})
