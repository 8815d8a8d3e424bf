import { fail, type PbsCase } from '../types.ts'

export async function canonicalJson(_c: PbsCase): Promise<void> {
  fail('not implemented yet')
}
