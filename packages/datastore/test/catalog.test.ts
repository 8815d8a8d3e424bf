import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isPxarError } from '@pxar/format'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import {
  AsyncCatalogReader,
  CatalogReader,
  CatalogWriter,
  decodeCatalogI64,
  decodeCatalogU64,
  encodeCatalogI64,
  encodeCatalogU64,
} from '../src/catalog.ts'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

describe('catalog varints', () => {
  const u64: [bigint, string][] = [
    [0n, '00'],
    [127n, '7f'],
    [128n, '8001'],
    [300n, 'ac02'],
    [16384n, '808001'],
    [2n ** 50n - 1n, 'ffffffffffffff01'],
    [2n ** 64n - 1n, 'ffffffffffffffffff01'],
  ]
  const i64: [bigint, string][] = [
    [0n, '00'],
    [-1n, '8100'],
    [-126n, 'fe00'],
    [-128n, '808100'],
    [-4097n, '81a000'],
    [-1048577n, '8180c000'],
    [1593179765n, 'f5fcd7f705'],
    [-1593179765n, 'f5fcd7f78500'],
    [-(2n ** 63n), '8080808080808080808100'],
    [2n ** 63n - 1n, 'ffffffffffffffff7f'],
  ]
  it('encodes and decodes u64', () => {
    for (const [v, h] of u64) {
      expect(hex(encodeCatalogU64(v))).toBe(h)
      expect(decodeCatalogU64(Buffer.from(h, 'hex')).value).toBe(v)
      // u64 encodings decode with the i64 decoder to the same bit pattern
      expect(decodeCatalogI64(Buffer.from(h, 'hex')).value).toBe(BigInt.asIntN(64, v))
    }
  })
  it('round-trips any u64/i64 (bigint and number inputs)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (v) => {
        const enc = encodeCatalogU64(v)
        expect(decodeCatalogU64(enc)).toEqual({ value: v, length: enc.length })
        if (v <= BigInt(Number.MAX_SAFE_INTEGER)) expect(encodeCatalogU64(Number(v))).toEqual(enc)
      }),
    )
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (v) => {
        const enc = encodeCatalogI64(v)
        expect(decodeCatalogI64(enc)).toEqual({ value: v, length: enc.length })
        const n = Number(v)
        if (Number.isSafeInteger(n)) expect(encodeCatalogI64(n)).toEqual(enc)
      }),
    )
  })
  it('encodes and decodes i64', () => {
    for (const [v, h] of i64) {
      expect(hex(encodeCatalogI64(v))).toBe(h)
      expect(decodeCatalogI64(Buffer.from(h, 'hex')).value).toBe(v)
    }
  })
})

const B6 =
  '91fd60f9c46758d50b02660161ac0281007001701e04660566696c653104f5fcd7f7056c046c696e6b64037375620c6802686c1201640e726f6f742e707861722e646964781f3300000000000000'

describe('catalog writer/reader', () => {
  it('writes the worked example byte-exact, streaming', () => {
    const w = new CatalogWriter()
    const parts: Uint8Array[] = []
    w.startDirectory('root.pxar.didx')
    w.addFile('file1', 4, 1593179765)
    w.addSymlink('link')
    w.startDirectory('sub')
    w.addFile('a', 300, -1)
    w.addFifo('p')
    w.endDirectory()
    parts.push(w.take())
    w.addHardlink('hl')
    w.endDirectory()
    parts.push(w.take(), w.finish())
    expect(hex(Buffer.concat(parts))).toBe(B6)
  })
  it('lists, looks up and finds', () => {
    const r = new CatalogReader(Buffer.from(B6, 'hex'))
    const archive = r.lookupPath('/root.pxar.didx')
    expect(archive?.type).toBe('d')
    if (archive?.type !== 'd') return
    expect(r.readDir(archive).map((e) => [new TextDecoder().decode(e.name), e.type])).toEqual([
      ['file1', 'f'],
      ['link', 'l'],
      ['sub', 'd'],
      ['hl', 'h'],
    ])
    expect(r.lookupPath('root.pxar.didx/sub/a')).toMatchObject({ type: 'f', size: 300n, mtime: -1n })
    expect(r.lookupPath('root.pxar.didx/nope')).toBeUndefined()
    expect(r.find((e) => e.entry.type === 'p').map((e) => new TextDecoder().decode(e.path))).toEqual([
      'root.pxar.didx/sub/p',
    ])
  })
  it('gives typed errors (never hangs) on every truncation and bit flip', () => {
    const bytes = readFileSync(join(vectorsDir('pbs'), 'catalog', 'basic.pcat1'))
    const exercise = (b: Uint8Array) => {
      try {
        const r = new CatalogReader(b)
        r.dump()
        r.lookupPath('etc/deep/deeper/x')
      } catch (e) {
        if (!isPxarError(e)) throw e
        expect(['ERR_CATALOG_FORMAT', 'ERR_CATALOG_MAGIC']).toContain(e.code)
      }
    }
    for (let i = 0; i < bytes.length; i++) exercise(bytes.subarray(0, i))
    for (let i = 0; i < bytes.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const b = Uint8Array.from(bytes)
        b[i]! ^= 1 << bit
        exercise(b)
      }
    }
  })
  it('rejects misuse', () => {
    const w = new CatalogWriter()
    expect(() => w.addFile('a/b', 1, 1)).toThrow(TypeError)
    expect(() => w.endDirectory()).toThrow(TypeError)
    w.startDirectory('x')
    expect(() => w.finish()).toThrow(TypeError)
  })
  it('async reader over a random-access source matches the in-memory reader', async () => {
    for (const name of ['basic', 'many', 'empty']) {
      const bytes = readFileSync(join(vectorsDir('pbs'), 'catalog', `${name}.pcat1`))
      let maxRead = 0
      const source = {
        size: bytes.length,
        read: async (buf: Uint8Array, pos: number) => {
          maxRead = Math.max(maxRead, buf.length)
          const n = Math.min(buf.length, bytes.length - pos)
          buf.set(bytes.subarray(pos, pos + n))
          return n
        },
      }
      const a = await AsyncCatalogReader.open(source)
      const r = new CatalogReader(bytes)
      expect(await a.dump()).toEqual(r.dump())
      const walked = []
      for await (const e of a.walk()) walked.push(e)
      const norm = (list: { path: Uint8Array; entry: { name: Uint8Array } }[]) =>
        list.map((e) => ({ ...e, path: hex(e.path), entry: { ...e.entry, name: hex(e.entry.name) } }))
      expect(norm(walked)).toEqual(norm([...r.walk()]))
      if (name === 'basic') {
        expect(await a.lookupPath('etc/deep/deeper/file with spaces.txt')).toMatchObject({
          type: 'f',
          size: 0n,
        })
        expect(maxRead).toBeLessThan(bytes.length / 2)
      }
    }
    const bytes = readFileSync(join(vectorsDir('pbs'), 'catalog', 'basic.pcat1'))
    for (let i = 0; i < bytes.length; i++) {
      const b = Uint8Array.from(bytes)
      b[i]! ^= 0x40
      try {
        await (
          await AsyncCatalogReader.open({
            size: b.length,
            read: async (buf, pos) => {
              const n = Math.max(0, Math.min(buf.length, b.length - pos))
              buf.set(b.subarray(pos, pos + n))
              return n
            },
          })
        ).dump()
      } catch (e) {
        if (!isPxarError(e)) throw e
      }
    }
  })
})
