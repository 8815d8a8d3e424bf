import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import {
  DynamicIndex,
  DynamicIndexFileWriter,
  DynamicIndexWriter,
  FixedIndex,
  FixedIndexWriter,
  readDynamicIndexFile,
  readFixedIndexFile,
  sha256,
  tempIndexPath,
  toHex,
} from '../src/formats.ts'

const TEXT = new TextEncoder().encode('The quick brown fox jumps over the lazy dog')
const AAAA = new Uint8Array(4096).fill(0x41)
const UUID = Uint8Array.from({ length: 16 }, (_, i) => i)
const CTIME = 1593179765

const dir = mkdtempSync(join(tmpdir(), 'pxar-index-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).name
  }
  return undefined
}

function sampleDidx(n = 5): Uint8Array<ArrayBuffer> {
  const w = new DynamicIndexWriter({ uuid: UUID, ctime: CTIME })
  for (let i = 0; i < n; i++) w.addChunk(1000 + i, sha256(Uint8Array.of(i)))
  return w.finish().bytes
}

describe('dynamic index', () => {
  it('B5: TEXT || AAAA index is byte-exact', () => {
    const w = new DynamicIndexWriter({ uuid: UUID, ctime: CTIME })
    w.addChunk(TEXT.length, sha256(TEXT))
    w.addChunk(AAAA.length, sha256(AAAA))
    const out = w.finish()
    expect(toHex(out.csum)).toBe('420bb68cc051c98a272684f2e076c80207f1fb45234e18c5b2c175a94e94ab0e')
    expect(out.size).toBe(4139)
    expect(out.bytes.length).toBe(4176)
    expect(toHex(sha256(out.bytes))).toBe('c676fbb52b35225eb30265bf0c77f82637b8bf8871e5bd8aecdc92117d3bc4a3')
    const index = DynamicIndex.parse(out.bytes)
    index.verifyCsum(out.csum)
    expect(index.chunkFromOffset(0)).toEqual({ index: 0, offset: 0 })
    expect(index.chunkFromOffset(42)).toEqual({ index: 0, offset: 42 })
    expect(index.chunkFromOffset(43)).toEqual({ index: 1, offset: 0 })
    expect(index.chunkFromOffset(4138)).toEqual({ index: 1, offset: 4095 })
    expect(index.chunkFromOffset(4139)).toBeUndefined()
    expect(index.ctime).toBe(CTIME)
    expect(index.uuid).toEqual(UUID)
  })

  it('chunkFromOffset agrees with a linear scan', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 60 }),
        fc.nat(),
        (sizes, pick) => {
          const w = new DynamicIndexWriter()
          for (const s of sizes) w.addChunk(s, new Uint8Array(32))
          const index = DynamicIndex.parse(w.finish().bytes)
          const offset = pick % index.size
          let i = 0
          while (index.end(i) <= offset) i++
          expect(index.chunkFromOffset(offset)).toEqual({ index: i, offset: offset - index.start(i) })
        },
      ),
    )
  })

  it('refuses empty, truncated, misaligned and non-monotonic indexes with typed errors', () => {
    expect(codeOf(() => DynamicIndex.parse(new DynamicIndexWriter().finish().bytes))).toBe('ERR_INDEX_EMPTY')
    const bytes = sampleDidx()
    for (let len = 0; len < bytes.length; len++) {
      const code = codeOf(() => DynamicIndex.parse(bytes.subarray(0, len)))
      if (len >= 4096 && (len - 4096) % 40 === 0 && len > 4096) expect(code).toBeUndefined()
      else expect(code).toMatch(/^ERR_INDEX_(FORMAT|EMPTY)$/)
    }
    const badMagic = bytes.slice()
    badMagic[3]! ^= 1
    expect(codeOf(() => DynamicIndex.parse(badMagic))).toBe('ERR_INDEX_MAGIC')
    const backwards = bytes.slice()
    new DataView(backwards.buffer).setUint32(4096 + 40, 5, true) // second end below the first
    expect(codeOf(() => DynamicIndex.parse(backwards))).toBe('ERR_INDEX_FORMAT')
    const huge = bytes.slice()
    new DataView(huge.buffer).setUint32(4096 + 4 * 40 + 4, 0xffffffff, true)
    expect(codeOf(() => DynamicIndex.parse(huge))).toBe('ERR_INDEX_FORMAT')
  })

  it('detects every bit flip in the entry area via the checksum', () => {
    const bytes = sampleDidx(3)
    for (let i = 4096; i < bytes.length; i++) {
      const bad = bytes.slice()
      bad[i]! ^= 1 << (i % 8)
      const code = codeOf(() => DynamicIndex.parse(bad).verifyCsum())
      expect(code).toMatch(/^ERR_INDEX_(CSUM|FORMAT)$/)
    }
  })

  it('file writer streams to <name>.tmp_didx and renames on close', async () => {
    const path = join(dir, 'root.pxar.didx')
    expect(tempIndexPath(path, 'tmp_didx')).toBe(join(dir, 'root.pxar.tmp_didx'))
    const w = await DynamicIndexFileWriter.create(path, { uuid: UUID, ctime: CTIME })
    const mem = new DynamicIndexWriter({ uuid: UUID, ctime: CTIME })
    for (let i = 0; i < 5000; i++) {
      const d = sha256(Uint8Array.of(i & 0xff, i >> 8))
      w.addChunk(100 + (i % 7), d)
      mem.addChunk(100 + (i % 7), d)
    }
    expect(existsSync(join(dir, 'root.pxar.tmp_didx'))).toBe(true)
    const summary = await w.close()
    expect(existsSync(join(dir, 'root.pxar.tmp_didx'))).toBe(false)
    const expected = mem.finish()
    expect(readFileSync(path)).toEqual(Buffer.from(expected.bytes))
    expect(summary.csum).toEqual(expected.csum)
    const index = await readDynamicIndexFile(path)
    expect(index.count).toBe(5000)
    index.verifyCsum(summary.csum)
  })

  it('abort removes the temp file', async () => {
    const path = join(dir, 'aborted.didx')
    const w = await DynamicIndexFileWriter.create(path)
    w.addChunk(10, new Uint8Array(32))
    await w.abort()
    expect(readdirSync(dir).filter((n) => n.startsWith('aborted'))).toEqual([])
  })

  it('rejects non-growing ends and bad digests at write time', () => {
    const w = new DynamicIndexWriter()
    w.add(10, new Uint8Array(32))
    expect(() => w.add(10, new Uint8Array(32))).toThrow(RangeError)
    expect(() => w.add(20, new Uint8Array(31))).toThrow(RangeError)
  })
})

