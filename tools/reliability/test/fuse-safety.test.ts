/**
 * The FUSE filesystem over hostile archives: every operation answers data or an errno (never
 * throws), listings never carry a name that is '.', '..', empty or holds '/', hardlinks resolve
 * only to regular files of the archive, symlinks are reported and never followed, and crafted
 * request paths stay inside the archive. One real mount checks the same from outside the process.
 */
import { execFile } from 'node:child_process'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openAccessor, type ReadAt } from '../../../packages/codec/src/index.ts'
import { fileMetadata, symlinkMetadata } from '../../../packages/format/src/index.ts'
import { ERRNO, mount, openSource, PxarFilesystem } from '../../../packages/fuse/src/index.ts'
import { buildArchive, type HostileArchive, hostileArchives, hostileSplitArchives } from '../src/index.ts'
import { makeSentinel, tempDir, treeState } from './helpers.ts'

const execFileP = promisify(execFile)

let base: string
let outside: string
let corpus: HostileArchive[]

beforeAll(async () => {
  base = await tempDir('fuse')
  outside = join(base, 'outside')
  await makeSentinel(outside)
  corpus = hostileArchives(outside)
})
afterAll(async () => {
  await rm(base, { recursive: true, force: true })
})

function memoryReadAt(bytes: Uint8Array): ReadAt {
  return {
    size: bytes.length,
    read: async (buf, position) => {
      const n = Math.max(0, Math.min(buf.length, bytes.length - position))
      buf.set(bytes.subarray(position, position + n))
      return n
    },
  }
}

const decoder = new TextDecoder()

/** Walks the whole filesystem through its operations; returns what it saw. */
async function explore(fs: PxarFilesystem): Promise<{ paths: string[]; errors: number[] }> {
  const paths: string[] = []
  const errors: number[] = []
  const walk = async (dir: string, depth: number): Promise<void> => {
    const list = await fs.readdir(dir)
    if (typeof list === 'number') {
      errors.push(list)
      return
    }
    expect(list.slice(0, 2).map((e) => decoder.decode(e.name))).toEqual(['.', '..'])
    for (const e of list.slice(2)) {
      const name = decoder.decode(e.name)
      expect(e.name.length).toBeGreaterThan(0)
      expect(name === '.' || name === '..').toBe(false)
      expect(e.name.includes(0x2f)).toBe(false)
      expect(e.name.includes(0)).toBe(false)
      const p = dir === '/' ? `/${name}` : `${dir}/${name}`
      paths.push(p)
      const st = await fs.getattr(p)
      if (typeof st === 'number') {
        errors.push(st)
        continue
      }
      const kind = st.mode & 0o170000
      if (kind === 0o040000 && depth < 8) await walk(p, depth + 1)
      else if (kind === 0o120000) {
        const target = await fs.readlink(p)
        expect(target).toBeInstanceOf(Uint8Array)
        // never followed: opening a symlink is refused
        expect(await fs.open(p)).toBe(-ERRNO.EINVAL)
      } else if (kind === 0o100000) {
        const fd = await fs.open(p)
        if (typeof fd === 'number' && fd < 0) errors.push(fd)
        else {
          const buf = new Uint8Array(Math.min(st.size, 1 << 16))
          const n = await fs.read(fd, buf, 0)
          if (n < 0) errors.push(n)
          fs.release(fd)
        }
      }
    }
  }
  await walk('/', 0)
  return { paths, errors }
}

