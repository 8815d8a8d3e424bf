import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ACL_NO_MASK, isPxarError } from '@pxar/format'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeRdev, LocalClient, parsePosixAcl, type SourceEntry } from '../src/index.ts'
import { type Fixture, makeFixture } from './client-fixture.ts'

const enc = (s: string): Uint8Array => Buffer.from(s)
const ROOT = new Uint8Array(0)

let fx: Fixture
let client: LocalClient
beforeAll(async () => {
  fx = await makeFixture()
  client = new LocalClient(fx.root)
})
afterAll(async () => {
  await client.close()
  await fx.cleanup()
})

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const p of it) parts.push(Buffer.from(p))
  return Buffer.concat(parts)
}

function statOf(path: string): {
  mode: number
  uid: number
  gid: number
  nlink: number
  ino: string
  dev: string
  major: number
  minor: number
  size: number
  mtime: string
} {
  const out = execFileSync('stat', ['-c', '%f|%u|%g|%h|%i|%d|%t|%T|%s|%.9Y', path], {
    encoding: 'utf8',
  }).trim()
  const [mode, uid, gid, nlink, ino, dev, major, minor, size, mtime] = out.split('|') as [string, ...string[]]
  return {
    mode: Number.parseInt(mode, 16),
    uid: Number(uid),
    gid: Number(gid),
    nlink: Number(nlink),
    ino: ino!,
    dev: dev!,
    major: Number.parseInt(major!, 16),
    minor: Number.parseInt(minor!, 16),
    size: Number(size),
    mtime: mtime!,
  }
}

function byName(entries: readonly SourceEntry[], name: string): SourceEntry {
  const e = entries.find((x) => Buffer.from(x.name).equals(Buffer.from(name)))
  if (!e) throw new Error(`no entry ${name}`)
  return e
}

