export * from './formats.ts'
export * from './store.ts'
export * from './pipeline.ts'
