import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type DecodeOptions, decode } from '@pxar/codec'
import type { PxarCase, PxarVariant } from '../types.ts'
import { contentFields, entryJson, expectEqual } from './pxar-json.ts'

async function* pieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, Math.min(bytes.length, i + size))
}

/** Decodes an archive (v2: with its payload) into the dump.json shape. */
export async function dumpArchive(
  archive: Uint8Array,
  payload?: Uint8Array,
  options: Pick<DecodeOptions, 'onWarning'> & { pieceSize?: number } = {},
): Promise<Record<string, unknown>[]> {
  const piece = options.pieceSize ?? 64 * 1024
  const out: Record<string, unknown>[] = []
  for await (const e of decode(pieces(archive, piece), {
    onWarning: options.onWarning,
    payload: payload === undefined ? undefined : pieces(payload, piece),
  })) {
    const o = entryJson(e)
    if (e.kind === 'prelude') {
      const chunks: Uint8Array[] = []
      for await (const p of e.content ?? []) chunks.push(p.slice())
      const all = Buffer.concat(chunks)
      o.prelude_b64 = all.toString('base64')
      const { createHash } = await import('node:crypto')
      o.prelude_sha256 = createHash('sha256').update(all).digest('hex')
    } else if (e.kind === 'file') {
      Object.assign(o, await contentFields(e.content, e.fileSize ?? 0))
    }
    out.push(o)
  }
  return out
}

export async function run(c: PxarCase, variant: PxarVariant): Promise<void> {
  const v2 = variant === 'v2'
  const archive = readFileSync(join(c.dir, v2 ? 'archive.mpxar' : 'archive.pxar'))
  const payload = v2 ? readFileSync(join(c.dir, 'archive.ppxar')) : undefined
  const expected = JSON.parse(readFileSync(join(c.dir, v2 ? 'dump.v2.json' : 'dump.json'), 'utf8'))
  const actual = await dumpArchive(archive, payload)
  expectEqual(actual, expected, 'dump')
}
