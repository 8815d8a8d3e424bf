/**
 * zstd backend selection. PBS compresses blobs with zstd level 1; any valid zstd stream (with or
 * without content size, checksum, several frames) must decode.
 *
 * Backends, fastest first (picked once, at first use):
 * 1. `node:zlib` zstd (Node >= 22.15 / 23.8): native, no dependency.
 * 2. `zstd-napi` (optional native dependency): about 2.4x faster than the wasm build.
 * 3. `@bokuweb/zstd-wasm`: portable fallback; needs `await initZstd()` once before use.
 *
 * All functions here are synchronous and keep no per-call state, so they work unchanged inside
 * worker threads (each thread loads its own backend).
 */
import { createRequire } from 'node:module'
import * as zlib from 'node:zlib'
import { PxarError } from '@pxar/format'

/** Names of the available zstd implementations. */
export type ZstdBackendName = 'node:zlib' | 'zstd-napi' | 'zstd-wasm'

/** Options of {@link ZstdBackend.compress}. */
export interface ZstdCompressOptions {
  /** Compression level (PBS: 1). */
  readonly level: number
  /**
   * Return `undefined` when the frame would be longer than this (saves work on incompressible
   * data whose frame the caller would discard anyway).
   */
  readonly maxSize?: number
  /**
   * false: produce what a streaming encoder fed with unknown length produces (no content size in
   * the frame header, parameters for unknown size), like PBS's unencrypted compressed blobs.
   * Default true: one-shot ("bulk") compression, like PBS's encrypted blobs.
   */
  readonly contentSize?: boolean
}

/** A synchronous zstd implementation. */
export interface ZstdBackend {
  readonly name: ZstdBackendName
  /** Compresses `data` into one zstd frame (see {@link ZstdCompressOptions}). */
  compress(data: Uint8Array, options: ZstdCompressOptions): Uint8Array<ArrayBuffer> | undefined
  /**
   * Decompresses every frame in `data`. Throws `ERR_BLOB_TOO_LARGE` when the output would exceed
   * `maxOutput` bytes and `ERR_BLOB_DECOMPRESS` for a corrupt stream.
   */
  decompress(data: Uint8Array, maxOutput: number): Uint8Array<ArrayBuffer>
}

const require = createRequire(import.meta.url)

function tooLarge(maxOutput: number): PxarError {
  return new PxarError('ERR_BLOB_TOO_LARGE', `zstd output exceeds the limit of ${maxOutput} bytes`)
}

function corrupt(cause: unknown): PxarError {
  const detail = cause instanceof Error ? `: ${cause.message}` : ''
  return new PxarError('ERR_BLOB_DECOMPRESS', `invalid zstd data${detail}`, { cause })
}

function uninit(size: number): Uint8Array<ArrayBuffer> {
  return asBytes(Buffer.allocUnsafeSlow(size))
}

function asBytes(buf: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(buf.buffer as ArrayBuffer, buf.byteOffset, buf.byteLength)
}

// ---- node:zlib (Node >= 22.15) -------------------------------------------------------------------

interface ZlibZstd {
  zstdCompressSync(data: Uint8Array, options: { params: Record<number, number> }): Uint8Array
  zstdDecompressSync(data: Uint8Array, options: { maxOutputLength: number }): Uint8Array
  constants: { ZSTD_c_compressionLevel: number; ZSTD_c_contentSizeFlag: number }
}

function loadZlib(): ZstdBackend | undefined {
  const z = zlib as unknown as Partial<ZlibZstd>
  if (typeof z.zstdCompressSync !== 'function' || typeof z.zstdDecompressSync !== 'function') return undefined
  const zz = z as ZlibZstd
  const levelParam = zz.constants.ZSTD_c_compressionLevel
  const sizeFlagParam = zz.constants.ZSTD_c_contentSizeFlag
  return {
    name: 'node:zlib',
    compress(data, { level, maxSize, contentSize = true }) {
      const params: Record<number, number> = { [levelParam]: level }
      if (!contentSize) params[sizeFlagParam] = 0
      const out = zz.zstdCompressSync(data, { params })
      if (maxSize !== undefined && out.length > maxSize) return undefined
      return asBytes(out)
    },
    decompress(data, maxOutput) {
      try {
        // One byte more than allowed, so that "exactly at the limit" is distinguishable.
        return asBytes(zz.zstdDecompressSync(data, { maxOutputLength: maxOutput + 1 }))
      } catch (err) {
        if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(maxOutput)
        throw corrupt(err)
      }
    },
  }
}

// ---- zstd-napi -----------------------------------------------------------------------------------

