/**
 * A corpus of hostile pxar archives: names and links that try to leave the restore target,
 * entries that replace each other, devices, and headers claiming enormous sizes. Built with the
 * encoder where it accepts the input, and by patching the encoded bytes where it refuses.
 */
import { BufferSink, Encoder } from '@pxar/codec'
import {
  charDeviceMetadata,
  dirMetadata,
  fileMetadata,
  PXAR_FILENAME_HI,
  PXAR_FILENAME_LO,
  PXAR_HARDLINK_HI,
  PXAR_HARDLINK_LO,
  PXAR_PAYLOAD_HI,
  PXAR_PAYLOAD_LO,
  PXAR_PAYLOAD_REF_HI,
  PXAR_PAYLOAD_REF_LO,
  PXAR_SYMLINK_HI,
  PXAR_SYMLINK_LO,
  symlinkMetadata,
} from '@pxar/format'

/** What a safe reader must do with a hostile archive. */
export type Expectation =
  /** Fail with a typed error (restore and extraction stop). */
  | 'refuse'
  /** Restore the harmless part; the hostile entry is left out (with a warning) or made harmless. */
  | 'contain'

/** One hostile archive of the corpus. */
export interface HostileArchive {
  /** Short identifier (also a file name). */
  readonly name: string
  /** What the archive tries. */
  readonly description: string
  /** The archive bytes (a v1 `.pxar` stream). */
  readonly bytes: Uint8Array
  readonly expect: Expectation
  /** The error code a refusal carries. */
  readonly code?: string
  /** Restore options the case needs (e.g. `overwrite` to tempt an unlink-and-replace). */
  readonly options?: { readonly overwrite?: boolean; readonly devices?: boolean }
}

const FILE = fileMetadata(0o644).build()
const DIR = dirMetadata(0o755).build()
const LINK = symlinkMetadata().build()

/** Encodes an archive whose root directory gets the entries `fn` adds. */
export function buildArchive(fn: (enc: Encoder) => void): Uint8Array {
  const sink = new BufferSink()
  const enc = new Encoder(sink, DIR)
  fn(enc)
  enc.finish()
  enc.close()
  return sink.takeBytes()
}

/** Replaces every occurrence of `from` by `to` (same length) in a copy of `bytes`. */
export function patchBytes(
  bytes: Uint8Array,
  from: string | Uint8Array,
  to: string | Uint8Array,
): Uint8Array {
  const out = Buffer.from(bytes)
  const f = Buffer.from(from)
  const t = Buffer.from(to)
  if (t.length !== f.length) throw new RangeError('replacement must have the same length')
  let at = out.indexOf(f)
  if (at < 0) throw new RangeError(`pattern ${JSON.stringify(f.toString())} not found`)
  while (at >= 0) {
    t.copy(out, at)
    at = out.indexOf(f, at + 1)
  }
  return new Uint8Array(out)
}

/** Offset of the `nth` header with the given tag (searching 8-byte-unaligned, as headers are). */
export function findHeader(bytes: Uint8Array, lo: number, hi: number, nth = 0): number {
  const tag = Buffer.alloc(8)
  tag.writeUInt32LE(lo, 0)
  tag.writeUInt32LE(hi, 4)
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let at = buf.indexOf(tag)
  for (let i = 0; i < nth && at >= 0; i++) at = buf.indexOf(tag, at + 1)
  if (at < 0) throw new RangeError('header not found')
  return at
}

/** A copy of `bytes` with the size field of the header at `at` set to `size`. */
export function withHeaderSize(bytes: Uint8Array, at: number, size: bigint): Uint8Array {
  const out = Buffer.from(bytes)
  out.writeBigUInt64LE(size, at + 8)
  return new Uint8Array(out)
}

/**
 * A copy of `bytes` where the FILENAME item naming `from` now names `to` (same length; the
 * goodbye table keeps the old hash, as an attacker's archive would).
 */
export function renameEntry(bytes: Uint8Array, from: string, to: string | Uint8Array): Uint8Array {
  const f = Buffer.from(`${from}\0`)
  const t = Buffer.concat([Buffer.from(to), Buffer.from([0])])
  if (t.length !== f.length) throw new RangeError('replacement must have the same length')
  const out = Buffer.from(bytes)
  for (let n = 0; ; n++) {
    const at = findHeader(out, PXAR_FILENAME_LO, PXAR_FILENAME_HI, n)
    if (
      Number(out.readBigUInt64LE(at + 8)) === 16 + f.length &&
      out.subarray(at + 16, at + 16 + f.length).equals(f)
    ) {
      t.copy(out, at + 16)
      return new Uint8Array(out)
    }
  }
}

/**
 * The hostile archives. `outside` is a path outside the restore target that symlinks and link
 * targets aim at (the test checks that nothing there is touched).
 */