describe('PxarFilesystem over hostile archives', () => {
  it('answers every operation with data or an errno and lists only valid names', async () => {
    for (const a of corpus) {
      const seen: string[] = []
      let accessor: Awaited<ReturnType<typeof openAccessor>>
      try {
        accessor = await openAccessor(memoryReadAt(a.bytes))
      } catch (err) {
        // refusing to open at all is a safe outcome, as long as it is a typed error
        expect((err as { code?: string }).code, a.name).toMatch(/^ERR_PXAR_/)
        continue
      }
      const fs = new PxarFilesystem(accessor, { onError: (_e, op, p) => seen.push(`${op} ${p}`) })
      const { errors } = await explore(fs)
      for (const e of errors) expect(e, a.name).toBeLessThan(0)
      // crafted request paths never leave the archive
      for (const p of ['/..', '/../outside', '/../../etc/passwd', '//..', '/./..', 'relative', '']) {
        const r = await fs.getattr(p)
        if (typeof r !== 'number') expect(r.ino, `${a.name} ${p}`).toBe(1)
      }
      if (a.name === 'hardlink-to-symlink') {
        // a hardlink whose offset names a symlink is an I/O error, never the symlink
        expect(await fs.getattr('/h')).toBe(-ERRNO.EIO)
      }
      if (a.name === 'hardlink-dotdot-target') {
        const h = await fs.getattr('/h')
        const f = await fs.getattr('/f')
        expect(typeof h !== 'number' && typeof f !== 'number' && h.ino === f.ino).toBe(true)
      }
      if (a.name === 'symlink-absolute-target') {
        expect(decoder.decode((await fs.readlink('/abs')) as Uint8Array)).toBe(join(outside, 'sentinel'))
      }
    }
  })

  it('split archives with lying payload references read as I/O errors, never foreign bytes', async () => {
    for (const a of hostileSplitArchives()) {
      const file = join(base, `${a.name}.mpxar`)
      await writeFile(file, a.metadata)
      await writeFile(join(base, `${a.name}.ppxar`), a.payload)
      const src = await openSource({ kind: 'split', metadata: file })
      try {
        const fs = new PxarFilesystem(src.accessor)
        const { errors } = await explore(fs)
        for (const e of errors) expect(e, a.name).toBe(-ERRNO.EIO)
        // whatever is readable is exactly one file's own data
        for (const [p, want] of [
          ['/a', 'first file data'],
          ['/b', 'second file data'],
        ] as const) {
          const fd = await fs.open(p)
          if (fd < 0) continue
          const buf = new Uint8Array(64)
          const n = await fs.read(fd, buf, 0)
          if (n >= 0) expect(decoder.decode(buf.subarray(0, n)), `${a.name} ${p}`).toBe(want)
          else expect(n).toBe(-ERRNO.EIO)
          fs.release(fd)
        }
      } finally {
        await src.close()
      }
    }
  })

  it('a real mount is read-only, shows links as links and hostile names as I/O errors', async () => {
    const good = buildArchive((e) => {
      const f = e.addFile('f', fileMetadata(0o644).build(), Buffer.from('data'))
      e.addHardlink('h', `/../../..${outside}/sentinel`, f)
      e.addSymlink('abs', symlinkMetadata().build(), join(outside, 'sentinel'))
      e.addSymlink('up', symlinkMetadata().build(), '../../../../..')
    })
    const bad = corpus.find((c) => c.name === 'dotdot-file')!
    const before = await treeState(outside)
    for (const [name, bytes] of [
      ['good', good],
      ['bad', bad.bytes],
    ] as const) {
      const file = join(base, `${name}.pxar`)
      await writeFile(file, bytes)
      const mnt = join(base, `mnt-${name}`)
      await mkdir(mnt)
      const m = await mount({ source: { kind: 'pxar', path: file }, mountpoint: mnt, cacheTimeout: 0 })
      try {
        const sh = (cmd: string) =>
          // cd in the shell: a child's cwd on the mount would block spawn() in this (serving) process
          execFileP('sh', ['-c', `cd '${mnt}' && ${cmd}`], { timeout: 30_000 }).then(
            (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
            (e: { code?: number; stdout?: string; stderr?: string }) => ({
              code: e.code ?? -1,
              out: e.stdout ?? '',
              err: e.stderr ?? '',
            }),
          )
        if (name === 'good') {
          expect((await sh('ls -A . | sort')).out.split('\n').filter(Boolean)).toEqual([
            'abs',
            'f',
            'h',
            'up',
          ])
          expect((await sh('cat h')).out).toBe('data')
          expect((await sh('stat -c %i f h')).out.split('\n')[0]).toBe((await sh('stat -c %i h')).out.trim())
          expect((await sh('readlink abs')).out.trim()).toBe(join(outside, 'sentinel'))
          const w = await sh('echo x > new; mkdir d2; touch f; ln -s /etc z')
          expect(w.code).not.toBe(0)
          expect(w.err).toMatch(/Read-only file system/)
          expect((await sh('ls -A . | sort')).out.split('\n').filter(Boolean)).toEqual([
            'abs',
            'f',
            'h',
            'up',
          ])
        } else {
          // the root itself cannot be listed (or even entered): an I/O error, nothing shown
          const r = await execFileP('ls', ['-A', mnt]).catch((e: { code?: number; stderr?: string }) => e)
          expect((r as { code?: number }).code).not.toBe(0)
          expect((r as { stderr?: string }).stderr).toMatch(/Input\/output error/)
        }
      } finally {
        await m.unmount()
      }
    }
    expect(await treeState(outside)).toEqual(before)
  })
})
