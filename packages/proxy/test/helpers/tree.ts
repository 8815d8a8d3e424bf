/** Builds a real test tree and compares trees (content + metadata) with an in-process walk. */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { getAttributeSync, listAttributesSync, setAttributeSync } from '@napi-rs/xattr'

export function rand(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

const isRoot = process.getuid?.() === 0

/** Creates the test tree under `root` (which must exist). */
export function makeTree(root: string): void {
  const sizes = [0, 1, 100, 4095, 4096, 65_537, 200_000, 700_000]
  sizes.forEach((n, i) => {
    writeFileSync(join(root, `size-${n}.bin`), rand(n, i + 1))
  })
  let d = root
  for (let i = 0; i < 12; i++) {
    d = join(d, `level${i}`)
    mkdirSync(d)
  }
  writeFileSync(join(d, 'deep.txt'), 'deep\n')
  mkdirSync(join(root, 'ünïcödé-目录'))
  writeFileSync(join(root, 'ünïcödé-目录', 'файл ✓.txt'), 'unicode\n')
  symlinkSync('size-100.bin', join(root, 'rel-link'))
  symlinkSync('/nonexistent/abs', join(root, 'abs-link'))
  writeFileSync(join(root, 'hl-1'), 'hardlinked\n')
  linkSync(join(root, 'hl-1'), join(root, 'hl-2'))
  execFileSync('mkfifo', [join(root, 'fifo')])
  execFileSync('python3', [
    '-c',
    'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])',
    join(root, 'sock'),
  ])
  if (isRoot) execFileSync('mknod', [join(root, 'null-dev'), 'c', '1', '3'])
  writeFileSync(join(root, 'xattr.txt'), 'x')
  setAttributeSync(join(root, 'xattr.txt'), 'user.one', 'value 1')
  setAttributeSync(join(root, 'xattr.txt'), 'user.two', Buffer.from([0, 1, 2, 255]))
  writeFileSync(join(root, 'acl.txt'), 'acl')
  execFileSync('setfacl', ['-m', 'u:1234:rw,g:555:r', join(root, 'acl.txt')])
  mkdirSync(join(root, 'acl-dir'))
  execFileSync('setfacl', ['-d', '-m', 'u:1000:rwx,g:100:rx', join(root, 'acl-dir')])
  writeFileSync(join(root, 'cap.bin'), 'cap')
  execFileSync('setcap', ['cap_net_raw+ep', join(root, 'cap.bin')])
  writeFileSync(join(root, 'mode.txt'), 'm')
  execFileSync('chmod', ['0640', join(root, 'mode.txt')])
  if (isRoot) execFileSync('chown', ['1234:4321', join(root, 'mode.txt')])
  execFileSync('touch', ['-h', '-d', '@1600000000.123456789', join(root, 'mode.txt')])
  const many = join(root, 'many')
  mkdirSync(many)
  for (let i = 0; i < 40; i++) writeFileSync(join(many, `f${i}`), rand(3000 + i * 1111, 100 + i))
}

export interface Snap {
  kind: string
  mode: number
  uid: number
  gid: number
  mtimeUs: number
  data?: string
  link?: string
  xattrs?: string
  acl?: string
  ino?: number
}

/** Walks a tree into path → facts (mtime to the microsecond; directories' mtime included). */
export function snapshotTree(root: string, options: { hardlinkGroups?: boolean } = {}): Map<string, Snap> {
  const out = new Map<string, Snap>()
  const walk = (rel: string): void => {
    const abs = rel ? join(root, rel) : root
    const st = lstatSync(abs, { bigint: true })
    const kind = st.isDirectory()
      ? 'dir'
      : st.isFile()
        ? 'file'
        : st.isSymbolicLink()
          ? 'symlink'
          : st.isFIFO()
            ? 'fifo'
            : st.isCharacterDevice()
              ? `chr:${st.rdev}`
              : st.isSocket()
                ? 'sock'
                : 'other'
    const s: Snap = {
      kind,
      mode: Number(st.mode),
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtimeUs: Number(st.mtimeNs / 1000n),
    }
    if (st.isFile()) s.data = createHash('sha256').update(readFileSync(abs)).digest('hex')
    if (st.isSymbolicLink()) s.link = readlinkSync(abs)
    if (!st.isSymbolicLink()) {
      const names = listAttributesSync(abs)
        .filter((n) => n.startsWith('user.') || n.startsWith('security.capability'))
        .sort()
      if (names.length)
        s.xattrs = names.map((n) => `${n}=${getAttributeSync(abs, n)?.toString('hex')}`).join(',')
      if (!st.isFIFO()) s.acl = execFileSync('getfacl', ['-cp', abs], { encoding: 'utf8' })
    }
    if (options.hardlinkGroups && st.isFile() && st.nlink > 1n) s.ino = Number(st.ino)
    out.set(rel || '.', s)
    if (st.isDirectory()) for (const n of readdirSync(abs).sort()) walk(rel ? join(rel, n) : n)
  }
  walk('')
  return out
}

/** Compares two snapshots; hardlink groups are compared as "same inode" pairs. */
export function diffTrees(a: Map<string, Snap>, b: Map<string, Snap>): string[] {
  const out: string[] = []
  const strip = (s: Snap): Snap => ({ ...s, ino: undefined as never })
  for (const [p, s] of a) {
    const t = b.get(p)
    if (!t) out.push(`missing ${p}`)
    else if (JSON.stringify(strip(s)) !== JSON.stringify(strip(t)))
      out.push(`${p}: ${JSON.stringify(s)} != ${JSON.stringify(t)}`)
  }
  for (const p of b.keys()) if (!a.has(p)) out.push(`extra ${p}`)
  const groups = (m: Map<string, Snap>): string => {
    const by = new Map<number, string[]>()
    for (const [p, s] of m) if (s.ino !== undefined) by.set(s.ino, [...(by.get(s.ino) ?? []), p])
    return JSON.stringify([...by.values()].map((g) => g.sort()).sort())
  }
  if (groups(a) !== groups(b)) out.push(`hardlink groups differ: ${groups(a)} != ${groups(b)}`)
  return out
}
