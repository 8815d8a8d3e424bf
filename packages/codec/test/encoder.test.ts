import {
  charDeviceMetadata,
  dirMetadata,
  fifoMetadata,
  fileMetadata,
  GOODBYE_ITEM_SIZE,
  HEADER_SIZE,
  hashFilename,
  PXAR_ENTRY,
  PXAR_FILENAME,
  PXAR_GOODBYE,
  PXAR_GOODBYE_TAIL_MARKER,
  readGoodbyeItem,
  readHeader,
  searchGoodbyeTable,
  socketMetadata,
  symlinkMetadata,
} from '@pxar/format'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BufferSink, Encoder, type LinkOffset } from '../src/index.ts'

const root = dirMetadata().mtime(1_700_000_000).build()
const fmeta = fileMetadata().owner(1000, 1000).build()
const enc8 = (s: string) => new TextEncoder().encode(s)

function codeOf(f: () => unknown): string | undefined {
  try {
    f()
  } catch (e) {
    return (e as { code?: string }).code ?? (e as Error).name
  }
  return undefined
}

describe('Encoder basics', () => {
  it('empty root: v1 96 bytes, v2 120 + 32 bytes', () => {
    const out = new BufferSink()
    const e = new Encoder(out, root)
    e.finish()
    e.close()
    expect(out.takeBytes().length).toBe(96)
    const meta = new BufferSink()
    const pay = new BufferSink()
    const e2 = new Encoder(meta, root, { payload: pay })
    expect(e2.split).toBe(true)
    expect(e2.payloadPosition).toBe(16)
    e2.finish()
    e2.close()
    expect(meta.takeBytes().length).toBe(120)
    expect(pay.takeBytes().length).toBe(32)
  })

  it('single small file: 100 bytes for a.txt with 6 bytes', () => {
    const out = new BufferSink()
    const e = new Encoder(out, root)
    const before = e.position
    e.addFile('a.txt', fmeta, enc8('hello\n'))
    expect(e.position - before).toBe(100)
  })

  it('rejects calls in the wrong state', () => {
    const e = new Encoder(new BufferSink(), root)
    expect(codeOf(() => e.close())).toBe('ERR_PXAR_ENCODER_STATE')
    const w = e.createFile('f', fmeta, 3)
    expect(codeOf(() => e.addFile('g', fmeta, new Uint8Array(0)))).toBe('ERR_PXAR_ENCODER_STATE')
    expect(codeOf(() => e.finish())).toBe('ERR_PXAR_ENCODER_STATE')
    w.write(new Uint8Array(2))
    expect(w.remaining).toBe(1)
    expect(codeOf(() => w.close())).toBe('ERR_PXAR_ENCODER_STATE')
    w.write(new Uint8Array(1))
    w.close()
    expect(codeOf(() => w.close())).toBe('ERR_PXAR_ENCODER_STATE')
    e.finish()
    expect(codeOf(() => e.finish())).toBe('ERR_PXAR_ENCODER_STATE')
    expect(codeOf(() => e.addFifo('x', fifoMetadata().build()))).toBe('ERR_PXAR_ENCODER_STATE')
    e.close()
    e.close()
  })

  it('writing past the announced size fails the encoder', () => {
    const e = new Encoder(new BufferSink(), root)
    const w = e.createFile('f', fmeta, 1)
    expect(codeOf(() => w.write(new Uint8Array(2)))).toBe('ERR_PXAR_ENCODER_INVALID')
    expect(codeOf(() => e.finish())).toBe('ERR_PXAR_ENCODER_STATE')
  })

  it('a rejected call writes nothing and leaves the encoder usable', () => {
    const out = new BufferSink()
    const e = new Encoder(out, root)
    const pos = e.position
    expect(codeOf(() => e.addFile('a/b', fmeta, new Uint8Array(1)))).toBe('ERR_PXAR_ENCODER_INVALID')
    expect(
      codeOf(() =>
        e.addFile('x', fileMetadata().xattr('user.big', new Uint8Array(70000)).build(), new Uint8Array(0)),
      ),
    ).toBe('ERR_PXAR_ENCODER_INVALID')
    expect(codeOf(() => e.createDirectory('d', fmeta))).toBe('ERR_PXAR_ENCODER_INVALID')
    expect(codeOf(() => e.addDevice('d', fmeta, { major: 1, minor: 1 }))).toBe('ERR_PXAR_ENCODER_INVALID')
    expect(codeOf(() => e.addSocket('s', fifoMetadata().build()))).toBe('ERR_PXAR_ENCODER_INVALID')
    expect(codeOf(() => e.addSymlink('l', symlinkMetadata().build(), new Uint8Array(4097).fill(0x61)))).toBe(
      'ERR_PXAR_ENCODER_INVALID',
    )
    expect(codeOf(() => e.addHardlink('h', 'x', 1_000_000 as LinkOffset))).toBe('ERR_PXAR_ENCODER_INVALID')
    expect(codeOf(() => e.addSymlink('l', symlinkMetadata().build(), new Uint8Array([0x61, 0])))).toBe(
      'ERR_PXAR_ENCODER_INVALID',
    )
    expect(
      codeOf(() =>
        e.addFile(
          'x',
          fileMetadata()
            .xattr(new Uint8Array([0x61, 0]), 'v')
            .build(),
          new Uint8Array(0),
        ),
      ),
    ).toBe('ERR_PXAR_ENCODER_INVALID')
    expect(codeOf(() => e.addPayloadRef('r', fmeta, 0, 16))).toBe('ERR_PXAR_ENCODER_INVALID')
    expect(codeOf(() => e.appendPayload(new Uint8Array(1)))).toBe('ERR_PXAR_ENCODER_INVALID')
    expect(codeOf(() => e.createFile('f', fmeta, -1))).toBe('RangeError')
    expect(codeOf(() => e.addFifo(42 as unknown as string, fifoMetadata().build()))).toBe('TypeError')
    expect(codeOf(() => e.addFile('f', fileMetadata().owner(-1, 0).build(), new Uint8Array(0)))).toBe(
      'RangeError',
    )
    expect(e.position).toBe(pos)
    e.finish()
    e.close()
    expect(out.takeBytes().length).toBe(96)
  })

  it('rejects a non-directory root and a v1 prelude', () => {
    expect(codeOf(() => new Encoder(new BufferSink(), fmeta))).toBe('ERR_PXAR_ENCODER_INVALID')
    expect(codeOf(() => new Encoder(new BufferSink(), root, { prelude: new Uint8Array(1) }))).toBe(
      'ERR_PXAR_ENCODER_INVALID',
    )
  })

  it('v2: payload refs must not go backwards; advancePayload counts external bytes', () => {
    const meta = new BufferSink()
    const pay = new BufferSink()
    const e = new Encoder(meta, root, { payload: pay, prelude: enc8('prelude') })
    e.addFile('a', fmeta, enc8('abc'))
    expect(e.payloadPosition).toBe(35)
    expect(codeOf(() => e.addPayloadRef('r', fmeta, 3, 16))).toBe('ERR_PXAR_ENCODER_INVALID')
    e.flush()
    pay.write(new Uint8Array(10))
    e.advancePayload(10)
    expect(e.payloadPosition).toBe(45)
    const link = e.addPayloadRef('r', fmeta, 3, 45)
    e.addHardlink('s', 'r', link)
    e.finish()
    e.close()
    expect(pay.takeBytes().length).toBe(45 + 16)
  })
})

