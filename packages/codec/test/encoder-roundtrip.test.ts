/** Property: what the encoder writes, the decoder reads back (v1 and v2). */
import {
  type Metadata,
  MetadataBuilder,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFREG,
  S_IFSOCK,
} from '@pxar/format'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BufferSink, decode, Encoder, type LinkOffset } from '../src/index.ts'

const u64 = fc.oneof(fc.nat(1000), fc.bigInt(0n, 2n ** 64n - 1n))
const bytes = (max: number) => fc.uint8Array({ maxLength: max })

function metaArb(type: number): fc.Arbitrary<Metadata> {
  return fc
    .record({
      perm: fc.nat(0o7777),
      flags: u64,
      uid: fc.nat(0xffffffff),
      gid: fc.nat(0xffffffff),
      secs: fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n),
      nanos: fc.nat(0xffffffff),
      xattrs: fc.array(
        fc.tuple(
          bytes(20).filter((b) => b.length > 0 && !b.includes(0)),
          bytes(40),
        ),
        { maxLength: 3 },
      ),
      users: fc.array(fc.tuple(u64, u64), { maxLength: 2 }),
      groups: fc.array(fc.tuple(u64, u64), { maxLength: 2 }),
      groupObj: fc.option(u64, { nil: undefined }),
      def: fc.option(fc.tuple(u64, u64, u64, u64), { nil: undefined }),
      dusers: fc.array(fc.tuple(u64, u64), { maxLength: 2 }),
      dgroups: fc.array(fc.tuple(u64, u64), { maxLength: 2 }),
      fcaps: fc.option(bytes(30), { nil: undefined }),
      quota: fc.option(u64, { nil: undefined }),
    })
    .map((r) => {
      const b = new MetadataBuilder(type | r.perm).flags(r.flags).owner(r.uid, r.gid).mtime(r.secs, r.nanos)
      for (const [n, v] of r.xattrs) b.xattr(n, v)
      for (const [id, p] of r.users) b.aclUser(id, p)
      for (const [id, p] of r.groups) b.aclGroup(id, p)
      if (r.groupObj !== undefined) b.aclGroupObj(r.groupObj)
      if (r.def !== undefined)
        b.aclDefault({
          userObjPermissions: r.def[0],
          groupObjPermissions: r.def[1],
          otherPermissions: r.def[2],
          maskPermissions: r.def[3],
        })
      for (const [id, p] of r.dusers) b.aclDefaultUser(id, p)
      for (const [id, p] of r.dgroups) b.aclDefaultGroup(id, p)
      if (r.fcaps !== undefined) b.fcaps(r.fcaps)
      if (r.quota !== undefined) b.quotaProjectId(r.quota)
      return b.build()
    })
}

type Node =
  | { kind: 'file'; meta: Metadata; data: Uint8Array }
  | { kind: 'dir'; meta: Metadata; children: [string, Node][] }
  | { kind: 'symlink'; meta: Metadata; target: Uint8Array }
  | { kind: 'device'; meta: Metadata; major: bigint; minor: bigint }
  | { kind: 'fifo' | 'socket'; meta: Metadata }
  | { kind: 'hardlink' }

const nameArb = fc
  .string({ minLength: 1, maxLength: 10 })
  .filter((s) => !s.includes('/') && s !== '.' && s !== '..')
const leaf: fc.Arbitrary<Node> = fc.oneof(
  fc.record({ kind: fc.constant('file' as const), meta: metaArb(S_IFREG), data: bytes(200) }),
  fc.record({
    kind: fc.constant('symlink' as const),
    meta: metaArb(S_IFLNK),
    target: bytes(30).filter((b) => !b.includes(0)),
  }),
  fc.record({
    kind: fc.constant('device' as const),
    meta: fc.oneof(metaArb(S_IFCHR), metaArb(S_IFBLK)),
    major: fc.bigInt(0n, 2n ** 64n - 1n),
    minor: fc.bigInt(0n, 2n ** 64n - 1n),
  }),
  fc.record({ kind: fc.constant('fifo' as const), meta: metaArb(S_IFIFO) }),
  fc.record({ kind: fc.constant('socket' as const), meta: metaArb(S_IFSOCK) }),
  fc.constant<Node>({ kind: 'hardlink' }),
)
const tree = fc.letrec<{ dir: Node; node: Node }>((tie) => ({
  dir: fc.record({
    kind: fc.constant('dir' as const),
    meta: metaArb(S_IFDIR),
    children: fc.uniqueArray(fc.tuple(nameArb, tie('node')), { maxLength: 5, selector: (t) => t[0] }),
  }),
  node: fc.oneof({ depthSize: 'small' }, leaf, tie('dir')),
})).dir as fc.Arbitrary<Extract<Node, { kind: 'dir' }>>

