export * from './server/index.ts'
export * from './source.ts'