export function hostileArchives(outside: string): HostileArchive[] {
  const out: HostileArchive[] = []
  const add = (a: HostileArchive): void => {
    out.push(a)
  }

  add({
    name: 'dotdot-file',
    description: "a file named '..'",
    bytes: renameEntry(
      buildArchive((e) => e.addFile('XX', FILE, Buffer.from('pwn'))),
      'XX',
      '..',
    ),
    expect: 'refuse',
    code: 'ERR_PXAR_BAD_NAME',
  })
  add({
    name: 'dotdot-dir',
    description: "a directory named '..' holding a file",
    bytes: renameEntry(
      buildArchive((e) => {
        e.createDirectory('QQ', DIR)
        e.addFile('pwned', FILE, Buffer.from('pwn'))
        e.finish()
      }),
      'QQ',
      '..',
    ),
    expect: 'refuse',
    code: 'ERR_PXAR_BAD_NAME',
  })
  add({
    name: 'dot-dir',
    description: "a directory named '.'",
    bytes: renameEntry(
      buildArchive((e) => {
        e.createDirectory('Q', DIR)
        e.addFile('f', FILE, Buffer.from('x'))
        e.finish()
      }),
      'Q',
      '.',
    ),
    expect: 'refuse',
    code: 'ERR_PXAR_BAD_NAME',
  })
  const abs = `/${'x'.repeat(15)}`
  add({
    name: 'absolute-name',
    description: "a file name starting with '/'",
    bytes: renameEntry(
      buildArchive((e) => e.addFile(`Y${'x'.repeat(15)}`, FILE, Buffer.from('pwn'))),
      `Y${'x'.repeat(15)}`,
      abs,
    ),
    expect: 'refuse',
    code: 'ERR_PXAR_BAD_NAME',
  })
  add({
    name: 'slash-dotdot-name',
    description: "a file name '../pwned' (a path in a name)",
    bytes: renameEntry(
      buildArchive((e) => e.addFile('ZZZpwned', FILE, Buffer.from('pwn'))),
      'ZZZpwned',
      '../pwned',
    ),
    expect: 'refuse',
    code: 'ERR_PXAR_BAD_NAME',
  })
  add({
    name: 'nul-in-name',
    description: 'a NUL inside a file name',
    bytes: renameEntry(
      buildArchive((e) => e.addFile('abXcd', FILE, Buffer.from('pwn'))),
      'abXcd',
      'ab\0cd',
    ),
    expect: 'refuse',
    code: 'ERR_PXAR_BAD_NAME',
  })
  add({
    name: 'symlink-dir-then-write',
    description: 'a symlink to the outside, then a directory of the same name with a file below it',
    bytes: renameEntry(
      buildArchive((e) => {
        e.addSymlink('evil', LINK, outside)
        e.createDirectory('evim', DIR)
        e.addFile('pwned', FILE, Buffer.from('pwn'))
        e.finish()
      }),
      'evim',
      'evil',
    ),
    expect: 'refuse',
    code: 'ERR_RESTORE_UNSAFE',
  })
  add({
    name: 'symlink-then-file',
    description: 'a symlink to an outside file, then a regular file of the same name (overwrite on)',
    bytes: renameEntry(
      buildArchive((e) => {
        e.addSymlink('a', LINK, `${outside}/sentinel`)
        e.addFile('b', FILE, Buffer.from('pwn'))
      }),
      'b',
      'a',
    ),
    expect: 'refuse',
    code: 'ERR_RESTORE_UNSAFE',
    options: { overwrite: true },
  })
  add({
    name: 'symlink-then-hardlink',
    description: 'a symlink to the outside, then a hardlink of the same name',
    bytes: (() => {
      const b = buildArchive((e) => {
        const f = e.addFile('f', FILE, Buffer.from('data'))
        e.addSymlink('s', LINK, `${outside}/sentinel`)
        e.addHardlink('t', '/f', f)
      })
      return renameEntry(b, 't', 's')
    })(),
    expect: 'refuse',
    code: 'ERR_RESTORE_UNSAFE',
    options: { overwrite: true },
  })
  add({
    name: 'duplicate-dirs',
    description: 'two directories of the same name (the second merging into the first)',
    bytes: renameEntry(
      buildArchive((e) => {
        e.createDirectory('d1', DIR)
        e.addFile('a', FILE, Buffer.from('one'))
        e.finish()
        e.createDirectory('d2', DIR)
        e.addFile('a', FILE, Buffer.from('two'))
        e.finish()
      }),
      'd2',
      'd1',
    ),
    expect: 'refuse',
    code: 'ERR_RESTORE_UNSAFE',
  })
  add({
    name: 'duplicate-files',
    description: 'two files of the same name (the second replacing the first)',
    bytes: renameEntry(
      buildArchive((e) => {
        e.addFile('f1', FILE, Buffer.from('one'))
        e.addFile('f2', FILE, Buffer.from('two'))
      }),
      'f2',
      'f1',
    ),
    expect: 'refuse',
    code: 'ERR_RESTORE_UNSAFE',
    options: { overwrite: true },
  })
  add({
    name: 'hardlink-absolute-target',
    description: 'a hardlink whose target path is absolute and outside, offset pointing nowhere',
    bytes: (() => {
      const target = `${outside}/sentinel`
      const b = Buffer.from(
        buildArchive((e) => {
          const f = e.addFile('f', FILE, Buffer.from('data'))
          e.addHardlink('h', target, f)
        }),
      )
      // make the offset point before the archive start
      const at = findHeader(b, PXAR_HARDLINK_LO, PXAR_HARDLINK_HI)
      b.writeBigUInt64LE(BigInt(at) + 1000n, at + 16)
      return new Uint8Array(b)
    })(),
    expect: 'refuse',
    code: 'ERR_PXAR_INVALID_DATA',
  })
  add({
    name: 'hardlink-dotdot-target',
    description: "a hardlink whose target path is '../../…' but whose offset names an archive file",
    bytes: buildArchive((e) => {
      const f = e.addFile('f', FILE, Buffer.from('data'))
      e.addHardlink('h', `/../../..${outside}/sentinel`, f)
    }),
    expect: 'contain',
  })
  add({
    name: 'hardlink-to-symlink',
    description: 'a hardlink whose offset names a symlink to the outside',
    bytes: (() => {
      const b = Buffer.from(
        buildArchive((e) => {
          const f = e.addFile('f', FILE, Buffer.from('data'))
          e.addSymlink('s', LINK, `${outside}/sentinel`)
          e.addHardlink('h', '/f', f)
        }),
      )
      // retarget the hardlink's offset from the file's FILENAME to the symlink's FILENAME
      const link = findHeader(b, PXAR_HARDLINK_LO, PXAR_HARDLINK_HI)
      const fname = findHeader(b, PXAR_FILENAME_LO, PXAR_FILENAME_HI, 0)
      const sname = findHeader(b, PXAR_FILENAME_LO, PXAR_FILENAME_HI, 1)
      const here = Number(b.readBigUInt64LE(link + 16))
      b.writeBigUInt64LE(BigInt(here - (sname - fname)), link + 16)
      return new Uint8Array(b)
    })(),
    expect: 'refuse',
    code: 'ERR_RESTORE_UNSAFE',
  })
  add({
    name: 'symlink-absolute-target',
    description: 'a symlink to an absolute outside path (kept as a link, never followed)',
    bytes: buildArchive((e) => {
      e.addSymlink('abs', LINK, `${outside}/sentinel`)
      e.addSymlink('rel', LINK, '../../../../../../../../etc/passwd')
    }),
    expect: 'contain',
  })
  add({
    name: 'char-device',
    description: 'a character device (/dev/mem) where devices are not permitted',
    bytes: buildArchive((e) => {
      e.addDevice('mem', charDeviceMetadata(0o666).build(), { major: 1, minor: 1 })
      e.addFile('after', FILE, Buffer.from('ok'))
    }),
    expect: 'contain',
    options: { devices: false },
  })
  add({
    name: 'huge-payload',
    description: 'a file whose PAYLOAD header claims 2^62 bytes',
    bytes: (() => {
      const b = buildArchive((e) => e.addFile('big', FILE, Buffer.from('tiny')))
      return withHeaderSize(b, findHeader(b, PXAR_PAYLOAD_LO, PXAR_PAYLOAD_HI), 1n << 62n)
    })(),
    expect: 'refuse',
    code: 'ERR_PXAR_SIZE',
  })
  add({
    name: 'huge-payload-tib',
    description: 'a file whose PAYLOAD header claims 1 TiB (a valid size, but the stream ends)',
    bytes: (() => {
      const b = buildArchive((e) => e.addFile('big', FILE, Buffer.from('tiny')))
      return withHeaderSize(b, findHeader(b, PXAR_PAYLOAD_LO, PXAR_PAYLOAD_HI), 1n << 40n)
    })(),
    expect: 'refuse',
    code: 'ERR_PXAR_TRUNCATED',
  })
  add({
    name: 'huge-payload-u64',
    description: 'a file whose PAYLOAD header claims 2^64-1 bytes',
    bytes: (() => {
      const b = buildArchive((e) => e.addFile('big', FILE, Buffer.from('tiny')))
      return withHeaderSize(b, findHeader(b, PXAR_PAYLOAD_LO, PXAR_PAYLOAD_HI), (1n << 64n) - 1n)
    })(),
    expect: 'refuse',
    code: 'ERR_PXAR_SIZE',
  })
  add({
    name: 'huge-filename',
    description: 'a FILENAME header claiming 1 GiB',
    bytes: (() => {
      const b = buildArchive((e) => e.addFile('n', FILE, Buffer.from('x')))
      return withHeaderSize(b, findHeader(b, PXAR_FILENAME_LO, PXAR_FILENAME_HI), 1n << 30n)
    })(),
    expect: 'refuse',
    code: 'ERR_PXAR_SIZE',
  })
  add({
    name: 'huge-symlink',
    description: 'a SYMLINK header claiming 2^40 bytes',
    bytes: (() => {
      const b = buildArchive((e) => e.addSymlink('s', LINK, 'target'))
      return withHeaderSize(b, findHeader(b, PXAR_SYMLINK_LO, PXAR_SYMLINK_HI), 1n << 40n)
    })(),
    expect: 'refuse',
    code: 'ERR_PXAR_SIZE',
  })
  return out
}

