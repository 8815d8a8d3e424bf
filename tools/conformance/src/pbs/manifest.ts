import { fail, type PbsCase } from '../types.ts'

export async function manifestSign(_c: PbsCase): Promise<void> {
  fail('not implemented yet')
}

export async function manifestVerify(_c: PbsCase): Promise<void> {
  fail('not implemented yet')
}

export async function datastoreManifest(_c: PbsCase): Promise<void> {
  fail('not implemented yet')
}
