/**
 * UTF-8 helpers (codec compiles without DOM or Node types, so no `TextDecoder`).
 */

/**
 * Decodes UTF-8 leniently for display: invalid sequences become U+FFFD (one per maximal invalid
 * subpart, as `TextDecoder` does).
 */
export function decodeUtf8(bytes: Uint8Array): string {
  const n0 = bytes.length
  if (n0 <= 256) {
    let ascii = true
    for (let i = 0; i < n0; i++) {
      if (bytes[i]! >= 0x80) {
        ascii = false
        break
      }
    }
    if (ascii) return String.fromCharCode.apply(null, bytes as unknown as number[])
  }
  let out = ''
  let chunk: number[] = []
  const n = bytes.length
  let i = 0
  while (i < n) {
    const b = bytes[i]!
    let cp = 0xfffd
    let len = 1
    if (b < 0x80) {
      cp = b
    } else if (b >= 0xc2 && b <= 0xdf) {
      const b1 = bytes[i + 1]
      if (b1 !== undefined && (b1 & 0xc0) === 0x80) {
        cp = ((b & 0x1f) << 6) | (b1 & 0x3f)
        len = 2
      }
    } else if (b >= 0xe0 && b <= 0xef) {
      const b1 = bytes[i + 1]
      const lo = b === 0xe0 ? 0xa0 : 0x80
      const hi = b === 0xed ? 0x9f : 0xbf
      if (b1 !== undefined && b1 >= lo && b1 <= hi) {
        const b2 = bytes[i + 2]
        if (b2 !== undefined && (b2 & 0xc0) === 0x80) {
          cp = ((b & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f)
          len = 3
        } else len = 2
      }
    } else if (b >= 0xf0 && b <= 0xf4) {
      const b1 = bytes[i + 1]
      const lo = b === 0xf0 ? 0x90 : 0x80
      const hi = b === 0xf4 ? 0x8f : 0xbf
      if (b1 !== undefined && b1 >= lo && b1 <= hi) {
        const b2 = bytes[i + 2]
        if (b2 !== undefined && (b2 & 0xc0) === 0x80) {
          const b3 = bytes[i + 3]
          if (b3 !== undefined && (b3 & 0xc0) === 0x80) {
            cp = ((b & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f)
            len = 4
          } else len = 3
        } else len = 2
      }
    }
    i += len
    if (cp > 0xffff) {
      cp -= 0x10000
      chunk.push(0xd800 | (cp >> 10), 0xdc00 | (cp & 0x3ff))
    } else chunk.push(cp)
    if (chunk.length > 4096) {
      out += String.fromCharCode(...chunk)
      chunk = []
    }
  }
  return chunk.length === 0 ? out : out + String.fromCharCode(...chunk)
}

/** True when `bytes` is valid UTF-8. */
export function isValidUtf8(bytes: Uint8Array): boolean {
  const s = decodeUtf8(bytes)
  if (!s.includes('\ufffd')) return true
  // a literal U+FFFD (ef bf bd) is valid: compare the re-encoding length cheaply via a strict walk
  let i = 0
  const n = bytes.length
  while (i < n) {
    const b = bytes[i]!
    if (b < 0x80) {
      i++
      continue
    }
    let len: number
    let lo = 0x80
    let hi = 0xbf
    if (b >= 0xc2 && b <= 0xdf) len = 2
    else if (b >= 0xe0 && b <= 0xef) {
      len = 3
      if (b === 0xe0) lo = 0xa0
      if (b === 0xed) hi = 0x9f
    } else if (b >= 0xf0 && b <= 0xf4) {
      len = 4
      if (b === 0xf0) lo = 0x90
      if (b === 0xf4) hi = 0x8f
    } else return false
    if (i + len > n) return false
    const b1 = bytes[i + 1]!
    if (b1 < lo || b1 > hi) return false
    for (let k = 2; k < len; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return false
    i += len
  }
  return true
}
