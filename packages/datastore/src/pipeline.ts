// Store pipeline (chunk, hash, encode, insert, index on worker threads): re-exports only.
export {}
