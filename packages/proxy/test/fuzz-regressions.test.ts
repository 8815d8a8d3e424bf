/** Inputs found by the fuzzer (tools/fuzz) that once escaped as untyped errors. */
import { isPxarError } from '@pxar/format'
import { describe, expect, it } from 'vitest'
import { entryFromWire, listingFromWire, metadataFromWire } from '../src/index.ts'

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return isPxarError(err) ? err.code : `untyped ${(err as Error).name}`
  }
  return undefined
}

describe('fuzz regressions', () => {
  it('malformed wire messages are PxarErrors with ERR_PBS_PROTOCOL', () => {
    expect(codeOf(() => entryFromWire({ kind: 'door' }))).toBe('ERR_PBS_PROTOCOL')
    expect(codeOf(() => listingFromWire({ entries: [], skipped: 5 }))).toBe('ERR_PBS_PROTOCOL')
    expect(codeOf(() => metadataFromWire(null))).toBe('ERR_PBS_PROTOCOL')
    const meta = {
      mode: 0o100644,
      flags: 0,
      uid: 2 ** 32,
      gid: 0,
      mtime: [0, 0],
      xattrs: [],
      acl: { users: [], groups: [], groupObj: null, default: null, defaultUsers: [], defaultGroups: [] },
      fcaps: null,
      quotaProjectId: null,
    }
    expect(codeOf(() => metadataFromWire(meta))).toBe('ERR_PBS_PROTOCOL')
  })
})