interface NapiCCtx {
  compress(dst: Uint8Array, src: Uint8Array, level: number): number
  compressStream2(dst: Uint8Array, src: Uint8Array, endOp: number): [number, number, number]
  setParameter(param: number, value: number): void
  reset(directive: number): void
}
interface NapiDCtx {
  decompressStream(dst: Uint8Array, src: Uint8Array): [number, number, number]
  reset(directive: number): void
}
interface NapiBinding {
  CCtx: new () => NapiCCtx
  DCtx: new () => NapiDCtx
  compressBound(size: number): number
  getFrameContentSize(frame: Uint8Array): number | null
  ResetDirective: { sessionOnly: number; sessionAndParameters: number }
  EndDirective: { continue: number; end: number }
  CParameter: { compressionLevel: number }
}

function loadNapi(): ZstdBackend | undefined {
  let b: NapiBinding
  try {
    b = require('zstd-napi/binding.js') as NapiBinding
  } catch {
    return undefined
  }
  let cctx: NapiCCtx | undefined
  let sctx: NapiCCtx | undefined
  let dctx: NapiDCtx | undefined

  // Streaming compression with unknown length: feed everything with "continue" (so the encoder
  // cannot learn the size), then "end" until flushed.
  function compressStreaming(data: Uint8Array, level: number, maxSize: number | undefined) {
    sctx ??= new b.CCtx()
    sctx.reset(b.ResetDirective.sessionAndParameters)
    sctx.setParameter(b.CParameter.compressionLevel, level)
    const bound = b.compressBound(data.length) + 32
    const cap = maxSize === undefined ? bound : Math.min(bound, Math.max(maxSize, 0))
    let out = new Uint8Array(cap)
    let produced = 0
    let input = data
    while (input.length > 0) {
      if (produced === out.length) return undefined
      const [, wrote, consumed] = sctx.compressStream2(out.subarray(produced), input, b.EndDirective.continue)
      produced += wrote
      input = input.subarray(consumed)
    }
    for (;;) {
      if (produced === out.length) {
        if (maxSize !== undefined && out.length >= maxSize) return undefined
        const grown = new Uint8Array(out.length * 2 + 64)
        grown.set(out)
        out = grown
      }
      const [left, wrote] = sctx.compressStream2(
        out.subarray(produced),
        new Uint8Array(0),
        b.EndDirective.end,
      )
      produced += wrote
      if (left === 0) break
    }
    if (maxSize !== undefined && produced > maxSize) return undefined
    return produced * 4 >= out.length * 3 ? out.subarray(0, produced) : out.slice(0, produced)
  }

  return {
    name: 'zstd-napi',
    compress(data, { level, maxSize, contentSize = true }) {
      if (!contentSize) return compressStreaming(data, level, maxSize)
      cctx ??= new b.CCtx()
      const bound = b.compressBound(data.length)
      if (maxSize === undefined || maxSize >= bound) {
        const out = new Uint8Array(bound)
        const n = cctx.compress(out, data, level)
        return n * 4 >= bound * 3 ? out.subarray(0, n) : out.slice(0, n)
      }
      if (maxSize <= 0) return undefined
      const out = new Uint8Array(maxSize)
      try {
        const n = cctx.compress(out, data, level)
        return n * 4 >= maxSize * 3 ? out.subarray(0, n) : out.slice(0, n)
      } catch {
        return undefined // "Destination buffer is too small": not worth compressing
      }
    },
    decompress(data, maxOutput) {
      dctx ??= new b.DCtx()
      dctx.reset(b.ResetDirective.sessionOnly)
      let hint: number | null = null
      try {
        hint = b.getFrameContentSize(data)
      } catch {
        hint = null
      }
      // The declared content size is untrusted: believe it only up to a bound proportional to the
      // input, so that a few forged header bytes cannot reserve the whole output limit. Beyond it
      // the buffer grows by doubling as data is actually produced.
      const plausible = Math.max(data.length * 32, 1 << 20)
      let cap = Math.min(maxOutput, plausible, hint ?? Math.max(data.length * 4, 1 << 16))
      // Uninitialized memory is fine: only the produced prefix is ever returned (sliced otherwise).
      let out = uninit(Math.max(cap, 1))
      let produced = 0
      let input = data
      let pending = 0 // decoder's "more to come" hint: 0 once the last frame is complete
      try {
        while (input.length > 0 || pending !== 0) {
          if (produced === out.length) {
            if (out.length > maxOutput) throw tooLarge(maxOutput)
            cap = Math.min(out.length * 2, maxOutput + 1)
            const grown = uninit(cap)
            grown.set(out)
            out = grown
          }
          const [ret, wrote, consumed] = dctx.decompressStream(out.subarray(produced), input)
          produced += wrote
          input = input.subarray(consumed)
          pending = ret
          if (produced > maxOutput) throw tooLarge(maxOutput)
          if (wrote === 0 && consumed === 0 && produced < out.length) throw new Error('truncated zstd frame')
        }
      } catch (err) {
        if (err instanceof PxarError) throw err
        throw corrupt(err)
      }
      return produced === out.length ? out : out.slice(0, produced)
    },
  }
}

