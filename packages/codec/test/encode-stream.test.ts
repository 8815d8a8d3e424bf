import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { dirMetadata, fileMetadata } from '@pxar/format'
import { describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import {
  bytesField,
  fileContent,
  opsList,
  parseInteger,
  parseMeta,
  parseNumber,
} from '../../../tools/conformance/src/pxar/ops.ts'
import { type EncodeEntry, encode, encodeSplit } from '../src/index.ts'

type Json = Record<string, unknown>
const root = vectorsDir('pxar')
const dirs = readdirSync(root)
  .filter((d) => existsSync(join(root, d, 'ops.json')))
  .sort()

async function* pieces(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < data.length; o += size) yield data.slice(o, o + size)
}

/**
 * ops.json → EncodeEntry stream (files streamed in 1000-byte pieces). payload_rel is resolved by
 * tracking the v2 payload position as a producer would: start marker 16, each file 16 + size,
 * raw payload its length.
 */
function* toEntries(ops: Json[]): Generator<EncodeEntry> {
  let depth = 0
  let payloadPos = 16
  for (const op of ops.slice(1)) {
    const name = bytesField(op, 'name')!
    switch (op.op) {
      case 'file': {
        const data = fileContent(op)
        payloadPos += 16 + data.length
        const id = typeof op.id === 'string' ? op.id : undefined
        yield {
          type: 'file',
          name,
          metadata: parseMeta(op.meta as Json),
          content: pieces(data, 1000),
          size: data.length,
          ...(id === undefined ? {} : { id }),
        }
        break
      }
      case 'dir':
        depth++
        yield { type: 'directory', name, metadata: parseMeta(op.meta as Json) }
        break
      case 'finish':
        // the root is closed by the end of input
        if (depth > 0) yield { type: 'end' }
        depth--
        break
      case 'symlink':
        yield {
          type: 'symlink',
          name,
          metadata: parseMeta(op.meta as Json),
          target: bytesField(op, 'target')!,
        }
        break
      case 'hardlink':
        yield { type: 'hardlink', name, target: bytesField(op, 'target')!, link: String(op.link) }
        break
      case 'device':
        yield {
          type: 'device',
          name,
          metadata: parseMeta(op.meta as Json),
          device: { major: parseInteger(op.major), minor: parseInteger(op.minor) },
        }
        break
      case 'fifo':
      case 'socket':
        yield { type: op.op, name, metadata: parseMeta(op.meta as Json) }
        break
      case 'payload_ref': {
        const id = typeof op.id === 'string' ? op.id : undefined
        yield {
          type: 'payloadRef',
          name,
          metadata: parseMeta(op.meta as Json),
          size: parseNumber(op.size),
          payloadOffset:
            op.offset !== undefined ? parseNumber(op.offset) : payloadPos + parseNumber(op.payload_rel),
          ...(id === undefined ? {} : { id }),
        }
        break
      }
      case 'payload_raw': {
        const data = bytesField(op, 'data')!
        payloadPos += data.length
        yield { type: 'payloadRaw', data }
        break
      }
      default:
        throw new Error(`unknown op ${String(op.op)}`)
    }
  }
}

const read = (d: string, f: string) => new Uint8Array(readFileSync(join(root, d, f)))

describe('encode / encodeSplit reproduce the vectors from an entry stream', () => {
  for (const d of dirs) {
    const ops = opsList(JSON.parse(readFileSync(join(root, d, 'ops.json'), 'utf8'))) as Json[]
    const rootMeta = parseMeta(ops[0]!.meta as Json)
    if (existsSync(join(root, d, 'archive.pxar'))) {
      it(`${d} v1`, async () => {
        const chunks: Uint8Array[] = []
        for await (const c of encode(rootMeta, toEntries(ops))) chunks.push(c.slice())
        expect(Buffer.concat(chunks).equals(read(d, 'archive.pxar'))).toBe(true)
      })
    }
    if (existsSync(join(root, d, 'archive.mpxar'))) {
      it(`${d} v2`, async () => {
        const meta: Uint8Array[] = []
        const pay: Uint8Array[] = []
        const prelude = bytesField(ops[0]!, 'prelude')
        for await (const c of encodeSplit(rootMeta, toEntries(ops), { prelude })) {
          if (c.stream === 'metadata') meta.push(c.bytes.slice())
          else {
            pay.push(c.bytes.slice())
          }
        }
        expect(Buffer.concat(meta).equals(read(d, 'archive.mpxar'))).toBe(true)
        expect(Buffer.concat(pay).equals(read(d, 'archive.ppxar'))).toBe(true)
      })
    }
  }

  it('rejects bad entry streams', async () => {
    const r = dirMetadata().build()
    const drain = async (entries: EncodeEntry[]) => {
      for await (const _ of encode(r, entries)) {
      }
    }
    await expect(drain([{ type: 'end' }])).rejects.toThrow(RangeError)
    await expect(drain([{ type: 'hardlink', name: 'h', target: 'x', link: 'nope' }])).rejects.toThrow(
      RangeError,
    )
    await expect(
      drain([{ type: 'file', name: 'f', metadata: fileMetadata().build(), content: [new Uint8Array(1)] }]),
    ).rejects.toThrow(TypeError)
    await expect(
      drain([{ type: 'file', name: 'a/b', metadata: fileMetadata().build(), content: new Uint8Array(1) }]),
    ).rejects.toMatchObject({ code: 'ERR_PXAR_ENCODER_INVALID' })
  })
})
