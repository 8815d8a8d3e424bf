import { describe, expect, it } from 'vitest'
import {
  ACL_NO_MASK,
  blockDeviceMetadata,
  charDeviceMetadata,
  createMetadata,
  dirMetadata,
  encodedMetadataSize,
  fifoMetadata,
  fileMetadata,
  metadataLimitError,
  socketMetadata,
  symlinkMetadata,
  writeMetadataItems,
} from '../src/index.ts'

describe('metadata builders', () => {
  it('builds file metadata fluently', () => {
    const m = fileMetadata(0o640)
      .owner(1000, 100)
      .mtime(1_700_000_000, 5)
      .xattr('user.a', 'b')
      .aclUser(1001, 6)
      .aclGroup(100, 5)
      .aclGroupObj(4)
      .fcaps(new Uint8Array([1, 2]))
      .quotaProjectId(2n ** 60n)
      .flags(16)
      .build()
    expect(m.stat).toEqual({
      mode: 0o100640,
      flags: 16,
      uid: 1000,
      gid: 100,
      mtime: { secs: 1_700_000_000, nanos: 5 },
    })
    expect(m.xattrs).toEqual([
      { name: new TextEncoder().encode('user.a'), value: new TextEncoder().encode('b') },
    ])
    expect(m.acl.users).toEqual([{ uid: 1001, permissions: 6 }])
    expect(m.acl.groupObj).toEqual({ permissions: 4 })
    expect(m.quotaProjectId).toBe(2n ** 60n)
  })

  it('sets the type bits', () => {
    expect(dirMetadata().build().stat.mode).toBe(0o40755)
    expect(symlinkMetadata().build().stat.mode).toBe(0o120777)
    expect(charDeviceMetadata(0o666).build().stat.mode).toBe(0o20666)
    expect(blockDeviceMetadata(0o660).build().stat.mode).toBe(0o60660)
    expect(fifoMetadata().build().stat.mode).toBe(0o10644)
    expect(socketMetadata().build().stat.mode).toBe(0o140755)
    expect(fileMetadata().permissions(0o4755).build().stat.mode).toBe(0o104755)
  })

  it('mtime from a Date before 1970 floors with positive nanos', () => {
    expect(fileMetadata().mtime(new Date(-500)).build().stat.mtime).toEqual({ secs: -1, nanos: 500_000_000 })
  })

  it('default ACL mask defaults to NO_MASK and normalises bigints', () => {
    const m = dirMetadata()
      .aclDefault({ userObjPermissions: 7n, groupObjPermissions: 5, otherPermissions: 0 })
      .aclDefaultUser(1, 7)
      .aclDefaultGroup(2, 5)
      .build()
    expect(m.acl.default).toEqual({
      userObjPermissions: 7,
      groupObjPermissions: 5,
      otherPermissions: 0,
      maskPermissions: ACL_NO_MASK,
    })
  })

  it('rejects out-of-range values', () => {
    expect(() => fileMetadata().owner(-1, 0).build()).toThrow(RangeError)
    expect(() =>
      fileMetadata()
        .aclUser(2n ** 64n, 0)
        .build(),
    ).toThrow(RangeError)
    expect(() => createMetadata({ mode: 0o100644, mtime: { secs: 2n ** 63n, nanos: 0 } })).toThrow(RangeError)
  })

  it('createMetadata fills defaults', () => {
    expect(createMetadata({ mode: 0o100644 })).toEqual(fileMetadata().build())
  })

  it('encodes items in pxar order with the computed size', () => {
    const m = fileMetadata()
      .xattr('a', new Uint8Array([0, 1]))
      .aclUser(1, 6)
      .aclGroup(2, 5)
      .aclGroupObj(4)
      .aclDefault({ userObjPermissions: 7, groupObjPermissions: 5, otherPermissions: 0, maskPermissions: 7 })
      .aclDefaultUser(3, 7)
      .aclDefaultGroup(4, 7)
      .fcaps(new Uint8Array(3))
      .quotaProjectId(0)
      .build()
    const size = encodedMetadataSize(m)
    expect(size).toBe(56 + 20 + 32 + 32 + 24 + 48 + 32 + 32 + 19 + 24)
    const b = new Uint8Array(size)
    expect(writeMetadataItems(b, new DataView(b.buffer), 0, m)).toBe(size)
    expect(metadataLimitError(m)).toBeUndefined()
    expect(
      metadataLimitError(
        fileMetadata()
          .xattr(new Uint8Array([1, 0]), 'v')
          .build(),
      ),
    ).toMatch(/NUL/)
    expect(metadataLimitError(fileMetadata().xattr('', 'v').build())).toMatch(/non-empty/)
    expect(metadataLimitError(fileMetadata().xattr('x', new Uint8Array(65790)).build())).toMatch(
      'invalid content size (65792 > 65791) of entry with XATTR header',
    )
  })
})
