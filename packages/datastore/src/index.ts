export * from './formats.ts'
export * from './index-reader.ts'
export * from './pipeline.ts'
export * from './store.ts'
