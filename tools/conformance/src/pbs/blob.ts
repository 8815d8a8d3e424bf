import { fail, type PbsCase } from '../types.ts'

export async function blobEncode(_c: PbsCase): Promise<void> {
  fail('not implemented yet')
}

export async function blobDecode(_c: PbsCase): Promise<void> {
  fail('not implemented yet')
}
