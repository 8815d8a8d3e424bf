/**
 * CRC-32 (IEEE 802.3 / zlib): reflected polynomial 0xEDB88320, init and final XOR 0xFFFFFFFF.
 * DataBlob headers store it little-endian at offset 8, over the bytes after the header.
 */
import * as zlib from 'node:zlib'

type Crc32Fn = (data: Uint8Array, value?: number) => number

let table: Uint32Array | undefined

function crc32Js(data: Uint8Array, value = 0): number {
  if (!table) {
    table = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      table[n] = c >>> 0
    }
  }
  const t = table
  let crc = ~value >>> 0
  for (let i = 0; i < data.length; i++) crc = t[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8)
  return ~crc >>> 0
}

// zlib.crc32 exists from Node 20.15 / 22.2 and runs at memory speed; the table version is only
// a fallback for older runtimes.
const native: Crc32Fn | undefined = (zlib as unknown as { crc32?: Crc32Fn }).crc32

/**
 * CRC-32 of `data`, optionally continuing from a previous `value` (for data fed in pieces).
 *
 * @example
 * ```ts
 * crc32(new TextEncoder().encode('123456789')) // 0xcbf43926
 * ```
 */
export function crc32(data: Uint8Array, value = 0): number {
  return native ? native(data, value) >>> 0 : crc32Js(data, value)
}
