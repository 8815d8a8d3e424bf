import { fail, type PxarCase } from '../types.ts'

export async function run(_c: PxarCase): Promise<void> {
  fail('not implemented yet')
}
