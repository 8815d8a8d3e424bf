import { fail, type PbsCase } from '../types.ts'

export async function didx(_c: PbsCase): Promise<void> {
  fail('not implemented yet')
}

export async function fidx(_c: PbsCase): Promise<void> {
  fail('not implemented yet')
}