describe('fixed index', () => {
  it('B5: AAAA || TEXT image with 4 KiB chunks is byte-exact', () => {
    const w = new FixedIndexWriter({ uuid: UUID, ctime: CTIME, size: 4139, chunkSize: 4096 })
    w.addChunk(4096, 43, sha256(TEXT))
    w.addChunk(0, 4096, sha256(AAAA))
    const out = w.finish()
    expect(toHex(out.csum)).toBe('f18523647e7b72e35ed28fbab27eda29add20d9a8c63cf624c9a60043b718a60')
    expect(out.bytes.length).toBe(4160)
    expect(toHex(sha256(out.bytes))).toBe('49832b2b0f2843e4de516eb84302df4437492d8598f98debac03e51ee89b53bb')
    const index = FixedIndex.parse(out.bytes)
    index.verifyCsum(out.csum)
    expect(index.chunkFromOffset(4100)).toEqual({ index: 1, offset: 4 })
    expect(index.chunkRange(1)).toEqual({ start: 4096, end: 4139 })
    expect(index.chunkFromOffset(4139)).toBeUndefined()
  })

  it('checks sizes and alignment', () => {
    expect(() => new FixedIndexWriter({ size: 0 })).toThrow('invalid index size')
    expect(() => new FixedIndexWriter({ size: 10, chunkSize: 3000 })).toThrow(RangeError)
    const w = new FixedIndexWriter({ size: 10000, chunkSize: 4096 })
    expect(() => w.addChunk(100, 4096, new Uint8Array(32))).toThrow(RangeError)
    expect(() => w.addChunk(8192, 4096, new Uint8Array(32))).toThrow(RangeError)
    expect(() => w.addChunk(0, 100, new Uint8Array(32))).toThrow(RangeError)
    w.addChunk(8192, 1808, new Uint8Array(32))
  })

  it('typed errors for truncation and corrupt headers', () => {
    const bytes = new FixedIndexWriter({ size: 3 * 4096 + 1, chunkSize: 4096 }).finish().bytes
    for (let len = 0; len < bytes.length; len++) {
      expect(codeOf(() => FixedIndex.parse(bytes.subarray(0, len)))).toBe('ERR_INDEX_FORMAT')
    }
    for (let i = 0; i < 80; i++) {
      const bad = bytes.slice()
      bad[i]! ^= 1 << (i % 8)
      const code = codeOf(() => FixedIndex.parse(bad).verifyCsum())
      if (i < 8) expect(code).toBe('ERR_INDEX_MAGIC')
      else if (i < 32)
        expect(code).toBeUndefined() // uuid and ctime are not covered
      else if (i < 64) expect(code).toBe('ERR_INDEX_CSUM')
      else if (code !== undefined) expect(code).toBe('ERR_INDEX_FORMAT') // size bits that keep the count are legal
    }
  })

  it('reuse() starts from a previous index', () => {
    const first = new FixedIndexWriter({ size: 3 * 4096, chunkSize: 4096 })
    for (let i = 0; i < 3; i++) first.setDigest(i, sha256(Uint8Array.of(i)))
    const previous = FixedIndex.parse(first.finish().bytes)
    const next = FixedIndexWriter.reuse(previous, { uuid: UUID })
    next.setDigest(1, sha256(Uint8Array.of(9)))
    const index = FixedIndex.parse(next.finish().bytes)
    expect(index.digest(0)).toEqual(previous.digest(0))
    expect(index.digest(1)).toEqual(sha256(Uint8Array.of(9)))
    expect(index.uuid).toEqual(UUID)
  })

  it('reports I/O failures as ERR_STORE_IO', async () => {
    const missing = join(dir, 'no-such-dir', 'x.fidx')
    await expect(new FixedIndexWriter({ size: 1 }).writeFile(missing)).rejects.toMatchObject({
      code: 'ERR_STORE_IO',
    })
    await expect(DynamicIndexFileWriter.create(join(dir, 'no-such-dir', 'x.didx'))).rejects.toMatchObject({
      code: 'ERR_STORE_IO',
    })
  })

  it('writes atomically to a file', async () => {
    const path = join(dir, 'drive-scsi0.img.fidx')
    const w = new FixedIndexWriter({ size: 9 * 1024 * 1024 })
    for (let i = 0; i < w.count; i++) w.setDigest(i, sha256(Uint8Array.of(i)))
    const summary = await w.writeFile(path)
    expect(existsSync(join(dir, 'drive-scsi0.img.tmp_fidx'))).toBe(false)
    const index = await readFixedIndexFile(path)
    expect(index.count).toBe(3)
    index.verifyCsum(summary.csum)
    expect(index.digest(2)).toEqual(sha256(Uint8Array.of(2)))
    expect(codeOf(() => index.digest(3))).toBe('ERR_INDEX_RANGE')
  })
})
