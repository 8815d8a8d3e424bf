import { describe, expect, it } from 'vitest'
import {
  CryptConfig,
  changeKeyPassphrase,
  createKeyConfig,
  decryptKeyConfig,
  formatFingerprint,
  formatKeyTime,
  keyInfo,
  parseFingerprint,
  parseKeyConfig,
  parseKeyTime,
  serializeKeyConfig,
  toHex,
} from '../src/formats.ts'

const KEY = Uint8Array.from({ length: 32 }, (_, i) => i)
const FP = '0e:ab:d4:46:0b:6e:b9:ca:34:50:23:de:e2:b7:78:c7:90:e5:4a:16:83:b9:65:9c:0a:57:ae:19:90:90:15:9b'
const SALT = Uint8Array.from({ length: 32 }, (_, i) => 0x40 + i)
const IV = Uint8Array.from({ length: 16 }, (_, i) => 0x10 + i)
const NOW = Date.UTC(2020, 5, 26, 13, 56, 5) / 1000

// Key files of the spec (B8): raw key bytes(0..32), passphrase "password".
const B8 = {
  none: '{"kdf":null,"created":"2020-06-26T13:56:05+00:00","modified":"2020-06-26T13:56:05+00:00","data":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","fingerprint":"0e:ab:d4:46:0b:6e:b9:ca:34:50:23:de:e2:b7:78:c7:90:e5:4a:16:83:b9:65:9c:0a:57:ae:19:90:90:15:9b"}',
  pbkdf2:
    '{"kdf":{"PBKDF2":{"iter":65535,"salt":"QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8="}},"created":"2020-06-26T13:56:05+00:00","modified":"2020-06-26T13:56:05+00:00","data":"EBESExQVFhcYGRobHB0eHw0lfVBTqazAq1oUI9MDRRKDZWH0Cf7Hi2wi7kAgfBxzGFIAqNH86xu13+RmJMdAdA==","fingerprint":"0e:ab:d4:46:0b:6e:b9:ca:34:50:23:de:e2:b7:78:c7:90:e5:4a:16:83:b9:65:9c:0a:57:ae:19:90:90:15:9b"}',
  scrypt:
    '{"kdf":{"Scrypt":{"n":65536,"r":8,"p":1,"salt":"QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8="}},"created":"2020-06-26T13:56:05+00:00","modified":"2020-06-26T13:56:05+00:00","data":"EBESExQVFhcYGRobHB0eHze9cjXoMiyUGV/TecjAGiF511h7BNIAA04CzjVZk9JLGikhdVpfti0xJ3Apg5lRiw==","fingerprint":"0e:ab:d4:46:0b:6e:b9:ca:34:50:23:de:e2:b7:78:c7:90:e5:4a:16:83:b9:65:9c:0a:57:ae:19:90:90:15:9b"}',
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).name
  }
  return undefined
}

describe('CryptConfig', () => {
  it('derives id_key and fingerprint of the upstream test key (A2)', () => {
    const cc = new CryptConfig(KEY)
    expect(toHex(cc.idKey)).toBe('7c2c013efd07f3b25717a485263343cd4d292a4b65c200bb3b18ea227abe225c')
    expect(cc.fingerprintText()).toBe(FP)
    expect(cc.fingerprintText({ short: true })).toBe('0e:ab:d4:46:0b:6e:b9:ca')
    expect(formatFingerprint(parseFingerprint(FP.toUpperCase()))).toBe(FP)
    expect(cc.computeAuthTag(new Uint8Array(0)).length).toBe(32)
  })

  it('rejects keys that are not 32 bytes', () => {
    expect(() => new CryptConfig(new Uint8Array(31))).toThrow(RangeError)
  })
})