interface Expected {
  path: string
  kind: string
  metadata?: Metadata
  content?: Uint8Array
  linkTarget?: Uint8Array
  device?: { major: bigint; minor: bigint }
}

function encodeTree(root: Extract<Node, { kind: 'dir' }>, split: boolean) {
  const meta = new BufferSink()
  const pay = split ? new BufferSink() : undefined
  const enc = new Encoder(meta, root.meta, { payload: pay })
  const expected: Expected[] = [{ path: '/', kind: 'directory', metadata: root.meta }]
  let last: { link: LinkOffset; path: string } | undefined
  const walk = (dir: [string, Node][], prefix: string): void => {
    const sorted = [...dir].sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])))
    for (const [name, n] of sorted) {
      const path = `${prefix}/${name}`
      switch (n.kind) {
        case 'file':
          last = { link: enc.addFile(name, n.meta, n.data), path }
          expected.push({ path, kind: 'file', metadata: n.meta, content: n.data })
          break
        case 'dir':
          enc.createDirectory(name, n.meta)
          expected.push({ path, kind: 'directory', metadata: n.meta })
          walk(n.children, path)
          enc.finish()
          break
        case 'symlink':
          enc.addSymlink(name, n.meta, n.target)
          expected.push({ path, kind: 'symlink', metadata: n.meta, linkTarget: n.target })
          break
        case 'device':
          enc.addDevice(name, n.meta, { major: n.major, minor: n.minor })
          expected.push({
            path,
            kind: (n.meta.stat.mode & 0o170000) === S_IFCHR ? 'char_device' : 'block_device',
            metadata: n.meta,
            device: { major: n.major, minor: n.minor },
          })
          break
        case 'fifo':
        case 'socket':
          if (n.kind === 'fifo') enc.addFifo(name, n.meta)
          else enc.addSocket(name, n.meta)
          expected.push({ path, kind: n.kind, metadata: n.meta })
          break
        case 'hardlink':
          if (last === undefined) break
          enc.addHardlink(name, last.path.slice(1), last.link)
          expected.push({ path, kind: 'hardlink', linkTarget: Buffer.from(last.path.slice(1)) })
          break
      }
    }
  }
  walk(root.children, '')
  enc.finish()
  enc.close()
  return { archive: meta.takeBytes(), payload: pay?.takeBytes(), expected }
}

async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b
}

async function decodeAll(archive: Uint8Array, payload: Uint8Array | undefined): Promise<Expected[]> {
  const got: Expected[] = []
  for await (const e of decode(once(archive), {
    payload: payload === undefined ? undefined : once(payload),
  })) {
    if (e.kind === 'version' || e.kind === 'prelude') continue
    const x: Expected = { path: e.pathString, kind: e.kind }
    if (e.kind !== 'hardlink') x.metadata = e.metadata
    if (e.content !== undefined) {
      const parts: Uint8Array[] = []
      for await (const p of e.content) parts.push(p.slice())
      x.content = new Uint8Array(Buffer.concat(parts))
    }
    if (e.linkTarget !== undefined) x.linkTarget = e.linkTarget
    if (e.device !== undefined) x.device = { major: BigInt(e.device.major), minor: BigInt(e.device.minor) }
    got.push(x)
  }
  return got
}

describe('encode → decode round trip', () => {
  for (const split of [false, true]) {
    it(split ? 'v2 split' : 'v1', async () => {
      await fc.assert(
        fc.asyncProperty(tree, async (t) => {
          const { archive, payload, expected } = encodeTree(t, split)
          const got = await decodeAll(archive, payload)
          expect(got).toEqual(
            expected.map((e) => ({
              ...e,
              linkTarget: e.linkTarget === undefined ? undefined : new Uint8Array(e.linkTarget),
            })),
          )
        }),
        { numRuns: 60 },
      )
    })
  }
})
