/** Inputs found by the fuzzer (tools/fuzz) that once escaped as untyped errors. */
import { describe, expect, it } from 'vitest'
import { parseKeyConfig } from '../src/index.ts'

describe('fuzz regressions', () => {
  it('a key file that is not UTF-8 is ERR_KEY_FORMAT, not a TypeError', () => {
    const bytes = new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])
    expect(() => parseKeyConfig(bytes)).toThrow(expect.objectContaining({ code: 'ERR_KEY_FORMAT' }))
  })
})