describe('LocalClient', () => {
  it('lists the root sorted bytewise with stat data matching stat(1)', async () => {
    const { entries, skipped } = await client.listDir(ROOT)
    expect(skipped).toEqual([])
    const expected = readdirSync(fx.root, { encoding: 'buffer' }).sort(Buffer.compare)
    expect(entries.map((e) => Buffer.from(e.name))).toEqual(expected)
    for (const e of entries) {
      if (Buffer.from(e.name).includes(0xff)) continue // not passable to stat(1) as an argument string
      const s = statOf(join(fx.root, Buffer.from(e.name).toString()))
      expect(e.metadata.stat.mode).toBe(s.mode)
      expect(e.metadata.stat.uid).toBe(s.uid)
      expect(e.metadata.stat.gid).toBe(s.gid)
      expect(e.nlink).toBe(s.nlink)
      expect(e.ino).toBe(s.ino)
      expect(e.dev).toBe(s.dev)
      const { secs, nanos } = e.metadata.stat.mtime
      expect(`${secs}.${String(nanos).padStart(9, '0')}`).toBe(s.mtime)
      if (e.kind === 'file') expect(e.size).toBe(s.size)
      else expect(e.size).toBe(0)
      if (e.kind === 'char-device' || e.kind === 'block-device')
        expect(e.rdev).toEqual({ major: s.major, minor: s.minor })
    }
  })

  it('reports every entry kind, hardlinks, symlink targets and non-UTF-8 names', async () => {
    const { entries } = await client.listDir(ROOT)
    expect(byName(entries, 'fifo').kind).toBe('fifo')
    expect(byName(entries, 'sock').kind).toBe('socket')
    expect(byName(entries, 'chardev').rdev).toEqual({ major: 1, minor: 3 })
    expect(byName(entries, 'blockdev')).toMatchObject({
      kind: 'block-device',
      rdev: { major: 259, minor: 70000 },
    })
    expect(byName(entries, 'dir').kind).toBe('directory')
    const link = byName(entries, 'link')
    expect(link.kind).toBe('symlink')
    expect(Buffer.from(link.linkTarget!).toString()).toBe('a.txt')
    const a = byName(entries, 'a.txt')
    const h = byName(entries, 'hardlink')
    expect([a.ino, a.dev, a.nlink]).toEqual([h.ino, h.dev, 2])
    expect(entries.some((e) => Buffer.from(e.name).equals(Buffer.from([0x62, 0xff, 0x66])))).toBe(true)
    const root = await client.stat(ROOT)
    expect(root.kind).toBe('directory')
    expect(root.name.length).toBe(0)
  })

  it('decodes rdev like glibc', () => {
    expect(decodeRdev(0x0801n)).toEqual({ major: 8, minor: 1 })
    const makedev = (major: bigint, minor: bigint): bigint =>
      ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n)
    expect(decodeRdev(makedev(0x12345abcn, 0xfedcb56n))).toEqual({ major: 0x12345abc, minor: 0xfedcb56 })
    expect(decodeRdev(makedev(259n, 70000n))).toEqual({ major: 259, minor: 70000 })
  })

  it('collects user xattrs as getfattr shows them', async () => {
    const a = await client.stat(enc('a.txt'))
    const dump = execFileSync('getfattr', ['-d', '-m', '^user\\.', '-e', 'hex', join(fx.root, 'a.txt')], {
      encoding: 'utf8',
    })
    const expected = new Map<string, string>()
    for (const line of dump.split('\n')) {
      const m = /^([^#=]+)=0x([0-9a-f]*)$/.exec(line.trim())
      if (m) expected.set(m[1]!, m[2]!)
    }
    expect(expected.size).toBe(2)
    const got = new Map(
      a.metadata.xattrs.map((x) => [Buffer.from(x.name).toString(), Buffer.from(x.value).toString('hex')]),
    )
    expect(got).toEqual(expected)
    // ACLs are not xattrs in the archive
    expect([...got.keys()].some((k) => k.startsWith('system.'))).toBe(false)
  })

  it('maps POSIX ACLs as getfacl shows them', async () => {
    const facl = (p: string): string[] =>
      execFileSync('getfacl', ['-n', '-p', '-E', p], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
    const perm = (s: string): number =>
      (s[0] === 'r' ? 4 : 0) | (s[1] === 'w' ? 2 : 0) | (s[2] === 'x' ? 1 : 0)
    const a = await client.stat(enc('a.txt'))
    const lines = facl(join(fx.root, 'a.txt'))
    const users = lines.filter((l) => /^user:\d+:/.test(l)).map((l) => l.split(':'))
    const groups = lines.filter((l) => /^group:\d+:/.test(l)).map((l) => l.split(':'))
    const groupObj = lines.find((l) => l.startsWith('group::'))!.split(':')[2]!
    const mask = lines.find((l) => l.startsWith('mask::'))!.split(':')[2]!
    expect(a.metadata.acl.users).toEqual(users.map((u) => ({ uid: Number(u[1]), permissions: perm(u[2]!) })))
    expect(a.metadata.acl.groups).toEqual(
      groups.map((g) => ({ gid: Number(g[1]), permissions: perm(g[2]!) })),
    )
    expect(a.metadata.acl.groupObj).toEqual({ permissions: perm(groupObj) })
    // with a mask the mode's group bits are the mask
    expect((a.metadata.stat.mode >> 3) & 7).toBe(perm(mask))
    expect(a.metadata.acl.default).toBeUndefined()

    const { entries } = await client.listDir(enc('dir'))
    expect(byName(entries, 'nested').metadata.acl.users).toEqual([{ uid: 42, permissions: 4 }])
    const dir = await client.stat(enc('dir'))
    const d = facl(join(fx.root, 'dir')).filter((l) => l.startsWith('default:'))
    const dflt = (p: string): number => perm(d.find((l) => l.startsWith(p))!.split(':')[3]!)
    expect(dir.metadata.acl.default).toEqual({
      userObjPermissions: dflt('default:user::'),
      groupObjPermissions: dflt('default:group::'),
      otherPermissions: dflt('default:other::'),
      maskPermissions: dflt('default:mask::'),
    })
    expect(dir.metadata.acl.defaultUsers).toEqual([{ uid: 1000, permissions: 7 }])
    expect(dir.metadata.acl.defaultGroups).toEqual([{ gid: 100, permissions: 5 }])
    expect(dir.metadata.acl.users).toEqual([])
    expect(dir.metadata.acl.groupObj).toBeUndefined()
    // other kinds carry none (the Proxmox client reads them through O_PATH descriptors)
    expect(facl(join(fx.root, 'fifo'))).toContain('user:7:rw-')
    expect((await client.stat(enc('fifo'))).metadata.acl.users).toEqual([])
  })

  it('parses ACL xattrs with missing base entries as NO_MASK and rejects malformed ones', () => {
    const v = Buffer.alloc(4 + 8)
    v.writeUInt32LE(2, 0)
    v.writeUInt16LE(0x02, 4)
    v.writeUInt16LE(6, 6)
    v.writeUInt32LE(7, 8)
    expect(parsePosixAcl(v)).toMatchObject({ users: [{ uid: 7, permissions: 6 }], mask: undefined })
    v.writeUInt32LE(1, 0)
    expect(parsePosixAcl(v)).toBeUndefined()
    expect(parsePosixAcl(v.subarray(0, 7))).toBeUndefined()
    expect(ACL_NO_MASK).toBe(0xffff_ffff_ffff_ffffn)
  })

  it('reports file capabilities as fcaps, not as an xattr', async () => {
    const e = await client.stat(enc('capbin'))
    const hex = execFileSync('getfattr', [
      '-n',
      'security.capability',
      '-e',
      'hex',
      '--only-values',
      join(fx.root, 'capbin'),
    ])
    expect(Buffer.from(e.metadata.fcaps!).equals(hex)).toBe(true)
    expect(e.metadata.xattrs).toEqual([])
  })

  it('streams file contents in ranges', async () => {
    const data = readFileSync(join(fx.root, 'big.bin'))
    expect((await collect(client.readFile(enc('big.bin')))).equals(data)).toBe(true)
    expect(
      (await collect(client.readFile(enc('big.bin'), 1000, 300_000))).equals(data.subarray(1000, 300_000)),
    ).toBe(true)
    expect((await collect(client.readFile(enc('dir/nested')))).toString()).toBe('n')
    expect((await collect(client.readFile(Buffer.from([0x62, 0xff, 0x66])))).toString()).toBe('x')
  })

  it('reads small files in one piece and closes every descriptor, also when the reader stops early', async () => {
    const data = readFileSync(join(fx.root, 'big.bin'))
    const small = new LocalClient(fx.root, { readChunkSize: data.length })
    const fds = (): number => readdirSync('/proc/self/fd').length
    const before = fds()
    const pieces: Uint8Array[] = []
    for await (const p of small.readFile(enc('big.bin'))) pieces.push(p)
    expect(pieces).toHaveLength(1)
    expect(Buffer.from(pieces[0]!).equals(data)).toBe(true)
    expect((await collect(small.readFile(enc('big.bin'), 10, 20))).equals(data.subarray(10, 20))).toBe(true)
    for (let i = 0; i < 50; i++) {
      for await (const _ of client.readFile(enc('big.bin'))) break
      for await (const _ of small.readFile(enc('big.bin'))) break
    }
    // 100 early stops: a leak would show as about 100 more descriptors
    expect(fds()).toBeLessThan(before + 10)
  })

  it('lists directories whose path exceeds PATH_MAX', async () => {
    const comp = 'd'.repeat(200)
    // chdir one relative component at a time (absolute paths that long are refused by the kernel)
    const script = `const fs=require('fs');for(let i=0;i<25;i++){fs.mkdirSync('${comp}');process.chdir('${comp}')}fs.writeFileSync('ok','')`
    execFileSync(process.execPath, ['-e', script], { cwd: fx.root })
    const rel = enc(Array(25).fill(comp).join('/'))
    expect(rel.length).toBeGreaterThan(4096)
    const { entries, skipped } = await client.listDir(rel)
    expect(skipped).toEqual([])
    expect(entries.map((e) => Buffer.from(e.name).toString())).toEqual(['ok'])
    expect((await client.stat(Buffer.concat([rel, enc('/ok')]))).kind).toBe('file')
    expect(await collect(client.readFile(Buffer.concat([rel, enc('/ok')])))).toHaveLength(0)
    execFileSync('rm', ['-rf', comp], { cwd: fx.root })
  })

  it('reports children that vanish while listing in skipped instead of failing the listing', async () => {
    // One entry per event-loop turn while another task deletes entries from the end of the
    // sort order: the two meet and the listing finds names that are gone.
    const slow = new LocalClient(fx.root, { slice: 1 })
    let skips = 0
    for (let attempt = 0; attempt < 10 && skips === 0; attempt++) {
      const dir = join(fx.root, `vanish${attempt}`)
      mkdirSync(dir)
      const names = Array.from({ length: 400 }, (_, i) => `f${String(i).padStart(4, '0')}`)
      for (const n of names) writeFileSync(join(dir, n), '')
      let done = false
      const listing = slow.listDir(enc(`vanish${attempt}`)).finally(() => {
        done = true
      })
      let k = names.length
      while (!done && k > 0) {
        await new Promise((resolve) => setImmediate(resolve))
        unlinkSync(join(dir, names[--k]!))
      }
      const { entries, skipped } = await listing
      for (const s of skipped) expect(s.code).toBe('ENOENT')
      const seen = [
        ...entries.map((e) => Buffer.from(e.name).toString()),
        ...skipped.map((s) => Buffer.from(s.path).toString().split('/')[1]),
      ]
      expect(seen.sort()).toEqual(names.slice(0, seen.length))
      skips += skipped.length
    }
    expect(skips).toBeGreaterThan(0)
  })

  it('refuses paths outside the root', async () => {
    const bad = ['..', '/etc', 'dir/../..', './a.txt', 'a\0b', 'dir//nested', 'escape', 'escape/secret']
    for (const p of bad) {
      await expect(client.listDir(enc(p))).rejects.toMatchObject({ code: 'ERR_PXAR_BAD_NAME' })
      await expect(collect(client.readFile(enc(p)))).rejects.toSatisfy(isPxarError)
    }
    await expect(collect(client.readFile(enc('escape/secret')))).rejects.toMatchObject({
      code: 'ERR_PXAR_BAD_NAME',
    })
    await expect(client.stat(enc('escape/secret'))).rejects.toMatchObject({ code: 'ERR_PXAR_BAD_NAME' })
    // a symlink is an entry, never followed
    await expect(collect(client.readFile(enc('link')))).rejects.toSatisfy(isPxarError)
    // errors name the source path, not the descriptor alias the client opened it through
    const err = await collect(client.readFile(enc('link'))).catch((e: Error) => e)
    expect((err as Error).message).toBe('"link": is a symbolic link')
    const gone = await collect(client.readFile(enc('dir/nope'))).catch((e: Error) => e)
    expect(gone).toMatchObject({ code: 'ERR_PXAR_NOT_FOUND' })
    expect((gone as Error).message).not.toContain('/proc/')
    await expect(client.listDir(enc('nope'))).rejects.toMatchObject({ code: 'ERR_PXAR_NOT_FOUND' })
    await expect(client.listDir(enc('a.txt'))).rejects.toSatisfy(isPxarError)
  })
})