// ---- @bokuweb/zstd-wasm --------------------------------------------------------------------------

interface WasmModule {
  init(): Promise<void>
  // The wasm build offers one-shot compression only (its frames always carry the content size).
  compress(data: Uint8Array, level?: number): Uint8Array
  decompress(data: Uint8Array, opts?: { defaultHeapSize?: number }): Uint8Array
}

let wasmReady: ZstdBackend | undefined

/** Frame_Content_Size of the first zstd frame in `data`, when its header declares one. */
function frameContentSize(data: Uint8Array): number | undefined {
  if (data.length < 6 || data[0] !== 0x28 || data[1] !== 0xb5 || data[2] !== 0x2f || data[3] !== 0xfd) {
    return undefined
  }
  const fhd = data[4]!
  const fcsFlag = fhd >> 6
  const single = (fhd >> 5) & 1
  const didSize = [0, 1, 2, 4][fhd & 3]!
  const fcsSize = fcsFlag === 0 ? single : [1, 2, 4, 8][fcsFlag]!
  if (fcsSize === 0) return undefined
  let pos = 5 + (single ? 0 : 1) + didSize
  if (pos + fcsSize > data.length) return undefined
  let value = 0
  for (let i = 0, mul = 1; i < fcsSize; i++, mul *= 256) value += data[pos++]! * mul
  return fcsSize === 2 ? value + 256 : value
}

async function loadWasm(): Promise<ZstdBackend> {
  if (wasmReady) return wasmReady
  const m = require('@bokuweb/zstd-wasm') as WasmModule
  await m.init()
  wasmReady = {
    name: 'zstd-wasm',
    compress(data, { level, maxSize }) {
      const out = m.compress(data, level)
      if (maxSize !== undefined && out.length > maxSize) return undefined
      return asBytes(out)
    },
    decompress(data, maxOutput) {
      const declared = frameContentSize(data)
      if (declared !== undefined && declared > maxOutput) throw tooLarge(maxOutput)
      // This build's JS API trusts the frame's content size and otherwise decodes into a fixed
      // heap of `defaultHeapSize`; start small and double on failure instead of reserving the
      // whole limit for every frame without content size.
      let heap = Math.min(maxOutput + 1, Math.max(data.length * 4, 1 << 20))
      for (;;) {
        let out: Uint8Array
        try {
          out = m.decompress(data, { defaultHeapSize: heap })
        } catch (err) {
          if (heap > maxOutput) throw corrupt(err)
          heap = Math.min(heap * 2, maxOutput + 1)
          continue
        }
        if (out.length > maxOutput) throw tooLarge(maxOutput)
        return asBytes(out)
      }
    },
  }
  return wasmReady
}

// ---- selection -----------------------------------------------------------------------------------

let selected: ZstdBackend | undefined

/** Loads a specific backend (async because the wasm one needs to instantiate its module). */
export async function loadZstdBackend(name: ZstdBackendName): Promise<ZstdBackend | undefined> {
  if (name === 'node:zlib') return loadZlib()
  if (name === 'zstd-napi') return loadNapi()
  return loadWasm()
}

/**
 * Makes a zstd backend ready and returns it: the first available of node:zlib, zstd-napi,
 * zstd-wasm (or exactly `prefer` when given). Only the wasm fallback really needs this call;
 * native backends are loaded synchronously on first use.
 *
 * @example
 * ```ts
 * const backend = await initZstd()
 * console.log(backend.name) // 'zstd-napi' on Node 20
 * ```
 */
export async function initZstd(prefer?: ZstdBackendName): Promise<ZstdBackend> {
  if (prefer !== undefined) {
    const b = await loadZstdBackend(prefer)
    if (!b) throw new Error(`zstd backend ${prefer} is not available`)
    selected = b
    return b
  }
  selected ??= loadZlib() ?? loadNapi() ?? (await loadWasm())
  return selected
}

/**
 * The current zstd backend, loading a native one synchronously when none is selected yet.
 *
 * @throws Error when no native backend exists and {@link initZstd} has not been awaited.
 */
export function zstd(): ZstdBackend {
  selected ??= loadZlib() ?? loadNapi() ?? wasmReady
  if (!selected) throw new Error('no native zstd backend: await initZstd() before encoding/decoding blobs')
  return selected
}
