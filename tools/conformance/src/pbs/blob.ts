import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  type BlobInfo,
  decodeBlob,
  encodeBlob,
  fromHex,
  inspectBlob,
  sha256,
  toHex,
  zstd,
} from '@pxar/datastore'
import { isPxarError } from '@pxar/format'
import { fail, type PbsCase } from '../types.ts'
import { caseKey, commandOption, expectEqual, readCaseJson } from './keys.ts'

function checkHeader(info: BlobInfo, exp: Record<string, unknown>, withCrc: boolean): void {
  expectEqual('magic', toHex(info.magic), exp.magic)
  expectEqual('kind', info.kind, exp.kind)
  expectEqual('encrypted', info.encrypted, exp.encrypted)
  expectEqual('compressed', info.compressed, exp.compressed)
  expectEqual('crypt_mode', info.encrypted ? 'encrypt' : 'none', exp.crypt_mode)
  expectEqual('header_size', info.headerSize, exp.header_size)
  if (withCrc) {
    expectEqual('raw_size', info.rawSize, exp.raw_size)
    expectEqual('crc', info.crc, exp.crc)
    expectEqual('crc_computed', info.computedCrc, exp.crc_computed)
    expectEqual('crc_ok', info.crc === info.computedCrc, exp.crc_ok)
  }
  if (info.encrypted) expectEqual('iv', toHex(info.iv!), exp.iv)
  if (info.encrypted && withCrc) expectEqual('tag', toHex(info.tag!), exp.tag)
}

export async function blobEncode(c: PbsCase): Promise<void> {
  const exp = readCaseJson(c, c.expected)
  const input = readFileSync(join(c.root, c.inputs[0]!))
  const crypt = await caseKey(c)
  const ivHex = commandOption(c, '--iv')
  const compress = c.command.includes('--compress')
  const blob = encodeBlob(input, { compress, crypt, ...(ivHex ? { iv: fromHex(ivHex, 16) } : {}) })
  const reference = readFileSync(join(c.root, c.outputs[0]!))
  const info = inspectBlob(blob)
  // Compressed bytes may legitimately differ from libzstd 1.5.4's with another zstd build; the
  // native libzstd backend (zstd-napi) reproduces them, everything else is exact anyway.
  const identical = Buffer.compare(blob, reference) === 0
  if ((!info.compressed || zstd().name === 'zstd-napi') && !identical) {
    fail(`encoded blob differs from the reference bytes (zstd backend ${zstd().name})`)
  }
  checkHeader(info, exp, identical)
  expectEqual('crc_ok', info.crc === info.computedCrc, true)
  expectEqual('compress_requested', compress, exp.compress_requested)
  const data = decodeBlob(blob, { crypt })
  expectEqual('payload_sha256', toHex(sha256(data)), exp.payload_sha256)
  expectEqual('payload_size', data.length, exp.payload_size)
  expectEqual('chunk_digest', toHex(crypt ? crypt.computeDigest(data) : sha256(data)), exp.chunk_digest)
  // The reference blob must decode to the same payload as well.
  expectEqual('reference payload', toHex(sha256(decodeBlob(reference, { crypt }))), exp.payload_sha256)
}

export async function blobDecode(c: PbsCase): Promise<void> {
  const exp = readCaseJson(c, c.expected)
  const bytes = readFileSync(join(c.root, c.inputs[0]!))
  const crypt = await caseKey(c)
  const info = inspectBlob(bytes)
  checkHeader(info, exp, true)
  let data: Uint8Array
  try {
    data = decodeBlob(bytes, { crypt, verifyCrc: false })
  } catch (err) {
    if (exp.decoded !== false) throw err
    if (!isPxarError(err)) throw err
    const want = crypt ? 'ERR_BLOB_DECRYPT' : 'ERR_BLOB_NO_KEY'
    if (err.code !== want) fail(`error ${err.code}, expected ${want}`)
    if (!crypt) expectEqual('error', err.message, exp.error)
    return
  }
  if (exp.decoded !== true) fail('blob decoded, expected a failure')
  expectEqual('payload_sha256', toHex(sha256(data)), exp.payload_sha256)
  expectEqual('payload_size', data.length, exp.payload_size)
  expectEqual(
    'chunk_digest',
    toHex(info.encrypted && crypt ? crypt.computeDigest(data) : sha256(data)),
    exp.chunk_digest,
  )
  // With CRC checking on, a bad CRC must be reported as such.
  if (info.crc !== info.computedCrc) {
    try {
      decodeBlob(bytes, { crypt })
    } catch (err) {
      if (isPxarError(err) && err.code === 'ERR_BLOB_CRC') return
      throw err
    }
    fail('decodeBlob accepted a blob with a wrong CRC')
  }
}
