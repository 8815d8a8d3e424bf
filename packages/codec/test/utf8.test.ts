import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeUtf8, isValidUtf8 } from '../src/utf8.ts'

const td = new TextDecoder()
const strict = new TextDecoder('utf-8', { fatal: true })

describe('utf8', () => {
  it('decodeUtf8 matches TextDecoder (replacement per maximal subpart)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        expect(decodeUtf8(b)).toBe(td.decode(b))
      }),
      { numRuns: 2000 },
    )
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
        const b = new TextEncoder().encode(s)
        expect(decodeUtf8(b)).toBe(td.decode(b))
        expect(isValidUtf8(b)).toBe(true)
      }),
    )
  })
  it('isValidUtf8 agrees with a fatal TextDecoder', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        let ok = true
        try {
          strict.decode(b)
        } catch {
          ok = false
        }
        expect(isValidUtf8(b)).toBe(ok)
      }),
      { numRuns: 2000 },
    )
  })
})
