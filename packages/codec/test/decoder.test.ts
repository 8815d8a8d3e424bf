import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isPxarError } from '@pxar/format'
import { describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import { entryJson } from '../../../tools/conformance/src/pxar/pxar-json.ts'
import { listPxarCases } from '../../../tools/conformance/src/run.ts'
import {
  type AccessorEntry,
  bufferReadAt,
  Decoder,
  type DecoderEvent,
  decode,
  openAccessor,
} from '../src/index.ts'

const cases = listPxarCases(vectorsDir('pxar'))
const archives: { name: string; bytes: Uint8Array; payload: Uint8Array | undefined }[] = []
for (const c of cases) {
  if (c.files.includes('archive.pxar')) {
    archives.push({
      name: `${c.name} v1`,
      bytes: readFileSync(join(c.dir, 'archive.pxar')),
      payload: undefined,
    })
  }
  if (c.files.includes('archive.mpxar')) {
    archives.push({
      name: `${c.name} v2`,
      bytes: readFileSync(join(c.dir, 'archive.mpxar')),
      payload: readFileSync(join(c.dir, 'archive.ppxar')),
    })
  }
}

/** Decodes with the sync core, feeding the given piece sizes; returns entries with content hashes. */
function decodeSync(bytes: Uint8Array, sizes: (i: number) => number): unknown[] {
  const dec = new Decoder()
  const out: Record<string, unknown>[] = []
  let hash: ReturnType<typeof createHash> | undefined
  let cur: Record<string, unknown> | undefined
  const take = (evs: DecoderEvent[]) => {
    for (const ev of evs) {
      if (ev.type === 'entry') {
        if (cur && hash) cur.sha = hash.digest('hex')
        cur = entryJson(ev.entry)
        cur.entryOffset = ev.entry.entryOffset
        hash = ev.entry.kind === 'file' || ev.entry.kind === 'prelude' ? createHash('sha256') : undefined
        out.push(cur)
      } else hash!.update(ev.data)
    }
  }
  let i = 0
  let k = 0
  while (i < bytes.length) {
    const n = Math.max(1, sizes(k++))
    take(dec.push(bytes.subarray(i, Math.min(bytes.length, i + n))))
    i += n
  }
  take(dec.finish())
  if (cur && hash) cur.sha = hash.digest('hex')
  return out
}

function rng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x
  }
}

describe('split invariance', () => {
  for (const a of archives) {
    it(a.name, () => {
      const whole = decodeSync(a.bytes, () => a.bytes.length)
      expect(decodeSync(a.bytes, () => 7)).toEqual(whole)
      expect(decodeSync(a.bytes, () => 65536)).toEqual(whole)
      const r = rng(a.bytes.length)
      expect(decodeSync(a.bytes, () => r() % 5000)).toEqual(whole)
      // one byte at a time (capped for the multi-MiB archives to keep the suite fast)
      if (a.bytes.length <= 512 * 1024) expect(decodeSync(a.bytes, () => 1)).toEqual(whole)
    })
  }
})

/** Walks the whole archive through the accessor, reading every file. */
async function walkAccessor(bytes: Uint8Array, payload: Uint8Array | undefined): Promise<void> {
  const acc = await openAccessor(bufferReadAt(bytes), {
    payload: payload === undefined ? undefined : bufferReadAt(payload),
  })
  const visit = async (dir: AccessorEntry, depth: number): Promise<void> => {
    if (depth > 64) throw new Error('too deep')
    for await (const e of acc.readDir(dir)) {
      if (e.kind === 'directory') await visit(e, depth + 1)
      else if (e.kind === 'file' || e.kind === 'hardlink') for await (const _ of acc.content(e));
      await acc.lookup(e.path)
    }
  }
  await visit(await acc.root(), 0)
}

/** Runs `fn`, asserting it either succeeds or throws a PxarError, within a time bound. */
async function expectPxarErrorOrOk(fn: () => unknown, label: string): Promise<void> {
  const t0 = performance.now()
  try {
    await fn()
  } catch (err) {
    if (!isPxarError(err)) throw new Error(`${label}: non-PxarError ${String(err)}`, { cause: err })
  }
  const ms = performance.now() - t0
  if (ms > 2000) throw new Error(`${label}: took ${ms.toFixed(0)} ms`)
}

describe('hostile input', () => {
  for (const a of archives) {
    if (a.bytes.length > 256 * 1024) continue
    it(`${a.name}: truncation`, async () => {
      const n = a.bytes.length
      const step = n <= 2048 ? 1 : Math.ceil(n / 512)
      for (let cut = 0; cut < n; cut += step) {
        const b = a.bytes.subarray(0, cut)
        // a truncated archive never decodes completely
        expect(() => {
          const dec = new Decoder()
          dec.push(b)
          dec.finish()
        }).toThrow(expect.objectContaining({ code: expect.stringMatching(/^ERR_PXAR_/) }))
        await expectPxarErrorOrOk(() => walkAccessor(b, a.payload), `accessor cut ${cut}`)
      }
    })
    it(`${a.name}: corrupted bytes`, async () => {
      const r = rng(a.bytes.length * 31 + 7)
      for (let k = 0; k < 300; k++) {
        const b = a.bytes.slice()
        const flips = 1 + (r() % 3)
        for (let f = 0; f < flips; f++) {
          const p = r() % b.length
          b[p] = k % 2 === 0 ? b[p]! ^ (1 << (r() % 8)) : r() & 0xff
        }
        await expectPxarErrorOrOk(() => {
          const dec = new Decoder()
          dec.push(b)
          dec.finish()
        }, `decode flip ${k}`)
        await expectPxarErrorOrOk(() => walkAccessor(b, a.payload), `accessor flip ${k}`)
        if (a.payload) {
          const pb = a.payload.slice()
          const p = r() % pb.length
          pb[p] = pb[p]! ^ 0xff
          await expectPxarErrorOrOk(() => walkAccessor(a.bytes, pb), `payload flip ${k}`)
        }
      }
    })
  }

  it('v2: a truncated payload stream is an error', async () => {
    for (const a of archives.filter((x) => x.payload !== undefined && x.payload.length > 32)) {
      const p = a.payload!
      for (const cut of [0, 8, 16, 17, p.length >> 1, p.length - 17, p.length - 1]) {
        const src = async function* () {
          yield a.bytes
        }
        const pay = async function* () {
          yield p.subarray(0, cut)
        }
        await expect(
          (async () => {
            for await (const e of decode(src(), { payload: pay() })) {
              if (e.content) for await (const _ of e.content);
            }
          })(),
        ).rejects.toSatisfy(isPxarError)
      }
    }
  })

  it('corrupted sizes are rejected before any allocation', () => {
    const a = archives.find((x) => x.name === 'single-small-file v1')!
    // every header: set full_size to huge values
    for (let off = 0; off + 16 <= a.bytes.length; off++) {
      for (const hi of [0x1f_ffff, 0x20_0000, 0xffff_ffff]) {
        const b = a.bytes.slice()
        const v = new DataView(b.buffer)
        v.setUint32(off + 12, hi, true)
        try {
          const dec = new Decoder()
          dec.push(b)
          dec.finish()
        } catch (err) {
          expect(isPxarError(err)).toBe(true)
        }
      }
    }
  })
})
