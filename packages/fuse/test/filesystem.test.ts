import { BufferSink, bufferReadAt, Encoder, openAccessor, type ReadAt } from '@pxar/codec'
import { CryptConfig, DynamicIndex, DynamicIndexWriter, encodeBlob, IndexReadAt } from '@pxar/datastore'
import { dirMetadata, fileMetadata, MetadataBuilder, S_IFCHR, S_IFIFO, symlinkMetadata } from '@pxar/format'
import { describe, expect, it } from 'vitest'
import { BlockCacheReadAt, ERRNO, type FsStat, PxarFilesystem, ReadAheadReadAt } from '../src/index.ts'

const te = new TextEncoder()
const td = new TextDecoder()

function archive(split: boolean): { meta: Uint8Array; payload: Uint8Array | undefined } {
  const out = new BufferSink()
  const payload = split ? new BufferSink() : undefined
  const enc = new Encoder(out, dirMetadata(0o755).mtime(1_600_000_000, 5).build(), payload ? { payload } : {})
  const hello = enc.addFile(
    'hello.txt',
    new MetadataBuilder(0o100640)
      .owner(1000, 100)
      .mtime(1_700_000_000, 123_456_789)
      .xattr('user.note', 'a\u0000b')
      .aclUser(1001, 5)
      .aclGroup(2000, 4)
      .aclGroupObj(6)
      .build(),
    te.encode('hello world\n'),
  )
  enc.createDirectory(
    'sub',
    dirMetadata(0o700)
      .aclDefault({ userObjPermissions: 7, groupObjPermissions: 5, otherPermissions: 0, maskPermissions: 5 })
      .aclDefaultUser(7, 1)
      .build(),
  )
  enc.createDirectory('inner', dirMetadata(0o755).build())
  enc.finish()
  enc.addHardlink('hello-link', 'hello.txt', hello)
  enc.addSymlink('up', symlinkMetadata().build(), '../hello.txt')
  enc.finish()
  enc.addDevice('tty', new MetadataBuilder(S_IFCHR | 0o620).build(), { major: 4, minor: 300 })
  enc.addFifo('pipe', new MetadataBuilder(S_IFIFO | 0o600).build())
  enc.addFile(
    'caps',
    fileMetadata(0o755)
      .fcaps(new Uint8Array([1, 0, 0, 2]))
      .build(),
    new Uint8Array(70_000).fill(7),
  )
  enc.finish()
  enc.close()
  return { meta: out.takeBytes(), payload: payload?.takeBytes() }
}

async function fsOf(split: boolean, options = {}): Promise<PxarFilesystem> {
  const a = archive(split)
  const acc = await openAccessor(bufferReadAt(a.meta), a.payload ? { payload: bufferReadAt(a.payload) } : {})
  return new PxarFilesystem(acc, options)
}

const st = (v: FsStat | number): FsStat => {
  if (typeof v === 'number') throw new Error(`errno ${v}`)
  return v
}