/** One hostile split archive: `.mpxar` metadata and `.ppxar` payload. */
export interface HostileSplitArchive {
  readonly name: string
  readonly description: string
  readonly metadata: Uint8Array
  readonly payload: Uint8Array
  readonly expect: Expectation
  /** The error code a refusal carries. */
  readonly code?: string
}

/** Encodes a split (v2) archive whose root directory gets the entries `fn` adds. */
export function buildSplitArchive(fn: (enc: Encoder) => void): { metadata: Uint8Array; payload: Uint8Array } {
  const meta = new BufferSink()
  const payload = new BufferSink()
  const enc = new Encoder(meta, DIR, { payload })
  fn(enc)
  enc.finish()
  enc.close()
  return { metadata: meta.takeBytes(), payload: payload.takeBytes() }
}

/**
 * Split archives whose payload references lie: past the end of the payload, claiming huge
 * sizes, into the middle of another file's data, or at the stream's start marker.
 */
export function hostileSplitArchives(): HostileSplitArchive[] {
  const two = buildSplitArchive((e) => {
    e.addFile('a', FILE, Buffer.from('first file data'))
    e.addFile('b', FILE, Buffer.from('second file data'))
  })
  /** A copy of the metadata with the nth PAYLOAD_REF's offset and/or size replaced. */
  const ref = (nth: number, offset?: bigint, size?: bigint): Uint8Array => {
    const b = Buffer.from(two.metadata)
    const at = findHeader(b, PXAR_PAYLOAD_REF_LO, PXAR_PAYLOAD_REF_HI, nth)
    if (offset !== undefined) b.writeBigUInt64LE(offset, at + 16)
    if (size !== undefined) b.writeBigUInt64LE(size, at + 24)
    return new Uint8Array(b)
  }
  const firstOffset = (): bigint => {
    const b = Buffer.from(two.metadata)
    return b.readBigUInt64LE(findHeader(b, PXAR_PAYLOAD_REF_LO, PXAR_PAYLOAD_REF_HI, 0) + 16)
  }
  const len = BigInt(two.payload.length)
  return [
    {
      name: 'ref-past-end',
      description: 'a payload reference past the end of the payload stream',
      metadata: ref(0, len + 4096n),
      payload: two.payload,
      expect: 'refuse',
      code: 'ERR_PXAR_INVALID_DATA',
    },
    {
      name: 'ref-huge-size',
      description: 'a payload reference claiming 1 TiB',
      metadata: ref(0, undefined, 1n << 40n),
      payload: two.payload,
      expect: 'refuse',
      code: 'ERR_PXAR_INVALID_DATA',
    },
    {
      name: 'ref-u64-offset',
      description: 'a payload reference at offset 2^64-1',
      metadata: ref(0, (1n << 64n) - 1n),
      payload: two.payload,
      expect: 'refuse',
      code: 'ERR_PXAR_SIZE',
    },
    {
      name: 'ref-into-data',
      description: "a payload reference into the middle of another file's data",
      metadata: ref(1, firstOffset() + 20n),
      payload: two.payload,
      expect: 'refuse',
      code: 'ERR_PXAR_INVALID_DATA',
    },
    {
      name: 'ref-start-marker',
      description: 'a payload reference at the start marker of the payload stream',
      metadata: ref(0, 0n),
      payload: two.payload,
      expect: 'refuse',
      code: 'ERR_PXAR_INVALID_DATA',
    },
    {
      name: 'payload-truncated',
      description: 'the payload stream cut in the middle of the second file',
      metadata: two.metadata,
      payload: two.payload.subarray(0, two.payload.length - 8),
      expect: 'refuse',
      code: 'ERR_PXAR_INVALID_DATA',
    },
  ]
}
