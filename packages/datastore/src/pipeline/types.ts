/** Interfaces of the store pipeline: where encoded chunks and index entries go. */

/**
 * Destination of encoded chunks (a chunk store, an upload session, a test double).
 * Inserts may run concurrently and complete in any order.
 */
export interface ChunkSink {
  /**
   * Optional existence check before encoding: when it returns true the pipeline neither encodes
   * nor inserts the chunk (a store should refresh the chunk's atime here, as an insert would).
   */
  has?(digest: Uint8Array<ArrayBuffer>): boolean | Promise<boolean>
  /**
   * Stores an encoded chunk (DataBlob bytes) under its digest. Resolves `true` when the chunk was
   * written, `false` when it existed already.
   */
  insert(digest: Uint8Array<ArrayBuffer>, blob: Uint8Array<ArrayBuffer>): boolean | Promise<boolean>
}

/** Turns chunk data into DataBlob bytes (compression and/or encryption). */
export interface BlobEncoder {
  /**
   * Encodes one chunk. The encoder may take ownership of `data` (worker pools transfer its buffer
   * when it owns the whole `ArrayBuffer`), so callers must not use `data` afterwards.
   */
  encode(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>>
  /** Releases resources (terminates worker threads). Idempotent. */
  close(): Promise<void>
}

/** Receives dynamic index entries in stream order (`DynamicIndexWriter` fits). */
export interface DynamicIndexSink {
  add(end: number, digest: Uint8Array<ArrayBuffer>): void
}

/** Receives fixed index digests by chunk number (`FixedIndexWriter` fits). */
export interface FixedIndexSink {
  setDigest(index: number, digest: Uint8Array<ArrayBuffer>): void
}

/** Counters of one pipeline run. */
export interface StoreStats {
  /** Chunks referenced by the index. */
  chunks: number
  /** Chunks the sink reported as newly written. */
  newChunks: number
  /** Chunks the sink already had (`has` true or `insert` false). */
  knownChunks: number
  /** Chunks whose digest already occurred earlier in this stream (stored once). */
  duplicateChunks: number
  /** Logical bytes (sum of chunk sizes). */
  bytes: number
  /** Logical bytes of the chunks that were encoded. */
  encodedInputBytes: number
  /** Bytes of all DataBlobs produced by the encoder. */
  encodedBytes: number
  /** Bytes of the DataBlobs the sink reported as newly written. */
  writtenBytes: number
}

/** A fresh all-zero {@link StoreStats}. */
export function emptyStats(): StoreStats {
  return {
    chunks: 0,
    newChunks: 0,
    knownChunks: 0,
    duplicateChunks: 0,
    bytes: 0,
    encodedInputBytes: 0,
    encodedBytes: 0,
    writtenBytes: 0,
  }
}
