import { dirMetadata, fileMetadata, hashFilename, PXAR_GOODBYE, PXAR_PAYLOAD } from '@pxar/format'
import { describe, expect, it } from 'vitest'
import {
  BufferSink,
  bufferReadAt,
  concatBytes,
  Decoder,
  decode,
  Encoder,
  openAccessor,
} from '../src/index.ts'

const enc = new TextEncoder()
const root = dirMetadata().mtime(1_700_000_000).build()
const fmeta = fileMetadata(0o644).mtime(1_700_000_000).build()

function build(split: boolean, files: [string, Uint8Array][]): { archive: Uint8Array; payload?: Uint8Array } {
  const out = new BufferSink()
  const pay = split ? new BufferSink() : undefined
  const e = new Encoder(out, root, pay ? { payload: pay } : {})
  for (const [n, d] of files) e.addFile(n, fmeta, d)
  e.finish()
  e.close()
  return { archive: out.takeBytes(), ...(pay ? { payload: pay.takeBytes() } : {}) }
}

async function all(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of it) parts.push(p.slice())
  return concatBytes(parts)
}

describe('Accessor', () => {
  it('finds entries whose goodbye hashes collide', async () => {
    const { archive } = build(false, [
      ['a', enc.encode('AAA')],
      ['b', enc.encode('BBB')],
    ])
    // give both goodbye items the hash of "b": the lookup must compare names and keep searching
    const h = hashFilename(enc.encode('b'))
    const v = new DataView(archive.buffer, archive.byteOffset, archive.byteLength)
    const table = archive.length - (16 + 3 * 24)
    expect(v.getUint32(table, true)).toBe(PXAR_GOODBYE.lo)
    for (const slot of [0, 1]) {
      v.setUint32(table + 16 + slot * 24, h.lo, true)
      v.setUint32(table + 16 + slot * 24 + 4, h.hi, true)
    }
    const acc = await openAccessor(bufferReadAt(archive))
    const b = await acc.lookup('/b')
    expect(b?.pathString).toBe('/b')
    expect(await all(acc.content(b!))).toEqual(enc.encode('BBB'))
    expect(await acc.lookup('/a')).toBeUndefined()
    // the strict decoder notices the inconsistent table; the lenient one reports it
    expect(() => new Decoder().push(archive)).toThrow(
      expect.objectContaining({ code: 'ERR_PXAR_BAD_GOODBYE' }),
    )
    const warnings: unknown[] = []
    const dec = new Decoder({ onWarning: (w) => warnings.push(w) })
    dec.push(archive)
    dec.finish()
    expect(warnings.length).toBeGreaterThan(0)
  })

  for (const split of [false, true]) {
    it(`readFileAt reads arbitrary ranges (${split ? 'v2' : 'v1'})`, async () => {
      const data = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff)
      const { archive, payload } = build(split, [['f', data]])
      const acc = await openAccessor(bufferReadAt(archive), payload ? { payload: bufferReadAt(payload) } : {})
      expect(acc.version).toBe(split ? 2 : 1)
      const f = (await acc.lookup('f'))!
      const buf = new Uint8Array(1000)
      for (const pos of [0, 1, 4095, 50_000, 99_500]) {
        const n = await acc.readFileAt(f, buf, pos)
        expect(n).toBe(Math.min(1000, data.length - pos))
        expect(buf.subarray(0, n)).toEqual(data.subarray(pos, pos + n))
      }
      expect(await acc.readFileAt(f, buf, data.length)).toBe(0)
      expect(await all(acc.content(f))).toEqual(data)
    })
  }

  it('reports a v2 payload that does not match its reference', async () => {
    const { archive, payload } = build(true, [['f', enc.encode('hello')]])
    const bad = payload!.slice()
    bad[16 + 8] = bad[16 + 8]! + 1 // PAYLOAD header size of the first file
    const acc = await openAccessor(bufferReadAt(archive), { payload: bufferReadAt(bad) })
    const f = (await acc.lookup('/f'))!
    await expect(all(acc.content(f))).rejects.toMatchObject({ code: 'ERR_PXAR_INVALID_DATA' })
    const seq = async function* () {
      yield bad
    }
    const src = async function* () {
      yield archive
    }
    await expect(
      (async () => {
        for await (const e of decode(src(), { payload: seq() })) if (e.content) await all(e.content)
      })(),
    ).rejects.toMatchObject({ code: 'ERR_PXAR_INVALID_DATA' })
  })

  it('lookup handles relative paths, "." and missing components', async () => {
    const { archive } = build(false, [['x', enc.encode('1')]])
    const acc = await openAccessor(bufferReadAt(archive))
    expect((await acc.lookup('./x'))?.pathString).toBe('/x')
    expect((await acc.lookup('//x/'))?.pathString).toBe('/x')
    expect(await acc.lookup('/x/y')).toBeUndefined()
    expect((await acc.lookup('/'))?.kind).toBe('directory')
    await expect(acc.lookup('/../x')).rejects.toThrow(TypeError)
  })
})