describe.each([false, true])('PxarFilesystem (split %s)', (split) => {
  it('stats entries with stable inodes, hardlinks sharing one inode and link counts', async () => {
    const fs = await fsOf(split)
    const root = st(await fs.getattr('/'))
    expect(root.ino).toBe(1)
    expect(root.nlink).toBe(3) // . plus sub's ..
    expect(root.mtimeSecs).toBe(1_600_000_000)
    const hello = st(await fs.getattr('/hello.txt'))
    expect(hello).toMatchObject({ mode: 0o100640, uid: 1000, gid: 100, size: 12, nlink: 2, blocks: 1 })
    expect(hello.mtimeNanos).toBe(123_456_789)
    const link = st(await fs.getattr('/sub/hello-link'))
    expect(link.ino).toBe(hello.ino)
    expect(link.nlink).toBe(2)
    expect(st(await fs.getattr('/sub')).nlink).toBe(3)
    expect(st(await fs.getattr('/sub/inner')).nlink).toBe(2)
    expect(st(await fs.getattr('/sub/up')).size).toBe('../hello.txt'.length)
    expect(st(await fs.getattr('/tty')).rdev).toBe((300 & 0xff) | (4 << 8) | ((300 & ~0xff) << 12))
    expect(st(await fs.getattr('/pipe')).mode).toBe(S_IFIFO | 0o600)
    // another filesystem over the same archive gives the same inode numbers
    const again = await fsOf(split)
    expect(st(await again.getattr('/sub/inner')).ino).toBe(st(await fs.getattr('/sub/inner')).ino)
    const inos = new Set<number>()
    for (const p of ['/', '/hello.txt', '/sub', '/sub/inner', '/sub/up', '/tty', '/pipe', '/caps'])
      inos.add(st(await fs.getattr(p)).ino)
    expect(inos.size).toBe(8)
  })

  it('answers ENOENT/ENOTDIR for bad paths', async () => {
    const fs = await fsOf(split)
    expect(await fs.getattr('/missing')).toBe(-ERRNO.ENOENT)
    expect(await fs.getattr('/hello.txt/x')).toBe(-ERRNO.ENOTDIR)
    expect(await fs.getattr('relative')).toBe(-ERRNO.ENOENT)
    expect(await fs.readdir('/hello.txt')).toBe(-ERRNO.ENOTDIR)
    expect(await fs.readlink('/hello.txt')).toBe(-ERRNO.EINVAL)
    expect(await fs.getattr('/sub/')).toMatchObject({ mode: 0o40700 })
  })

  it('lists directories with . and ..', async () => {
    const fs = await fsOf(split)
    const list = await fs.readdir('/sub')
    if (typeof list === 'number') throw new Error('readdir failed')
    expect(list.map((e) => td.decode(e.name)).sort()).toEqual(['.', '..', 'hello-link', 'inner', 'up'])
    expect(list[0]!.stat.ino).toBe(st(await fs.getattr('/sub')).ino)
    expect(list[1]!.stat.ino).toBe(1)
    const root = await fs.readdir('/')
    if (typeof root === 'number') throw new Error('readdir failed')
    expect(root.length).toBe(2 + 5)
  })

  it('reads files through handles, in any piece size', async () => {
    const fs = await fsOf(split)
    const fd = await fs.open('/sub/hello-link', 0)
    expect(fd).toBeGreaterThan(0)
    const buf = new Uint8Array(64)
    const n = await fs.read(fd, buf, 6)
    expect(td.decode(buf.subarray(0, n))).toBe('world\n')
    expect(await fs.read(fd, buf, 100)).toBe(0)
    expect(fs.release(fd)).toBe(0)
    expect(await fs.read(fd, buf, 0)).toBe(-ERRNO.EBADF)
    const big = await fs.open('/caps')
    const all = new Uint8Array(70_000)
    let pos = 0
    while (pos < all.length) {
      const r = await fs.read(big, all.subarray(pos, pos + 4099), pos)
      expect(r).toBeGreaterThan(0)
      pos += r
    }
    expect(all.every((b) => b === 7)).toBe(true)
    fs.release(big)
    expect(fs.openFiles).toBe(0)
    expect(await fs.open('/sub', 0)).toBe(-ERRNO.EISDIR)
    expect(await fs.open('/sub/up', 0)).toBe(-ERRNO.EINVAL)
  })

  it('exposes xattrs, ACLs in the kernel format and file capabilities', async () => {
    const fs = await fsOf(split)
    const names = await fs.listxattr('/hello.txt')
    if (typeof names === 'number') throw new Error('listxattr failed')
    expect(names.map((n) => td.decode(n))).toEqual(['user.note', 'system.posix_acl_access'])
    expect(await fs.getxattr('/hello.txt', 'user.note')).toEqual(te.encode('a\u0000b'))
    expect(await fs.getxattr('/hello.txt', 'user.other')).toBe(-ERRNO.ENODATA)
    const acl = await fs.getxattr('/hello.txt', 'system.posix_acl_access')
    if (typeof acl === 'number') throw new Error('no acl')
    const v = new DataView(acl.buffer, acl.byteOffset, acl.byteLength)
    expect(v.getUint32(0, true)).toBe(2)
    const items: number[][] = []
    for (let o = 4; o < acl.length; o += 8)
      items.push([v.getUint16(o, true), v.getUint16(o + 2, true), v.getInt32(o + 4, true)])
    // user_obj, user, group_obj, group, mask (the mode's group bits), other
    expect(items).toEqual([
      [0x01, 6, -1],
      [0x02, 5, 1001],
      [0x04, 6, -1],
      [0x08, 4, 2000],
      [0x10, 4, -1],
      [0x20, 0, -1],
    ])
    const def = await fs.getxattr('/sub', 'system.posix_acl_default')
    if (typeof def === 'number') throw new Error('no default acl')
    expect(def.length).toBe(4 + 5 * 8)
    expect(await fs.getxattr('/sub', 'system.posix_acl_access')).toBe(-ERRNO.ENODATA)
    expect(await fs.getxattr('/caps', 'security.capability')).toEqual(new Uint8Array([1, 0, 0, 2]))
    expect(await fs.listxattr('/caps')).toEqual([te.encode('security.capability')])
  })

  it('refuses every write with EROFS', async () => {
    const fs = await fsOf(split)
    expect(await fs.open('/hello.txt', 1)).toBe(-ERRNO.EROFS)
    expect(await fs.open('/hello.txt', 2)).toBe(-ERRNO.EROFS)
    expect(await fs.access('/hello.txt', 2)).toBe(-ERRNO.EROFS)
    expect(await fs.access('/hello.txt', 4)).toBe(0)
    expect(await fs.access('/nope', 4)).toBe(-ERRNO.ENOENT)
    expect(fs.readonly()).toBe(-ERRNO.EROFS)
    expect(fs.statfs()).toMatchObject({ bsize: 4096, bfree: 0, bavail: 0, namemax: 255 })
  })

  it("reports one link per file in 'fast' mode and works with tiny caches", async () => {
    const fs = await fsOf(split, { linkCounts: 'fast', cacheEntries: 1, cacheListingEntries: 1 })
    expect(st(await fs.getattr('/hello.txt')).nlink).toBe(1)
    expect(st(await fs.getattr('/sub/hello-link')).ino).toBe(st(await fs.getattr('/hello.txt')).ino)
    expect(st(await fs.getattr('/sub/inner')).nlink).toBe(2)
    expect(() => new PxarFilesystem((fs as PxarFilesystem).accessor, { cacheEntries: 0 })).toThrow(RangeError)
  })
})

