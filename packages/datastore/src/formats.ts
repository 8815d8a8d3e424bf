// Blobs, crypto, key files, indexes: re-exports only.
export * from './blob.ts'
export * from './crc32.ts'
export * from './crypt-config.ts'
export * from './digest.ts'
export * from './key-file.ts'
export * from './zstd.ts'
