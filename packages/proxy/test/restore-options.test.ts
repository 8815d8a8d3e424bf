import { lstatSync, readdirSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BufferSink, Encoder } from '@pxar/codec'
import {
  charDeviceMetadata,
  dirMetadata,
  fifoMetadata,
  fileMetadata,
  socketMetadata,
  symlinkMetadata,
} from '@pxar/format'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { restoreArchive } from '../src/index.ts'

let base: string
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'pxar-restore-opts-'))
})
afterEach(async () => {
  await rm(base, { recursive: true, force: true })
})

const isRoot = process.getuid?.() === 0

function build(fn: (enc: Encoder) => void): Uint8Array {
  const sink = new BufferSink()
  const enc = new Encoder(sink, dirMetadata(0o755).mtime(1_700_000_000).build())
  fn(enc)
  enc.finish()
  enc.close()
  return sink.takeBytes()
}

async function* once(b: Uint8Array): AsyncIterable<Uint8Array> {
  yield b
}

const file = (mode = 0o644) => fileMetadata(mode).mtime(1_650_000_000).build()
const bad = (s: string): Uint8Array => Buffer.concat([Buffer.from(s), Buffer.from([0xff, 0xfe])])

/** A small tree: a/ (x.txt, sub/ (y.txt)), top.txt, link -> top.txt. */
const tree = build((e) => {
  e.createDirectory('a', dirMetadata(0o750).mtime(1_600_000_000).build())
  e.addFile('x.txt', file(), Buffer.from('x from archive'))
  e.createDirectory('sub', dirMetadata(0o755).build())
  e.addFile('y.txt', file(0o600), Buffer.from('y from archive'))
  e.finish()
  e.finish()
  e.addFile('top.txt', file(), Buffer.from('top'))
  e.addSymlink('zlink', symlinkMetadata().build(), Buffer.from('top.txt'))
})

describe('restore options', () => {
  it('--allow-existing-dirs reuses directories; --overwrite replaces entries; both are needed for a rerun', async () => {
    const target = join(base, 't')
    await restoreArchive({ archive: once(tree) }, target)
    await writeFile(join(target, 'a', 'x.txt'), 'edited')
    await writeFile(join(target, 'a', 'extra.txt'), 'not in the archive')
    for (const options of [{}, { overwrite: true }]) {
      // a/ exists: without allowExistingDirs that is an error whatever overwrite says
      await expect(restoreArchive({ archive: once(tree) }, target, options)).rejects.toMatchObject({
        code: 'ERR_RESTORE_EXISTS',
      })
    }
    // directories may be reused, but existing files still need overwrite
    await expect(
      restoreArchive({ archive: once(tree) }, target, { allowExistingDirs: true }),
    ).rejects.toMatchObject({ code: 'ERR_RESTORE_EXISTS' })
    expect(await readFile(join(target, 'a', 'x.txt'), 'utf8')).toBe('edited')
    const r = await restoreArchive({ archive: once(tree) }, target, {
      allowExistingDirs: true,
      overwrite: true,
    })
    expect(r.files).toBe(3)
    expect(await readFile(join(target, 'a', 'x.txt'), 'utf8')).toBe('x from archive')
    expect(await readFile(join(target, 'a', 'sub', 'y.txt'), 'utf8')).toBe('y from archive')
    // entries that are not in the archive are left alone; reused directories get the archive's metadata
    expect(await readFile(join(target, 'a', 'extra.txt'), 'utf8')).toBe('not in the archive')
    const st = lstatSync(join(target, 'a'))
    expect(st.mode & 0o7777).toBe(0o750)
    expect(st.mtimeMs).toBe(1_600_000_000_000)
  })

  it('--overwrite replaces a file by a directory, an empty directory by a file, a symlink by a file', async () => {
    const target = join(base, 't')
    await mkdir(join(target, 'top.txt'), { recursive: true })
    await writeFile(join(target, 'a'), 'a file where the archive has a directory')
    await symlink('/nonexistent', join(target, 'zlink'))
    await expect(restoreArchive({ archive: once(tree) }, target)).rejects.toMatchObject({
      code: 'ERR_RESTORE_EXISTS',
    })
    await rm(join(target, 'a'))
    await writeFile(join(target, 'a'), 'again')
    await restoreArchive({ archive: once(tree) }, target, { overwrite: true })
    expect(lstatSync(join(target, 'a')).isDirectory()).toBe(true)
    expect(readFileSync(join(target, 'top.txt'), 'utf8')).toBe('top')
    expect(lstatSync(join(target, 'zlink')).isSymbolicLink()).toBe(true)
    expect(readdirSync(target).sort()).toEqual(['a', 'top.txt', 'zlink'])
  })

  it('creates FIFOs, sockets and (as root) devices with non-UTF-8 names below a long path', async () => {
    const archive = build((e) => {
      e.createDirectory(bad('dir-'), dirMetadata(0o755).build())
      e.addFifo(bad('fifo-'), fifoMetadata(0o640).mtime(1_600_000_000).build())
      e.addSocket(bad('sock-'), socketMetadata(0o755).mtime(1_600_000_001).build())
      e.addDevice(bad('tty-'), charDeviceMetadata(0o620).mtime(1_600_000_002).build(), {
        major: 5,
        minor: 0,
      })
      e.finish()
    })
    // deeper than the 108 bytes a socket path may have
    const target = join(base, 'x'.repeat(60), 'y'.repeat(60))
    const warnings: string[] = []
    await restoreArchive({ archive: once(archive) }, target, {
      onWarning: (p, m) => warnings.push(`${p}: ${m}`),
    })
    const dir = Buffer.concat([Buffer.from(`${target}/`), bad('dir-')])
    const at = (n: string): Buffer => Buffer.concat([dir, Buffer.from('/'), bad(n)])
    const fifo = lstatSync(at('fifo-'))
    expect(fifo.isFIFO()).toBe(true)
    expect(fifo.mode & 0o7777).toBe(0o640)
    expect(fifo.mtimeMs).toBe(1_600_000_000_000)
    const sock = lstatSync(at('sock-'))
    expect(sock.isSocket()).toBe(true)
    expect(sock.mtimeMs).toBe(1_600_000_001_000)
    if (isRoot) {
      const tty = lstatSync(at('tty-'))
      expect(tty.isCharacterDevice()).toBe(true)
      expect(tty.rdev).toBe((5 << 8) | 0)
      expect(tty.mode & 0o7777).toBe(0o620)
      expect(warnings).toEqual([])
    } else {
      expect(warnings).toHaveLength(1)
    }
    // no temporary names are left behind
    expect(readdirSync(dir).length).toBe(isRoot ? 3 : 2)
  })

  it('restores ownership as root and can be told not to', async () => {
    if (!isRoot) return
    const archive = build((e) => {
      e.addFile('owned', fileMetadata(0o644).owner(1234, 4321).build(), Buffer.from('o'))
    })
    await restoreArchive({ archive: once(archive) }, join(base, 'a'))
    expect(lstatSync(join(base, 'a', 'owned'))).toMatchObject({ uid: 1234, gid: 4321 })
    await restoreArchive({ archive: once(archive) }, join(base, 'b'), { owner: false })
    expect(lstatSync(join(base, 'b', 'owned'))).toMatchObject({ uid: 0, gid: 0 })
  })
})
