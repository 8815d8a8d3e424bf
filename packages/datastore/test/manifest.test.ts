import { pbkdf2Sync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isPxarError } from '@pxar/format'
import { describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import {
  checkManifestFingerprint,
  manifestKeyFromIdKey,
  manifestToString,
  parseManifest,
  signManifest,
} from '../src/manifest.ts'

const dir = join(vectorsDir('pbs'), 'manifest')
const read = (name: string) => readFileSync(join(dir, name), 'utf8')

/** Key of a `kdf: null` key file (raw key in `data`). */
function plainKey(file: string) {
  const raw = Buffer.from(
    JSON.parse(readFileSync(join(vectorsDir('pbs'), 'keys', file), 'utf8')).data,
    'base64',
  )
  return manifestKeyFromIdKey(pbkdf2Sync(raw, '_id_key', 10, 32, 'sha256'))
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (e) {
    if (!isPxarError(e)) throw e
    return e.code
  }
}

describe('manifest', () => {
  it('reproduces the upstream signature and text', () => {
    const key = plainKey('unittest.key')
    const m = parseManifest(read('unittest.unsigned.json'))
    const signed = signManifest(m, key)
    expect(signed.signature).toBe('d7b446fb7db081662081d4b40fedd858a1d6307a5aff4ecff7d5bf4fd35679e9')
    expect(manifestToString(m, { key })).toBe(read('unittest.signed-unittest.json'))
    expect(parseManifest(read('unittest.signed-unittest.json'), { key }).signature).toBe(signed.signature)
  })
  it('writes unsigned manifests as the client does', () => {
    expect(manifestToString(parseManifest(read('host-elsa.unsigned.json')))).toBe(
      read('host-elsa.plain.json'),
    )
  })
  it('detects tampering, ignores unprotected changes, checks the key', () => {
    const key = plainKey('none.key')
    expect(codeOf(() => parseManifest(read('host-elsa.signed-none.json'), { key }))).toBeUndefined()
    expect(
      codeOf(() => parseManifest(read('host-elsa.signed-none.unprotected-changed.json'), { key })),
    ).toBeUndefined()
    expect(codeOf(() => parseManifest(read('host-elsa.signed-none.tampered.json'), { key }))).toBe(
      'ERR_MANIFEST_SIGNATURE',
    )
    const other = plainKey('unittest.key')
    expect(codeOf(() => parseManifest(read('host-elsa.signed-none.json'), { key: other }))).toBe(
      'ERR_MANIFEST_FINGERPRINT',
    )
    const m = parseManifest(read('host-elsa.signed-none.json'))
    expect(codeOf(() => checkManifestFingerprint(m))).toBe('ERR_MANIFEST_FINGERPRINT')
    expect(codeOf(() => checkManifestFingerprint(m, other))).toBe('ERR_MANIFEST_FINGERPRINT')
    expect(codeOf(() => checkManifestFingerprint(m, key))).toBeUndefined()
  })
  it('gives typed errors for every truncation and bit flip', () => {
    const key = plainKey('none.key')
    const bytes = new TextEncoder().encode(read('host-elsa.signed-none.json'))
    for (let i = 0; i < bytes.length; i++) {
      const code = codeOf(() => parseManifest(bytes.subarray(0, i), { key }))
      expect(code).toBe('ERR_MANIFEST_FORMAT')
    }
    for (let i = 0; i < bytes.length; i += 3) {
      const flipped = bytes.slice()
      flipped[i]! ^= 1 << (i % 8)
      const code = codeOf(() => parseManifest(flipped, { key }))
      expect([
        undefined,
        'ERR_MANIFEST_FORMAT',
        'ERR_MANIFEST_SIGNATURE',
        'ERR_MANIFEST_FINGERPRINT',
      ]).toContain(code)
    }
  })
})

describe('sign-only manifests', () => {
  it('reproduces the derived sign-only vector (B9) with the bytes(0..32) key', async () => {
    const { CryptConfig } = await import('../src/index.ts')
    const key = new CryptConfig(Uint8Array.from({ length: 32 }, (_, i) => i))
    const files = [
      ['test.conf.blob', 55, '246cfb51369646ae85aeb34fee6f9444ac6dc4e47201510d705bbe6277369d2d'],
      ['root.pxar.didx', 4139, '420bb68cc051c98a272684f2e076c80207f1fb45234e18c5b2c175a94e94ab0e'],
      ['disk.img.fidx', 4139, 'f18523647e7b72e35ed28fbab27eda29add20d9a8c63cf624c9a60043b718a60'],
    ] as const
    const m = {
      backupType: 'host',
      backupId: 'elsa',
      backupTime: 1593179765,
      files: files.map(([filename, size, csum]) => ({
        filename,
        size,
        csum,
        cryptMode: 'sign-only' as const,
      })),
      unprotected: {},
      signature: null,
    } as const
    const signed = signManifest(m, key)
    expect(signed.signature).toBe('b9e3e31897ab0611cd564fc2b7c652eab36acc16aac264f3f1e0c43a66e891df')
    expect(signed.unprotected['key-fingerprint']).toBe(
      '0e:ab:d4:46:0b:6e:b9:ca:34:50:23:de:e2:b7:78:c7:90:e5:4a:16:83:b9:65:9c:0a:57:ae:19:90:90:15:9b',
    )
    // reordering files changes the signature
    const swapped = signManifest({ ...m, files: [...m.files].reverse() }, key)
    expect(swapped.signature).not.toBe(signed.signature)
    // the written text verifies with the key
    expect(parseManifest(manifestToString(m, { key }), { key }).signature).toBe(signed.signature)
  })
})
