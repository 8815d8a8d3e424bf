/**
 * A block cache in front of a {@link ReadAt}: the accessor decodes each entry from a small read
 * at its offset, and the entries of a directory lie next to each other, so caching aligned blocks
 * turns a listing's thousands of small reads into a few large ones. Reads of a block or more
 * (file contents) bypass the cache.
 */
import type { ReadAt } from '@pxar/codec'

/** Options of {@link BlockCacheReadAt}. */
export interface BlockCacheOptions {
  /** Block size in bytes (default 64 KiB). */
  readonly blockSize?: number
  /** Blocks kept (default 256, i.e. 16 MiB with the default block size). */
  readonly blocks?: number
}

/** A {@link ReadAt} that caches aligned blocks of another one. */
export class BlockCacheReadAt implements ReadAt {
  readonly size: number
  readonly #src: ReadAt
  readonly #block: number
  readonly #max: number
  #young = new Map<number, Promise<Uint8Array>>()
  #old = new Map<number, Promise<Uint8Array>>()

  constructor(source: ReadAt, options: BlockCacheOptions = {}) {
    this.#src = source
    this.size = source.size
    this.#block = options.blockSize ?? 64 * 1024
    this.#max = Math.max(2, options.blocks ?? 256)
    if (!Number.isSafeInteger(this.#block) || this.#block < 512) throw new RangeError('invalid blockSize')
  }

  #get(index: number): Promise<Uint8Array> {
    let p = this.#young.get(index)
    if (p !== undefined) return p
    p = this.#old.get(index)
    if (p === undefined) {
      const start = index * this.#block
      const buf = new Uint8Array(Math.min(this.#block, this.size - start))
      p = (async () => {
        let done = 0
        while (done < buf.length) {
          const n = await this.#src.read(buf.subarray(done), start + done)
          if (n <= 0) return buf.subarray(0, done)
          done += n
        }
        return buf
      })()
      const q = p
      p.catch(() => {
        if (this.#young.get(index) === q) this.#young.delete(index)
      })
    } else this.#old.delete(index)
    if (this.#young.size >= this.#max / 2) {
      this.#old = this.#young
      this.#young = new Map()
    }
    this.#young.set(index, p)
    return p
  }

  async read(buf: Uint8Array, position: number): Promise<number> {
    if (position >= this.size || buf.length === 0) return 0
    if (buf.length >= this.#block) return this.#src.read(buf, position)
    const end = Math.min(position + buf.length, this.size)
    let done = 0
    while (position + done < end) {
      const at = position + done
      const index = Math.floor(at / this.#block)
      const data = await this.#get(index)
      const off = at - index * this.#block
      if (off >= data.length) break
      const n = Math.min(end - at, data.length - off)
      buf.set(data.subarray(off, off + n), done)
      done += n
    }
    return done
  }
}