describe('PxarFilesystem over a failing source', () => {
  it('answers EIO and reports the error', async () => {
    const a = archive(false)
    const good = bufferReadAt(a.meta)
    let broken = false
    const src: ReadAt = {
      size: good.size,
      read: (buf, pos) => (broken ? Promise.reject(new Error('disk gone')) : good.read(buf, pos)),
    }
    const errors: string[] = []
    const fs = new PxarFilesystem(await openAccessor(src), {
      linkCounts: 'fast',
      onError: (_e, op, path) => errors.push(`${op} ${path}`),
    })
    const fd = await fs.open('/caps')
    broken = true
    expect(await fs.getattr('/sub')).toBe(-ERRNO.EIO)
    expect(await fs.read(fd, new Uint8Array(10), 0)).toBe(-ERRNO.EIO)
    expect(errors).toEqual(['getattr /sub', 'read /caps'])
  })
})

describe('ReadAheadReadAt', () => {
  it('prefetches the next chunks of sequential reads and returns the same bytes', async () => {
    const chunks = [0, 1, 2, 3, 4, 5].map((i) => new Uint8Array(1000).fill(i))
    const w = new DynamicIndexWriter()
    const blobs = new Map<string, Uint8Array>()
    let end = 0
    for (const c of chunks) {
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', c))
      blobs.set(Buffer.from(digest).toString('hex'), encodeBlob(c))
      end += c.length
      w.add(end, digest)
    }
    const index = DynamicIndex.parse(w.finish().bytes)
    const fetched: number[] = []
    const source = {
      read: (d: Uint8Array) => {
        const hex = Buffer.from(d).toString('hex')
        fetched.push([...blobs.keys()].indexOf(hex))
        return Promise.resolve(blobs.get(hex)!)
      },
    }
    const r = new ReadAheadReadAt(new IndexReadAt(index, source, { cacheChunks: 8 }), index, { chunks: 2 })
    const buf = new Uint8Array(600)
    expect(await r.read(buf, 0)).toBe(600)
    expect(fetched).toEqual([0])
    expect(await r.read(buf, 600)).toBe(600)
    expect(buf[0]).toBe(0)
    expect(buf[599]).toBe(1)
    // sequential: chunks 2 and 3 are fetched ahead
    expect(fetched.slice(0, 4).sort()).toEqual([0, 1, 2, 3])
    const out = new Uint8Array(6000)
    expect(await r.read(out, 0)).toBe(6000)
    expect(out.every((b, i) => b === Math.floor(i / 1000))).toBe(true)
  })
})

