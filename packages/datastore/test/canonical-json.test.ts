import { PXAR_ERROR_CODES } from '@pxar/format'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { canonicalJson, JsonFloat, parseJson, prettyJson } from '../src/canonical-json.ts'

describe('canonicalJson', () => {
  it('sorts keys by code point, not UTF-16 unit', () => {
    // U+FF61 sorts before U+1F600 in code-point order, after it in UTF-16 order
    expect(canonicalJson({ '\u{1F600}': 1, '\uFF61': 2, b: 3, a: 4 })).toBe('{"a":4,"b":3,"｡":2,"😀":1}')
  })
  it('formats floats like ryu', () => {
    const f = (x: number) => canonicalJson(new JsonFloat(x))
    expect(f(1)).toBe('1.0')
    expect(f(1e15)).toBe('1000000000000000.0')
    expect(f(1e16)).toBe('1e16')
    expect(canonicalJson(1.5)).toBe('1.5')
    expect(canonicalJson(0.001234)).toBe('0.001234')
    expect(canonicalJson(1.5e-7)).toBe('1.5e-7')
    expect(canonicalJson(1.234e33)).toBe('1.234e33')
    expect(f(-0)).toBe('-0.0')
  })
  it('keeps u64 precision through parse', () => {
    expect(canonicalJson(parseJson('{"a":18446744073709551615,"b":-9223372036854775808}'))).toBe(
      '{"a":18446744073709551615,"b":-9223372036854775808}',
    )
    expect(canonicalJson(parseJson('[1.0, 1e2, 100000000000000000000000]'))).toBe('[1.0,100.0,1e23]')
  })
  it('rejects null', () => {
    expect(() => canonicalJson({ a: null })).toThrow(TypeError)
  })
  it('round-trips JSON values losslessly', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const parsed = parseJson(JSON.stringify(v))
        expect(parseJson(prettyJson(parsed))).toEqual(parsed)
        if (!JSON.stringify(v).includes('null')) {
          expect(parseJson(canonicalJson(parsed))).toEqual(parsed)
        }
      }),
      { numRuns: 300 },
    )
  })
  it('pretty-prints like serde_json', () => {
    expect(prettyJson({ b: [], a: {}, c: [1, { y: null, x: 'z' }] })).toBe(
      '{\n  "a": {},\n  "b": [],\n  "c": [\n    1,\n    {\n      "x": "z",\n      "y": null\n    }\n  ]\n}',
    )
  })
  it('reports syntax errors with a typed error and offset', () => {
    for (const bad of ['{', '{"a":}', '[1,]', '"\\x"', '01', '{"a":1} x', '"\ud800"', '['.repeat(200)]) {
      try {
        parseJson(bad)
        expect.unreachable(bad)
      } catch (e) {
        expect((e as { code: string }).code).toBe('ERR_MANIFEST_FORMAT')
        expect(typeof (e as { offset: unknown }).offset).toBe('number')
      }
    }
    expect(PXAR_ERROR_CODES).toContain('ERR_MANIFEST_FORMAT')
  })
})
