import { fail, type PbsCase } from '../types.ts'

export async function catalog(_c: PbsCase): Promise<void> {
  fail('not implemented yet')
}
