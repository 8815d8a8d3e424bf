export * from './decoding.ts'
export * from './encoding.ts'
