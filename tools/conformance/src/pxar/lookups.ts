import { fail, type PxarCase, type PxarVariant } from '../types.ts'

export async function run(_c: PxarCase, _variant: PxarVariant): Promise<void> {
  fail('not implemented yet')
}