describe('Decoder', () => {
  it('rejects a mode that disagrees with the data item unless lenient', () => {
    const { archive } = build(false, [['f', enc.encode('abc')]])
    // the file's ENTRY follows root ENTRY (56) and FILENAME "f" (18): set its type bits to FIFO
    const b = archive.slice()
    const v = new DataView(b.buffer)
    const entryAt = 56 + 18
    v.setUint32(entryAt + 16, (v.getUint32(entryAt + 16, true) & 0o7777) | 0o010000, true)
    expect(() => new Decoder().push(b)).toThrow(
      expect.objectContaining({ code: 'ERR_PXAR_INVALID_DATA', offset: 56 + 18 + 56 }),
    )
    const warnings: unknown[] = []
    const dec = new Decoder({ onWarning: (w) => warnings.push(w) })
    const evs = [...dec.push(b), ...dec.finish()]
    expect(evs.filter((e) => e.type === 'entry').map((e) => e.type === 'entry' && e.entry.kind)).toEqual([
      'directory',
      'file',
    ])
    expect(warnings).toHaveLength(1)
  })

  it('needs its input drained before the next write', () => {
    const { archive } = build(false, [['f', enc.encode('abc')]])
    const dec = new Decoder()
    dec.write(archive)
    expect(() => dec.write(archive)).toThrow(TypeError)
  })

  it('reports absolute offsets with a start offset', () => {
    const dec = new Decoder({ offset: 1000 })
    expect(() => dec.push(new Uint8Array(16))).toThrow(expect.objectContaining({ offset: 1000 }))
  })
})

describe('Accessor with long names', () => {
  for (const target of ['a', 'b']) {
    it(`compares names longer than one read window on hash collisions (${target})`, async () => {
      const long = (c: string) => c.repeat(4096)
      const { archive } = build(false, [
        [long('a'), enc.encode('A')],
        [long('b'), enc.encode('B')],
      ])
      // both slots get the target's hash: one of the two orders makes the lookup meet the other name first
      const h = hashFilename(enc.encode(long(target)))
      const v = new DataView(archive.buffer, archive.byteOffset, archive.byteLength)
      const table = archive.length - (16 + 3 * 24)
      for (const slot of [0, 1]) {
        v.setUint32(table + 16 + slot * 24, h.lo, true)
        v.setUint32(table + 16 + slot * 24 + 4, h.hi, true)
      }
      const acc = await openAccessor(bufferReadAt(archive))
      const e = await acc.lookup(long(target))
      expect(await all(acc.content(e!))).toEqual(enc.encode(target.toUpperCase()))
    })
  }
})

describe('v2 payload references', () => {
  it('zero-size reference after a gap decodes sequentially and randomly', async () => {
    const out = new BufferSink()
    const pay = new BufferSink()
    const e = new Encoder(out, root, { payload: pay })
    e.addFile('a', fmeta, enc.encode('first'))
    const at = e.payloadPosition + 8
    const link = e.addPayloadRef('b', fmeta, 0, at)
    const raw = new Uint8Array(8 + 16)
    raw.set(enc.encode('GAPGAPGA'))
    const v = new DataView(raw.buffer)
    v.setUint32(8, PXAR_PAYLOAD.lo, true)
    v.setUint32(12, PXAR_PAYLOAD.hi, true)
    v.setUint32(16, 16, true)
    e.appendPayload(raw)
    e.addFile('c', fmeta, enc.encode('third'))
    e.addHardlink('d', 'b', link)
    e.finish()
    e.close()
    const archive = out.takeBytes()
    const payload = pay.takeBytes()
    const src = async function* (b: Uint8Array) {
      for (let i = 0; i < b.length; i += 5) yield b.subarray(i, i + 5)
    }
    for (const p of [src(payload), bufferReadAt(payload)]) {
      const seen: [string, string][] = []
      for await (const x of decode(src(archive), { payload: p })) {
        if (x.kind === 'file') seen.push([x.pathString, new TextDecoder().decode(await all(x.content!))])
      }
      expect(seen).toEqual([
        ['/a', 'first'],
        ['/b', ''],
        ['/c', 'third'],
      ])
    }
    const acc = await openAccessor(bufferReadAt(archive), { payload: bufferReadAt(payload) })
    const d = (await acc.lookup('/d'))!
    expect(d.kind).toBe('hardlink')
    const b = await acc.followHardlink(d)
    expect(b.payloadOffset).toBe(at)
    expect(await all(acc.content(d))).toEqual(new Uint8Array(0))
  })
})