describe('key files', () => {
  for (const [kdf, text] of Object.entries(B8)) {
    it(`B8 ${kdf}: decrypts, and re-creating with the same salt/IV gives the same bytes`, async () => {
      const kc = parseKeyConfig(text)
      const k = await decryptKeyConfig(kc, { password: 'password' })
      expect(k.key).toEqual(KEY)
      expect(formatFingerprint(k.fingerprint)).toBe(FP)
      expect(serializeKeyConfig(kc)).toBe(text)
      const again = await createKeyConfig(KEY, {
        kdf: kdf as 'none' | 'scrypt' | 'pbkdf2',
        ...(kdf === 'none' ? {} : { password: 'password' }),
        salt: SALT,
        iv: IV,
        now: NOW,
        utcOffsetMinutes: 0,
      })
      expect(serializeKeyConfig(again)).toBe(text)
    })
  }

  it('B8 negatives: wrong and too-short passphrase, changed fingerprint', async () => {
    const kc = parseKeyConfig(B8.pbkdf2)
    expect(await codeOf(decryptKeyConfig(kc, { password: 'wrong' }))).toBe('ERR_KEY_PASSWORD')
    expect(await codeOf(decryptKeyConfig(kc, { password: 'pass' }))).toBe('ERR_KEY_PASSWORD')
    expect(await codeOf(decryptKeyConfig(kc))).toBe('ERR_KEY_PASSWORD')
    const badFp = parseKeyConfig(B8.none.replace('15:9b"', '15:9c"'))
    expect(await codeOf(decryptKeyConfig(badFp))).toBe('ERR_KEY_FINGERPRINT')
    const zeroFp = parseKeyConfig(
      B8.none.replace(/"fingerprint":"[^"]*"/, `"fingerprint":"${Array(32).fill('00').join(':')}"`),
    )
    expect(await codeOf(decryptKeyConfig(zeroFp))).toBe('ERR_KEY_FINGERPRINT')
    const noFp = parseKeyConfig(B8.none.replace(/,"fingerprint":"[^"]*"/, ''))
    expect(formatFingerprint((await decryptKeyConfig(noFp)).fingerprint)).toBe(FP)
  })

  it('changes the passphrase keeping created', async () => {
    const kc = await createKeyConfig(KEY, {
      kdf: 'pbkdf2',
      password: 'first-pass',
      hint: 'h',
      now: 1000,
      utcOffsetMinutes: 60,
    })
    expect(kc.created).toBe('1970-01-01T01:16:40+01:00')
    const changed = await changeKeyPassphrase(kc, {
      password: 'first-pass',
      newPassword: 'second-pass',
      now: 2000,
    })
    expect(changed.created).toBe(kc.created)
    expect(keyInfo(changed).modified).toBe(2000)
    expect(keyInfo(changed).kdf).toBe('scrypt')
    expect((await decryptKeyConfig(changed, { password: 'second-pass' })).key).toEqual(KEY)
    expect(await codeOf(decryptKeyConfig(changed, { password: 'first-pass' }))).toBe('ERR_KEY_PASSWORD')
  })

  it('rejects malformed files and hostile KDF parameters', async () => {
    expect(() => parseKeyConfig('nope')).toThrow(expect.objectContaining({ code: 'ERR_KEY_FORMAT' }))
    expect(() => parseKeyConfig(B8.none.replace('+00:00', '.000Z'))).toThrow(
      expect.objectContaining({ code: 'ERR_KEY_FORMAT' }),
    )
    expect(() => parseKeyConfig(B8.none.replace('"kdf":null', '"kdf":{"Argon":{}}'))).toThrow(
      expect.objectContaining({ code: 'ERR_KEY_FORMAT' }),
    )
    const huge = parseKeyConfig(B8.scrypt.replace('"n":65536', '"n":1073741824'))
    expect(await codeOf(decryptKeyConfig(huge, { password: 'password' }))).toBe('ERR_KEY_KDF')
    const odd = parseKeyConfig(B8.scrypt.replace('"n":65536', '"n":1000'))
    expect(await codeOf(decryptKeyConfig(odd, { password: 'password' }))).toBe('ERR_KEY_KDF')
  })

  it('parses and formats timestamps strictly', () => {
    expect(parseKeyTime('2024-07-01T14:00:00+02:00')).toBe(1719835200)
    expect(parseKeyTime('2024-07-01T12:00:00Z')).toBe(1719835200)
    expect(formatKeyTime(1719835200, 120)).toBe('2024-07-01T14:00:00+02:00')
    expect(formatKeyTime(0, -330)).toBe('1969-12-31T18:30:00-05:30')
    expect(() => parseKeyTime('2024-02-30T00:00:00Z')).toThrow()
  })
})