// ---- structural property: random trees encode to archives whose goodbye tables index them ----

interface TreeFile {
  kind: 'file'
  data: Uint8Array
}
interface TreeDir {
  kind: 'dir'
  children: Map<string, TreeNode>
}
interface TreeOther {
  kind: 'symlink' | 'fifo' | 'socket' | 'device' | 'hardlink'
}
type TreeNode = TreeFile | TreeDir | TreeOther

const nameArb = fc
  .string({ minLength: 1, maxLength: 12 })
  .filter((s) => !s.includes('/') && s !== '.' && s !== '..')
const leafArb: fc.Arbitrary<TreeNode> = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((data): TreeNode => ({ kind: 'file', data })),
  fc.constantFrom<TreeNode>(
    { kind: 'symlink' },
    { kind: 'fifo' },
    { kind: 'socket' },
    { kind: 'device' },
    { kind: 'hardlink' },
  ),
)
const treeArb = fc.letrec<{ dir: TreeDir; node: TreeNode }>((tie) => ({
  dir: fc
    .array(fc.tuple(nameArb, tie('node')), { maxLength: 8 })
    .map((entries): TreeDir => ({ kind: 'dir', children: new Map(entries) })),
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leafArb, tie('dir')),
})).dir

function encodeTree(tree: TreeDir, opts: { split: boolean; piece?: number; bufferSize?: number }) {
  const meta = new BufferSink()
  const pay = opts.split ? new BufferSink() : undefined
  const e = new Encoder(meta, root, { payload: pay, bufferSize: opts.bufferSize })
  let lastFile: LinkOffset | undefined
  const walk = (d: TreeDir): void => {
    const names = [...d.children.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    for (const name of names) {
      const n = d.children.get(name)!
      switch (n.kind) {
        case 'file':
          if (opts.piece === undefined) lastFile = e.addFile(name, fmeta, n.data)
          else {
            const w = e.createFile(name, fmeta, n.data.length)
            for (let o = 0; o < n.data.length; o += opts.piece) w.write(n.data.subarray(o, o + opts.piece))
            lastFile = w.close()
          }
          break
        case 'dir':
          e.createDirectory(name, dirMetadata().build())
          walk(n)
          e.finish()
          break
        case 'symlink':
          e.addSymlink(name, symlinkMetadata().build(), 'target')
          break
        case 'fifo':
          e.addFifo(name, fifoMetadata().build())
          break
        case 'socket':
          e.addSocket(name, socketMetadata().build())
          break
        case 'device':
          e.addDevice(name, charDeviceMetadata().build(), { major: 1, minor: 2n ** 60n })
          break
        case 'hardlink':
          if (lastFile !== undefined) e.addHardlink(name, 'x', lastFile)
          else e.addFifo(name, fifoMetadata().build())
          break
      }
    }
  }
  walk(tree)
  e.finish()
  e.close()
  return { archive: meta.takeBytes(), payload: pay?.takeBytes() }
}

/** Checks a directory's goodbye table (v1 archive) against its children; returns the child count. */
function checkDir(bytes: Uint8Array, view: DataView, goodbyeEnd: number, names: string[]): void {
  const tail = goodbyeEnd - GOODBYE_ITEM_SIZE
  const t = readGoodbyeItem(view, tail, 0)
  expect([t.hashLo, t.hashHi]).toEqual([PXAR_GOODBYE_TAIL_MARKER.lo, PXAR_GOODBYE_TAIL_MARKER.hi])
  const goodbyeStart = goodbyeEnd - t.size
  const h = readHeader(view, goodbyeStart)
  expect([h.htypeLo, h.fullSize]).toEqual([PXAR_GOODBYE.lo, t.size])
  const count = (t.size - HEADER_SIZE) / GOODBYE_ITEM_SIZE - 1
  expect(count).toBe(names.length)
  // the tail points at the directory's ENTRY
  expect(readHeader(view, goodbyeStart - t.offset).htypeLo).toBe(PXAR_ENTRY.lo)
  for (const name of names) {
    const hash = hashFilename(enc8(name))
    const slot = searchGoodbyeTable(view, goodbyeStart + HEADER_SIZE, count, hash.lo, hash.hi)
    expect(slot).toBeGreaterThanOrEqual(0)
    const item = readGoodbyeItem(view, goodbyeStart + HEADER_SIZE, slot)
    const fnOff = goodbyeStart - item.offset
    const fh = readHeader(view, fnOff)
    expect(fh.htypeLo).toBe(PXAR_FILENAME.lo)
    expect(Buffer.from(bytes.subarray(fnOff + HEADER_SIZE, fnOff + fh.fullSize - 1)).toString()).toBe(name)
    expect(fnOff + item.size).toBeLessThanOrEqual(goodbyeStart)
  }
}

function checkTree(bytes: Uint8Array, tree: TreeDir): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  // the root's goodbye table ends the archive; walk subdirectories through it
  const visit = (d: TreeDir, end: number): void => {
    const names = [...d.children.keys()]
    checkDir(bytes, view, end, names)
    const t = readGoodbyeItem(view, end - GOODBYE_ITEM_SIZE, 0)
    const start = end - t.size
    const count = (t.size - HEADER_SIZE) / GOODBYE_ITEM_SIZE - 1
    for (const [name, n] of d.children) {
      if (n.kind !== 'dir') continue
      const hash = hashFilename(enc8(name))
      const slot = searchGoodbyeTable(view, start + HEADER_SIZE, count, hash.lo, hash.hi)
      const item = readGoodbyeItem(view, start + HEADER_SIZE, slot)
      visit(n, start - item.offset + item.size)
    }
  }
  visit(tree, bytes.length)
}

