// Property tests: decode(encode(tree)) gives the tree back, and the accessor agrees with the decoder.
import {
  createMetadata,
  encodeUtf8,
  type Metadata,
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
import {
  BufferSink,
  bufferReadAt,
  concatBytes,
  decode,
  Encoder,
  type Entry,
  type LinkOffset,
  openAccessor,
  ZERO_METADATA,
} from '../src/index.ts'

type Leaf =
  | { kind: 'file'; meta: Metadata; data: Uint8Array }
  | { kind: 'symlink'; meta: Metadata; target: Uint8Array }
  | { kind: 'char_device' | 'block_device'; meta: Metadata; major: bigint; minor: bigint }
  | { kind: 'fifo' | 'socket'; meta: Metadata }
  | { kind: 'hardlink'; pick: number }
interface Dir {
  kind: 'directory'
  meta: Metadata
  children: { name: Uint8Array; node: Node }[]
}
type Node = Leaf | Dir

const u64 = fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn })
const u32 = fc.integer({ min: 0, max: 0xffff_ffff })
const bytes = (max: number) => fc.uint8Array({ maxLength: max })

function metaArb(type: number): fc.Arbitrary<Metadata> {
  return fc
    .record({
      perm: fc.integer({ min: 0, max: 0o7777 }),
      flags: u64,
      uid: u32,
      gid: u32,
      secs: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      nanos: u32,
      xattrs: fc.array(fc.record({ name: fc.string({ minLength: 1, maxLength: 10 }), value: bytes(40) }), {
        maxLength: 2,
      }),
      users: fc.array(fc.record({ uid: u64, permissions: u64 }), { maxLength: 2 }),
      groups: fc.array(fc.record({ gid: u64, permissions: u64 }), { maxLength: 2 }),
      groupObj: fc.option(fc.record({ permissions: u64 }), { nil: undefined }),
      def: fc.option(
        fc.record({
          userObjPermissions: u64,
          groupObjPermissions: u64,
          otherPermissions: u64,
          maskPermissions: u64,
        }),
        { nil: undefined },
      ),
      fcaps: fc.option(bytes(30), { nil: undefined }),
      quota: fc.option(u64, { nil: undefined }),
    })
    .map((r) =>
      createMetadata({
        mode: type | r.perm,
        flags: r.flags,
        uid: r.uid,
        gid: r.gid,
        mtime: { secs: r.secs, nanos: r.nanos },
        xattrs: r.xattrs.map((x) => ({
          name: encodeUtf8(`user.${x.name.replaceAll('\0', '_')}`),
          value: x.value,
        })),
        acl: {
          users: r.users,
          groups: r.groups,
          groupObj: r.groupObj,
          default: r.def,
          defaultUsers: r.users.slice(0, 1),
          defaultGroups: r.groups.slice(0, 1),
        },
        fcaps: r.fcaps,
        quotaProjectId: r.quota,
      }),
    )
}

const nameArb = fc
  .oneof(
    fc.string({ minLength: 1, maxLength: 12 }).map(encodeUtf8),
    fc.uint8Array({ minLength: 1, maxLength: 12 }),
  )
  .filter((n) => !n.includes(0) && !n.includes(0x2f) && !(n.length <= 2 && n.every((b) => b === 0x2e)))

const leafArb: fc.Arbitrary<Leaf> = fc.oneof(
  fc.record({ kind: fc.constant('file' as const), meta: metaArb(S_IFREG), data: bytes(300) }),
  fc.record({
    kind: fc.constant('symlink' as const),
    meta: metaArb(S_IFLNK),
    target: fc.uint8Array({ minLength: 1, maxLength: 40 }).map((t) => t.map((b) => b || 1)),
  }),
  fc.record({ kind: fc.constant('char_device' as const), meta: metaArb(S_IFCHR), major: u64, minor: u64 }),
  fc.record({ kind: fc.constant('block_device' as const), meta: metaArb(S_IFBLK), major: u64, minor: u64 }),
  fc.record({ kind: fc.constant('fifo' as const), meta: metaArb(S_IFIFO) }),
  fc.record({ kind: fc.constant('socket' as const), meta: metaArb(S_IFSOCK) }),
  fc.record({ kind: fc.constant('hardlink' as const), pick: fc.nat() }),
)

const { dir: dirArb } = fc.letrec<{ dir: Dir; node: Node }>((tie) => ({
  dir: fc.record({
    kind: fc.constant('directory' as const),
    meta: metaArb(S_IFDIR),
    children: fc.array(fc.record({ name: nameArb, node: tie('node') }), { maxLength: 5 }).map((cs) => {
      const seen = new Set<string>()
      const out = cs.filter((c) => {
        const k = Buffer.from(c.name).toString('hex')
        if (seen.has(k)) return false
        seen.add(k)
        return true
      })
      return out.sort((a, b) => Buffer.compare(a.name, b.name))
    }),
  }),
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leafArb, tie('dir')),
}))

interface Expected {
  kind: Entry['kind']
  path: Uint8Array
  metadata: Metadata
  data?: Uint8Array
  linkTarget?: Uint8Array
  device?: { major: bigint | number; minor: bigint | number }
}

const norm = (v: bigint): bigint | number => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v)

function join(parent: Uint8Array, name: Uint8Array): Uint8Array {
  return parent.length === 1
    ? concatBytes([parent, name])
    : concatBytes([parent, new Uint8Array([0x2f]), name])
}

