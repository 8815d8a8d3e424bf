import { ACL_NO_MASK, createMetadata } from '@pxar/format'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { entryFromWire, entryToWire, listingFromWire, listingToWire, type SourceEntry } from '../src/index.ts'

const entry: SourceEntry = {
  name: new Uint8Array([0x61, 0xff]),
  kind: 'char-device',
  metadata: createMetadata({
    mode: 0o020644,
    flags: 0xffff_ffff_ffff_ffffn,
    uid: 4_000_000_000,
    gid: 7,
    mtime: { secs: -(2n ** 62n), nanos: 999_999_999 },
    xattrs: [{ name: new TextEncoder().encode('user.x'), value: new Uint8Array([0, 1, 0]) }],
    acl: {
      users: [{ uid: 1, permissions: 7 }],
      groupObj: { permissions: 5 },
      default: {
        userObjPermissions: 7,
        groupObjPermissions: ACL_NO_MASK,
        otherPermissions: 0,
        maskPermissions: ACL_NO_MASK,
      },
      defaultGroups: [{ gid: 2n ** 60n, permissions: 1 }],
    },
    fcaps: new Uint8Array([1, 2, 3]),
    quotaProjectId: 2n ** 63n,
  }),
  size: 0,
  dev: '18446744073709551615',
  ino: '12345678901234567890',
  nlink: 1,
  rdev: { major: 0xfffff, minor: 0xffffffff },
}

describe('agent wire format', () => {
  it('round-trips entries with values beyond 2^53 through JSON', () => {
    const back = entryFromWire(JSON.parse(JSON.stringify(entryToWire(entry))))
    expect(back).toEqual(entry)
    const l = {
      entries: [entry],
      skipped: [{ path: new Uint8Array([1, 2]), code: 'ENOENT', message: 'gone' }],
    }
    expect(listingFromWire(JSON.parse(JSON.stringify(listingToWire(l))))).toEqual(l)
  })

  it('rejects malformed messages with a typed error, never a crash', () => {
    const good = entryToWire(entry) as Record<string, unknown>
    for (const bad of [
      null,
      [],
      { ...good, kind: 'door' },
      { ...good, dev: '-1' },
      { ...good, size: -1 },
      { ...good, name: 5 },
      { ...good, metadata: { ...(good.metadata as object), mode: 2 ** 60 } },
      { ...good, metadata: { ...(good.metadata as object), uid: 2 ** 33 } },
      { ...good, metadata: { ...(good.metadata as object), acl: null } },
    ])
      expect(() => entryFromWire(bad)).toThrow(/./)
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        try {
          entryFromWire(v)
        } catch (err) {
          expect((err as Error).name).toBe('WireError')
        }
      }),
    )
  })
})
