import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type AccessorEntry, bufferReadAt, type EntryRange, openAccessor } from '@pxar/codec'
import type { PxarCase, PxarVariant } from '../types.ts'
import { contentFields, entryJson, expectEqual, putBytes } from './pxar-json.ts'

function rangeJson(r: EntryRange): Record<string, unknown> {
  return {
    filename_header_offset: r.filenameHeaderOffset ?? null,
    entry_start: r.entryStart,
    entry_end: r.entryEnd,
  }
}

const hex = (lo: number, hi: number): string =>
  `0x${hi.toString(16).padStart(8, '0')}${lo.toString(16).padStart(8, '0')}`

/** Runs the queries of a lookups.json against our accessor, returning results in its shape. */
export async function runLookups(
  archive: Uint8Array,
  payload: Uint8Array | undefined,
  queries: readonly { query?: string; query_b64?: string }[],
): Promise<Record<string, unknown>[]> {
  const acc = await openAccessor(bufferReadAt(archive), {
    payload: payload === undefined ? undefined : bufferReadAt(payload),
  })
  const entryWithContent = async (e: AccessorEntry, path?: string): Promise<Record<string, unknown>> => {
    const o = entryJson(e, path)
    if (e.kind === 'file') Object.assign(o, await contentFields(acc.content(e), e.fileSize ?? 0))
    o.range = rangeJson(e.range)
    return o
  }
  const out: Record<string, unknown>[] = []
  for (const q of queries) {
    const r: Record<string, unknown> = {}
    let path: Uint8Array | string
    if (q.query_b64 !== undefined) {
      r.query_b64 = q.query_b64
      path = new Uint8Array(Buffer.from(q.query_b64, 'base64'))
    } else {
      r.query = q.query
      path = q.query ?? ''
    }
    const e = await acc.lookup(path)
    r.found = e !== undefined
    if (e !== undefined) {
      r.entry = await entryWithContent(e)
      if (e.kind === 'hardlink') r.hardlink_resolved = await entryWithContent(await acc.followHardlink(e), '')
      if (e.kind === 'directory') {
        const table = await acc.goodbyeTable(e)
        r.entry_count = table.length
        r.goodbye_order = table.map((g) => {
          const o: Record<string, unknown> = {}
          putBytes(o, 'name', g.name)
          o.hash = hex(g.hashLo, g.hashHi)
          o.range = rangeJson(g.range)
          return o
        })
      }
    }
    out.push(r)
  }
  return out
}

export async function run(c: PxarCase, variant: PxarVariant): Promise<void> {
  const v2 = variant === 'v2'
  const archive = readFileSync(join(c.dir, v2 ? 'archive.mpxar' : 'archive.pxar'))
  const payload = v2 ? readFileSync(join(c.dir, 'archive.ppxar')) : undefined
  const expected = JSON.parse(readFileSync(join(c.dir, v2 ? 'lookups.v2.json' : 'lookups.json'), 'utf8')) as {
    query?: string
    query_b64?: string
  }[]
  const actual = await runLookups(archive, payload, expected)
  expectEqual(actual, expected, 'lookups')
}
