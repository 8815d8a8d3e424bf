/**
 * `create` against the reference: the `from-disk-tree` vector was written by the Proxmox `pxar`
 * crate from a real directory tree; the tree is rebuilt on disk from its op list (modes, owners,
 * nanosecond mtimes, a hardlink, a symlink, a FIFO, a socket) and `pxar-cli create` must write
 * the same archive, byte for byte (v1, and v2 split with --payload-output).
 */
import { execFileSync } from 'node:child_process'
import { chmod, chown, lchown, link, mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import { baseEnv, run, tempHome } from './helpers.ts'

interface Meta {
  mode: number
  uid: number
  gid: number
  mtime: { secs: number; nanos: number }
}
type Op =
  | { op: 'begin'; meta: Meta }
  | { op: 'dir'; name: string; meta: Meta }
  | { op: 'file'; name: string; meta: Meta; content_b64: string }
  | { op: 'hardlink'; name: string; target: string }
  | { op: 'symlink'; name: string; meta: Meta; target: string }
  | { op: 'fifo' | 'socket'; name: string; meta: Meta }
  | { op: 'finish' }

const CASE = join(vectorsDir('pxar'), 'from-disk-tree')
const isRoot = process.getuid?.() === 0
let home: string
let env: Record<string, string>
let tree: string

async function makeSocket(path: string): Promise<void> {
  // a listening socket's file goes away when the server closes: keep a second link to it
  const tmp = `${path}.tmp-sock`
  const srv = createServer()
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject)
    srv.listen(tmp, () => resolve())
  })
  await link(tmp, path)
  await new Promise<void>((resolve) => srv.close(() => resolve())) // removes the temporary name
}

/** Rebuilds the directory tree the vector was made from. */
async function rebuild(ops: readonly Op[], root: string): Promise<void> {
  const stack: string[] = []
  const times: [string, Meta][] = []
  const setMeta = async (path: string, meta: Meta, isLink = false): Promise<void> => {
    if (!isLink) await chmod(path, meta.mode & 0o7777)
    if (isRoot) await (isLink ? lchown : chown)(path, meta.uid, meta.gid)
    times.push([path, meta])
  }
  for (const o of ops) {
    const here = (name: string): string => join(stack[stack.length - 1] as string, name)
    switch (o.op) {
      case 'begin':
        await mkdir(root)
        stack.push(root)
        await setMeta(root, o.meta)
        break
      case 'dir':
        await mkdir(here(o.name))
        await setMeta(here(o.name), o.meta)
        stack.push(here(o.name))
        break
      case 'file':
        await writeFile(here(o.name), Buffer.from(o.content_b64, 'base64'))
        await setMeta(here(o.name), o.meta)
        break
      case 'hardlink':
        await link(join(root, o.target), here(o.name))
        break
      case 'symlink':
        await symlink(o.target, here(o.name))
        await setMeta(here(o.name), o.meta, true)
        break
      case 'fifo':
        execFileSync('mkfifo', [here(o.name)])
        await setMeta(here(o.name), o.meta)
        break
      case 'socket':
        await makeSocket(here(o.name))
        await setMeta(here(o.name), o.meta)
        break
      case 'finish':
        stack.pop()
        break
    }
  }
  // nanosecond mtimes (Node's utimes keeps microseconds only); children do not change a directory's mtime
  for (const [path, meta] of times) {
    execFileSync('touch', [
      '-h',
      '-d',
      `@${meta.mtime.secs}.${String(meta.mtime.nanos).padStart(9, '0')}`,
      path,
    ])
  }
}

beforeAll(async () => {
  home = await tempHome()
  env = baseEnv(home)
  tree = join(home, 'tree')
  const raw = JSON.parse(await readFile(join(CASE, 'ops.json'), 'utf8')) as Op[] | { ops: Op[] }
  await rebuild(Array.isArray(raw) ? raw : raw.ops, tree)
})

/** Decoded entries without owners (for runs that cannot chown). */
async function entries(archive: string): Promise<unknown[]> {
  const r = await run(['list', '--output-format', 'json', archive], { env })
  expect(r.code, r.stderr).toBe(0)
  return (JSON.parse(r.stdout) as Record<string, unknown>[]).map(({ uid: _u, gid: _g, ...rest }) => rest)
}

describe('create reproduces the reference archive of a directory tree', () => {
  it('v1 .pxar', async () => {
    const out = join(home, 'v1.pxar')
    const r = await run(['create', out, tree], { env })
    expect(r.code, r.stderr).toBe(0)
    const want = await readFile(join(CASE, 'archive.pxar'))
    if (isRoot) expect(Buffer.compare(await readFile(out), want)).toBe(0)
    else expect(await entries(out)).toEqual(await entries(join(CASE, 'archive.pxar')))
  })

  it('v2 .mpxar + .ppxar', async () => {
    const out = join(home, 'v2.mpxar')
    const payload = join(home, 'v2.ppxar')
    const r = await run(['create', out, tree, '--payload-output', payload], { env })
    expect(r.code, r.stderr).toBe(0)
    if (isRoot) {
      expect(Buffer.compare(await readFile(out), await readFile(join(CASE, 'archive.mpxar')))).toBe(0)
    } else {
      expect(await entries(out)).toEqual(await entries(join(CASE, 'archive.mpxar')))
    }
    expect(Buffer.compare(await readFile(payload), await readFile(join(CASE, 'archive.ppxar')))).toBe(0)
  })
})
