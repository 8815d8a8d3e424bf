import { fail, type PbsCase } from '../types.ts'

export async function datastore(_c: PbsCase): Promise<void> {
  fail('not implemented yet')
}
