import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { chunkDigest, sha256, toHex } from '@pxar/datastore'
import type { PbsCase } from '../types.ts'
import { caseKey, expectEqual, readCaseJson } from './keys.ts'

export async function digest(c: PbsCase): Promise<void> {
  const exp = readCaseJson(c, c.expected)
  const data = readFileSync(join(c.root, c.inputs[0]!))
  const crypt = await caseKey(c)
  expectEqual('size', data.length, exp.size)
  expectEqual('sha256', toHex(sha256(data)), exp.sha256)
  expectEqual('keyed', crypt !== undefined, exp.keyed)
  expectEqual('digest', toHex(chunkDigest(data, crypt?.idKey)), exp.digest)
  if (crypt) expectEqual('computeDigest', toHex(crypt.computeDigest(data)), exp.digest)
}