/** Encodes the tree; returns archive bytes (and payload) plus the expected decoder output. */
function encodeTree(
  root: Dir,
  split: boolean,
  prelude?: Uint8Array,
): { archive: Uint8Array; payload?: Uint8Array; expected: Expected[] } {
  const out = new BufferSink()
  const pay = split ? new BufferSink() : undefined
  const enc = new Encoder(out, root.meta, pay ? { payload: pay, ...(prelude ? { prelude } : {}) } : {})
  const expected: Expected[] = [{ kind: 'directory', path: new Uint8Array([0x2f]), metadata: root.meta }]
  const files: { link: LinkOffset; path: Uint8Array }[] = []
  const walk = (dir: Dir, path: Uint8Array) => {
    for (const { name, node } of dir.children) {
      const p = join(path, name)
      switch (node.kind) {
        case 'directory':
          enc.createDirectory(name, node.meta)
          expected.push({ kind: 'directory', path: p, metadata: node.meta })
          walk(node, p)
          enc.finish()
          break
        case 'file':
          files.push({ link: enc.addFile(name, node.meta, node.data), path: p })
          expected.push({ kind: 'file', path: p, metadata: node.meta, data: node.data })
          break
        case 'symlink':
          enc.addSymlink(name, node.meta, node.target)
          expected.push({ kind: 'symlink', path: p, metadata: node.meta, linkTarget: node.target })
          break
        case 'char_device':
        case 'block_device':
          enc.addDevice(name, node.meta, { major: node.major, minor: node.minor })
          expected.push({
            kind: node.kind,
            path: p,
            metadata: node.meta,
            device: { major: norm(node.major), minor: norm(node.minor) },
          })
          break
        case 'fifo':
          enc.addFifo(name, node.meta)
          expected.push({ kind: 'fifo', path: p, metadata: node.meta })
          break
        case 'socket':
          enc.addSocket(name, node.meta)
          expected.push({ kind: 'socket', path: p, metadata: node.meta })
          break
        case 'hardlink': {
          const t = files[node.pick % Math.max(1, files.length)]
          if (t === undefined) {
            const meta = createMetadata({ mode: S_IFIFO | 0o644 })
            enc.addFifo(name, meta)
            expected.push({ kind: 'fifo', path: p, metadata: meta })
          } else {
            const target = t.path.subarray(1)
            enc.addHardlink(name, target, t.link)
            expected.push({
              kind: 'hardlink',
              path: p,
              metadata: ZERO_METADATA,
              linkTarget: target,
              data: files.indexOf(t) as never,
            })
          }
          break
        }
      }
    }
  }
  walk(root, new Uint8Array([0x2f]))
  enc.finish()
  enc.close()
  return { archive: out.takeBytes(), ...(pay ? { payload: pay.takeBytes() } : {}), expected }
}

async function* once(b: Uint8Array, piece: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i += piece) yield b.subarray(i, i + piece)
}

async function collect(it: AsyncIterable<Uint8Array> | undefined): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  if (it) for await (const p of it) parts.push(p.slice())
  return concatBytes(parts)
}

describe('round trip', () => {
  for (const split of [false, true]) {
    it(`decode(encode(tree)) ${split ? 'v2' : 'v1'}, accessor agrees`, async () => {
      await fc.assert(
        fc.asyncProperty(
          dirArb,
          fc.integer({ min: 1, max: 300 }),
          fc.option(fc.uint8Array({ maxLength: 200 }), { nil: undefined }),
          async (tree, piece, prelude) => {
            const { archive, payload, expected } = encodeTree(tree, split, split ? prelude : undefined)
            const got: Entry[] = []
            const contents: Uint8Array[] = []
            let sawPrelude: Uint8Array | undefined
            for await (const e of decode(
              once(archive, piece),
              payload ? { payload: once(payload, piece) } : {},
            )) {
              if (e.kind === 'version') continue
              if (e.kind === 'prelude') {
                sawPrelude = await collect(e.content)
                continue
              }
              got.push(e)
              contents.push(await collect(e.content))
            }
            expect(sawPrelude).toEqual(split ? prelude : undefined)
            expect(got.length).toBe(expected.length)
            const fileData = expected.filter((x) => x.kind === 'file').map((x) => x.data!)
            const acc = await openAccessor(
              bufferReadAt(archive),
              payload ? { payload: bufferReadAt(payload) } : {},
            )
            for (let i = 0; i < expected.length; i++) {
              const x = expected[i]!
              const e = got[i]!
              expect(e.kind).toBe(x.kind)
              expect(e.path).toEqual(x.path)
              expect(e.metadata).toEqual(x.metadata)
              if (x.kind === 'file') expect(contents[i]).toEqual(x.data)
              if (x.linkTarget) expect(e.linkTarget).toEqual(x.linkTarget)
              if (x.device) expect(e.device).toEqual(x.device)
              // the accessor finds the same entry
              const a = await acc.lookup(x.path)
              expect(a).toBeDefined()
              const { range, ...rest } = a!
              expect(rest.kind).toBe(e.kind)
              expect(rest.metadata).toEqual(e.metadata)
              expect(rest.entryOffset).toBe(e.entryOffset)
              expect(range.filenameHeaderOffset).toBe(e.filenameOffset)
              if (x.kind === 'file') expect(await collect(acc.content(a!))).toEqual(x.data)
              if (x.kind === 'hardlink')
                expect(await collect(acc.content(a!))).toEqual(fileData[x.data as unknown as number])
            }
          },
        ),
        { numRuns: 60 },
      )
    })
  }
})
