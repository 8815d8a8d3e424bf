// Chunk store, canonical JSON, manifests, catalog, snapshots, prune, GC, verify: re-exports only.
export * from './canonical-json.ts'
export * from './catalog.ts'
export * from './manifest.ts'
