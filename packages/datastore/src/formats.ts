// Blobs, crypto, key files, indexes: re-exports only.
export {}