describe('Encoder properties', () => {
  it('goodbye tables index every child (v1)', () => {
    fc.assert(
      fc.property(treeArb, (tree) => {
        checkTree(encodeTree(tree, { split: false }).archive, tree)
      }),
      { numRuns: 150 },
    )
  })

  it('output does not depend on piece size, staging size or variant payload split', () => {
    fc.assert(
      fc.property(treeArb, fc.integer({ min: 1, max: 97 }), (tree, piece) => {
        const a = encodeTree(tree, { split: false })
        const b = encodeTree(tree, { split: false, piece, bufferSize: 64 })
        expect(b.archive).toEqual(a.archive)
        const c = encodeTree(tree, { split: true })
        const d = encodeTree(tree, { split: true, piece, bufferSize: 64 })
        expect(d.archive).toEqual(c.archive)
        expect(d.payload).toEqual(c.payload)
      }),
      { numRuns: 100 },
    )
  })
})

describe('sinks', () => {
  it('drain streams queued chunks through an async writer, bytes unchanged', async () => {
    const { drain } = await import('../src/index.ts')
    const sink = new BufferSink()
    const e = new Encoder(sink, root, { bufferSize: 64 })
    const written: Uint8Array[] = []
    const reference = new BufferSink()
    const r = new Encoder(reference, root)
    for (let i = 0; i < 50; i++) {
      const name = `f${String(i).padStart(3, '0')}`
      e.addFile(name, fmeta, new Uint8Array(i * 37).fill(i))
      r.addFile(name, fmeta, new Uint8Array(i * 37).fill(i))
      await drain(sink, async (c) => {
        await Promise.resolve()
        written.push(c)
      })
      expect(sink.size).toBe(0)
    }
    e.finish()
    e.close()
    r.finish()
    r.close()
    await drain(sink, (c) => written.push(c))
    expect(Buffer.concat(written)).toEqual(Buffer.from(reference.takeBytes()))
    expect(sink.total).toBe(reference.total)
  })
})
