export * from './encoding.ts'
export * from './decoding.ts'
