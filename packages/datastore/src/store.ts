// Chunk store, canonical JSON, manifests, catalog, snapshots, prune, GC, verify: re-exports only.
export * from './atomic-file.ts'
export * from './backup-dir.ts'
export * from './canonical-json.ts'
export * from './catalog.ts'
export * from './chunk-store.ts'
export * from './manifest.ts'
export * from './prune.ts'
