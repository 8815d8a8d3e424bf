import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  bytesEqual,
  DynamicIndex,
  DynamicIndexWriter,
  FixedIndex,
  FixedIndexWriter,
  fromHex,
  toHex,
} from '@pxar/datastore'
import { isPxarError } from '@pxar/format'
import { fail, type PbsCase } from '../types.ts'
import { expectEqual, readCaseJson } from './keys.ts'

function checkDynamic(bytes: Uint8Array, exp: Record<string, unknown>): void {
  expectEqual('magic', toHex(bytes.subarray(0, 8)), exp.magic)
  expectEqual('file_size', bytes.length, exp.file_size)
  const index = DynamicIndex.parse(bytes)
  const { csum, size } = index.computeCsum()
  expectEqual('uuid', toHex(index.uuid), exp.uuid)
  expectEqual('ctime', index.ctime, exp.ctime)
  expectEqual('index_csum', toHex(index.indexCsum), exp.index_csum)
  expectEqual('computed_csum', toHex(csum), exp.computed_csum)
  expectEqual('csum_ok', bytesEqual(csum, index.indexCsum), exp.csum_ok)
  expectEqual('count', index.count, exp.count)
  expectEqual('size', size, exp.size)
  expectEqual('index_bytes', index.size, exp.index_bytes)
  const entries = [...index.entries()].map((e) => ({ digest: toHex(e.digest), end: e.end }))
  expectEqual('entries', entries, exp.entries)
  let verified = true
  try {
    index.verifyCsum()
  } catch (err) {
    if (!isPxarError(err) || err.code !== 'ERR_INDEX_CSUM') throw err
    verified = false
  }
  expectEqual('verifyCsum', verified, exp.csum_ok)
}

export async function didx(c: PbsCase): Promise<void> {
  const exp = readCaseJson(c, c.expected)
  if (c.command[1] === 'didx-read') {
    checkDynamic(readFileSync(join(c.root, c.inputs[0]!)), exp)
    return
  }
  const spec = readCaseJson(c, c.inputs[0]!) as {
    uuid: string
    ctime: number
    entries: { end: number; digest: string }[]
  }
  const writer = new DynamicIndexWriter({ uuid: fromHex(spec.uuid, 16), ctime: spec.ctime })
  for (const e of spec.entries) writer.add(e.end, fromHex(e.digest, 32))
  const out = writer.finish()
  const reference = readFileSync(join(c.root, c.outputs[0]!))
  if (!bytesEqual(out.bytes, reference)) fail('written .didx differs from the reference file')
  expectEqual('writer_index_csum', toHex(out.csum), exp.writer_index_csum)
  if (exp.reader_error !== undefined) {
    expectEqual('magic', toHex(out.bytes.subarray(0, 8)), exp.magic)
    expectEqual('index_csum', toHex(out.bytes.subarray(32, 64)), exp.index_csum)
    expectEqual('file_size', out.bytes.length, exp.file_size)
    try {
      DynamicIndex.parse(out.bytes)
    } catch (err) {
      if (isPxarError(err) && err.code === 'ERR_INDEX_EMPTY') return
      throw err
    }
    fail('empty dynamic index was accepted by the reader')
  }
  checkDynamic(reference, exp)
}

export async function fidx(c: PbsCase): Promise<void> {
  const exp = readCaseJson(c, c.expected)
  const spec = readCaseJson(c, c.inputs[0]!) as {
    uuid: string
    ctime: number
    size: number
    chunk_size: number
    digests: string[]
  }
  let writer: FixedIndexWriter
  try {
    writer = new FixedIndexWriter({
      uuid: fromHex(spec.uuid, 16),
      ctime: spec.ctime,
      size: spec.size,
      chunkSize: spec.chunk_size,
    })
  } catch (err) {
    if (c.expect_error && err instanceof RangeError) {
      expectEqual('error', err.message, exp.error)
      return
    }
    throw err
  }
  if (c.expect_error) fail('writer accepted an invalid spec')
  for (const [i, d] of spec.digests.entries()) writer.setDigest(i, fromHex(d, 32))
  const out = writer.finish()
  const reference = readFileSync(join(c.root, c.outputs[0]!))
  if (!bytesEqual(out.bytes, reference)) fail('written .fidx differs from the reference file')
  expectEqual('writer_index_csum', toHex(out.csum), exp.writer_index_csum)
  const index = FixedIndex.parse(reference)
  const { csum, size } = index.computeCsum()
  expectEqual('magic', toHex(reference.subarray(0, 8)), exp.magic)
  expectEqual('file_size', reference.length, exp.file_size)
  expectEqual('uuid', toHex(index.uuid), exp.uuid)
  expectEqual('ctime', index.ctime, exp.ctime)
  expectEqual('size', index.size, exp.size)
  expectEqual('reader_size', index.size, exp.reader_size)
  expectEqual('chunk_size', index.chunkSize, exp.chunk_size)
  expectEqual('reader_chunk_size', index.chunkSize, exp.reader_chunk_size)
  expectEqual('count', index.count, exp.count)
  expectEqual('index_csum', toHex(index.indexCsum), exp.index_csum)
  expectEqual('computed_csum', toHex(csum), exp.computed_csum)
  expectEqual('csum_ok', bytesEqual(csum, index.indexCsum), exp.csum_ok)
  expectEqual('last_chunk_end', index.chunkRange(index.count - 1).end, exp.last_chunk_end)
  expectEqual('size from csum', size, exp.size)
  expectEqual('digests', [...index.digests()].map(toHex), exp.digests)
  index.verifyCsum()
}
