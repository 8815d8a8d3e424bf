import { fail, type PbsCase } from '../types.ts'

export async function key(_c: PbsCase): Promise<void> {
  fail('not implemented yet')
}

export async function keyWrongPassword(_c: PbsCase): Promise<void> {
  fail('not implemented yet')
}

export async function keyWrongFingerprint(_c: PbsCase): Promise<void> {
  fail('not implemented yet')
}
