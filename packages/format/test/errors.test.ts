import { describe, expect, it } from 'vitest'
import { isPxarError, PXAR_ERROR_CODES, PxarError, PxarFormatError } from '../src/index.ts'

describe('errors', () => {
  it('every class carries its own name and the given code', () => {
    const a = new PxarError('ERR_PXAR_TRUNCATED', 'short')
    expect(a.name).toBe('PxarError')
    expect(a.code).toBe('ERR_PXAR_TRUNCATED')
    const b = new PxarFormatError('ERR_PXAR_BAD_HEADER', 'bad', 42)
    expect(b.name).toBe('PxarFormatError')
    expect(b.code).toBe('ERR_PXAR_BAD_HEADER')
    expect(b.offset).toBe(42)
    expect(b.message).toContain('42')
    expect(isPxarError(b)).toBe(true)
    expect(isPxarError(new Error('x'))).toBe(false)
  })
  it('codes are unique', () => {
    expect(new Set(PXAR_ERROR_CODES).size).toBe(PXAR_ERROR_CODES.length)
  })
})
