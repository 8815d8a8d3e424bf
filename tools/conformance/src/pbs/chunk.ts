import { fail, type PbsCase } from '../types.ts'

export async function chunk(_c: PbsCase): Promise<void> {
  fail('not implemented yet')
}

export async function chunkKeyed(_c: PbsCase): Promise<void> {
  fail('not implemented yet')
}
