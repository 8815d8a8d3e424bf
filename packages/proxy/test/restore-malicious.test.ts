import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BufferSink, Encoder } from '@pxar/codec'
import { dirMetadata, fileMetadata, PxarError, symlinkMetadata } from '@pxar/format'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { restoreArchive, restoreFile } from '../src/index.ts'

let base: string
let outside: string
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'pxar-evil-'))
  outside = join(base, 'outside')
  await mkdir(outside)
})
afterEach(async () => {
  await rm(base, { recursive: true, force: true })
})

function build(fn: (enc: Encoder) => void): Uint8Array {
  const sink = new BufferSink()
  const enc = new Encoder(sink, dirMetadata().build())
  fn(enc)
  enc.finish()
  enc.close()
  return sink.takeBytes()
}

/** Replaces every occurrence of `from` by `to` (same length) in the archive bytes. */
function patch(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const out = Buffer.from(bytes)
  const f = Buffer.from(from)
  const t = Buffer.from(to)
  expect(t.length).toBe(f.length)
  let at = out.indexOf(f)
  expect(at).toBeGreaterThanOrEqual(0)
  while (at >= 0) {
    t.copy(out, at)
    at = out.indexOf(f, at + 1)
  }
  return out
}

async function* once(b: Uint8Array): AsyncIterable<Uint8Array> {
  yield b
}

async function expectRefused(archive: Uint8Array, code: string, options = {}): Promise<void> {
  const target = join(base, 'target')
  const err = await restoreArchive({ archive: once(archive) }, target, options).catch((e: unknown) => e)
  expect(err).toBeInstanceOf(PxarError)
  expect((err as PxarError).code).toBe(code)
  expect(await readdir(outside)).toEqual([])
}

const file = fileMetadata(0o644).build()

describe('restore refuses malicious archives', () => {
  it('a ".." file name', async () => {
    await expectRefused(
      patch(
        build((e) => e.addFile('XX', file, Buffer.from('pwn'))),
        'XX\0',
        '..\0',
      ),
      'ERR_PXAR_BAD_NAME',
    )
  })

  it('a "." directory name', async () => {
    await expectRefused(
      patch(
        build((e) => {
          e.createDirectory('Q', dirMetadata().build())
          e.addFile('f', file, Buffer.from('x'))
          e.finish()
        }),
        'Q\0',
        '.\0',
      ),
      'ERR_PXAR_BAD_NAME',
    )
  })

  it('a name containing "/" (absolute or nested)', async () => {
    await expectRefused(
      patch(
        build((e) => e.addFile('Xoutside', file, Buffer.from('pwn'))),
        'Xoutside',
        '/outsid'.padEnd(8, 'e'),
      ),
      'ERR_PXAR_BAD_NAME',
    )
    await expectRefused(
      patch(
        build((e) => e.addFile('a_b', file, Buffer.from('pwn'))),
        'a_b',
        'a/b',
      ),
      'ERR_PXAR_BAD_NAME',
    )
  })

  it('a symlink followed by a directory of the same name writing through it', async () => {
    const bytes = build((e) => {
      e.addSymlink('evil', symlinkMetadata().build(), outside)
      e.createDirectory('evim', dirMetadata().build())
      e.addFile('pwned', file, Buffer.from('pwn'))
      e.finish()
    })
    await expectRefused(patch(bytes, 'evim\0', 'evil\0'), 'ERR_RESTORE_UNSAFE')
  })

  it('duplicate file names (second one replacing a symlink)', async () => {
    const bytes = build((e) => {
      e.addSymlink('a', symlinkMetadata().build(), join(outside, 'x'))
      e.addFile('b', file, Buffer.from('pwn'))
    })
    await expectRefused(patch(bytes, 'b\0', 'a\0'), 'ERR_RESTORE_UNSAFE', { overwrite: true })
  })

  it('a hardlink whose target is not a restored file', async () => {
    const bytes = build((e) => {
      const link = e.addFile('a', file, Buffer.from('data'))
      e.addHardlink('h', '/a', link)
    })
    // Point the hardlink's offset elsewhere (one byte further back than the target's FILENAME).
    const buf = Buffer.from(bytes)
    const at = buf.indexOf(Buffer.from('/a\0')) - 8
    buf.writeUInt32LE(buf.readUInt32LE(at) + 1, at)
    await expectRefused(buf, 'ERR_RESTORE_UNSAFE')
  })

  it('a pre-existing symlink in place of a directory of the archive', async () => {
    const target = join(base, 'target')
    await mkdir(target)
    await symlink(outside, join(target, 'd'))
    const bytes = build((e) => {
      e.createDirectory('d', dirMetadata().build())
      e.addFile('pwned', file, Buffer.from('pwn'))
      e.finish()
    })
    await writeFile(join(base, 'a.pxar'), bytes)
    const err = await restoreFile(join(base, 'a.pxar'), target, { allowExistingDirs: true }).catch(
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(PxarError)
    expect(await readdir(outside)).toEqual([])
  })
})