describe('BlockCacheReadAt', () => {
  it('serves small reads from cached blocks and returns the same bytes as the source', async () => {
    const bytes = new Uint8Array(10_000).map((_, i) => (i * 7) & 0xff)
    const inner = bufferReadAt(bytes)
    let reads = 0
    const counting: ReadAt = {
      size: inner.size,
      read: (b, p) => {
        reads++
        return inner.read(b, p)
      },
    }
    const c = new BlockCacheReadAt(counting, { blockSize: 1024, blocks: 4 })
    for (const [pos, len] of [
      [0, 10],
      [5, 100],
      [1000, 50],
      [9990, 100],
      [3000, 2048],
      [10_000, 5],
    ] as const) {
      const buf = new Uint8Array(len)
      const n = await c.read(buf, pos)
      expect(n).toBe(Math.max(0, Math.min(len, bytes.length - pos)))
      expect(buf.subarray(0, n)).toEqual(bytes.subarray(pos, pos + n))
    }
    // blocks 0 and 1 for the first three reads, block 9, then one direct read
    expect(reads).toBe(4)
    expect(() => new BlockCacheReadAt(counting, { blockSize: 3 })).toThrow(RangeError)
  })
})

describe('ReadAheadReadAt digest verification', () => {
  async function setup(key?: CryptConfig) {
    const data = new Uint8Array(3000).map((_, i) => i & 0xff)
    const input = key ? new Uint8Array([...data, ...key.idKey]) : data
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', input))
    const w = new DynamicIndexWriter()
    w.add(data.length, digest)
    const index = DynamicIndex.parse(w.finish().bytes)
    return { data, index }
  }

  it('verifies plain and keyed digests off-thread and rejects a chunk whose data does not match', async () => {
    for (const key of [undefined, new CryptConfig(new Uint8Array(32).fill(9))]) {
      const { data, index } = await setup(key)
      const good = encodeBlob(data, key ? { crypt: key } : {})
      const ok = new ReadAheadReadAt(
        new IndexReadAt(index, { read: () => Promise.resolve(good) }, { crypt: key, verify: false }),
        index,
        { verifyDigests: true, idKey: key?.idKey },
      )
      const buf = new Uint8Array(3000)
      expect(await ok.read(buf, 0)).toBe(3000)
      expect(buf).toEqual(data)
      const bad = encodeBlob(
        data.map((b) => b ^ 1),
        key ? { crypt: key } : {},
      )
      const r = new ReadAheadReadAt(
        new IndexReadAt(index, { read: () => Promise.resolve(bad) }, { crypt: key, verify: false }),
        index,
        { verifyDigests: true, idKey: key?.idKey },
      )
      await expect(r.read(buf, 10)).rejects.toMatchObject({ code: 'ERR_CHUNK_DIGEST' })
    }
  })
})
