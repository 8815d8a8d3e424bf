import type { ChunkStore } from '../chunk-store.ts'
import type { ChunkSink } from './types.ts'

/** Options of {@link chunkStoreSink}. */
export interface ChunkStoreSinkOptions {
  /**
   * Check for an existing chunk file before encoding (and refresh its atime, as an insert of a
   * known chunk does), so known chunks cost a `utimes` instead of compression. Default true.
   */
  readonly skipKnown?: boolean
}

/**
 * Adapts a {@link ChunkStore} to the pipeline's {@link ChunkSink}. Register the backup as a writer
 * (`store.registerWriter()`) for the duration of the run so garbage collection keeps new chunks.
 *
 * @example
 * ```ts
 * const store = await ChunkStore.open(datastoreDir)
 * const done = store.registerWriter()
 * try {
 *   await storeDynamic(source, { sink: chunkStoreSink(store) })
 * } finally {
 *   done()
 * }
 * ```
 */
export function chunkStoreSink(store: ChunkStore, options: ChunkStoreSinkOptions = {}): ChunkSink {
  const insert = async (digest: Uint8Array<ArrayBuffer>, blob: Uint8Array<ArrayBuffer>): Promise<boolean> =>
    !(await store.insert(digest, blob)).duplicate
  if (options.skipKnown === false) return { insert }
  return { has: (digest) => store.touch(digest), insert }
}
