/**
 * Test helpers: build a real source tree with shell tools (xattrs, ACLs, hardlinks, special
 * files) and encode it with the codec Encoder, reading metadata back with `getfattr`/`getfacl`.
 * Every command runs asynchronously: while a mount is up, FUSE requests are answered by this
 * very process, so a synchronous child process would deadlock it.
 */
import { exec as execCb } from 'node:child_process'
import { createReadStream } from 'node:fs'
import { chmod, lstat, mkdir, readdir, readlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { BufferSink, type ByteSink, drain, Encoder, type LinkOffset } from '@pxar/codec'
import {
  type BackupDir,
  type CryptConfig,
  chunkStoreSink,
  Datastore,
  DynamicIndexFileWriter,
  storeDynamic,
} from '@pxar/datastore'
import { ACL_NO_MASK, type Metadata, MetadataBuilder } from '@pxar/format'

const execP = promisify(execCb)

/** Runs a shell command asynchronously; resolves with stdout (rejects on a non-zero exit). */
export async function sh(cmd: string): Promise<string> {
  const { stdout } = await execP(cmd, { maxBuffer: 256 * 1024 * 1024, shell: '/bin/bash' })
  return stdout
}

/** Runs a command and returns its exit code and output instead of throwing. */
export async function shTry(cmd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execP(cmd, { maxBuffer: 64 * 1024 * 1024, shell: '/bin/bash' })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string }
    return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }
  }
}

export const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`

/** Deterministic pseudo-random bytes (xorshift32). */
export function pseudoRandom(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size)
  const v = new DataView(out.buffer)
  let x = seed >>> 0 || 1
  let i = 0
  for (; i + 4 <= size; i += 4) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    v.setUint32(i, x >>> 0, true)
  }
  for (; i < size; i++) out[i] = i & 0xff
  return out
}

/** Names of special files in the tree (excluded from `diff -r`, which refuses them). */
export const SPECIAL = ['fifo', 'null-dev', 'loop-dev']

/** Creates the test tree in `dir` (which must exist and be empty). */
export async function makeTree(dir: string, bigSize: number): Promise<void> {
  await writeFile(join(dir, 'hello.txt'), 'hello world\n')
  await writeFile(join(dir, 'empty'), '')
  await writeFile(join(dir, 'big.bin'), pseudoRandom(bigSize, 7))
  await mkdir(join(dir, 'sub/deeper/deepest'), { recursive: true })
  await writeFile(join(dir, 'sub/a.txt'), 'a\n'.repeat(1000))
  await writeFile(join(dir, 'sub/deeper/b.txt'), pseudoRandom(100_000, 3))
  await writeFile(join(dir, 'sub/deeper/deepest/c.txt'), 'c')
  await mkdir(join(dir, 'acl-dir'))
  await writeFile(join(dir, 'acl-dir/file'), 'acl')
  await writeFile(join(dir, 'exec.sh'), '#!/bin/sh\necho hi\n')
  await chmod(join(dir, 'exec.sh'), 0o4755)
  await writeFile(join(dir, 'linked'), 'one inode, three names\n')
  await sh(`cd ${q(dir)} && ln linked sub/linked-2 && ln linked linked-3`)
  await sh(`cd ${q(dir)} && ln -s hello.txt link-to-hello && ln -s ../missing/target sub/dangling`)
  await sh(`cd ${q(dir)} && mkfifo fifo && mknod null-dev c 1 3 && mknod loop-dev b 7 200`)
  await sh(`cd ${q(dir)} && chown 1234:5678 hello.txt && chown -h 42:43 link-to-hello`)
  await sh(
    `cd ${q(dir)} && setfattr -n user.comment -v 'a comment' hello.txt && setfattr -n user.bin -v 0x00ff00 hello.txt` +
      ` && setfattr -n user.dir -v yes sub && setfattr -n trusted.t -v x empty` +
      ` && setfattr -n security.capability -v 0x0100000200040000000000000000000000000000 exec.sh`,
  )
  await sh(
    `cd ${q(dir)} && setfacl -m u:1000:rx,g:2000:r hello.txt && setfacl -m u:1001:rwx acl-dir` +
      ` && setfacl -d -m u:1002:rx,g::r,o::- acl-dir`,
  )
  // nanosecond mtimes, set last (creating children touches their directories)
  await sh(
    `cd ${q(dir)} && touch -h -d '2021-03-04 05:06:07.123456789Z' hello.txt link-to-hello` +
      ` && touch -d '1999-12-31 23:59:59.5Z' sub/a.txt && touch -d '2030-01-01 00:00:00.000000001Z' empty`,
  )
}

function parseMode(perm: string): number {
  return (perm[0] === 'r' ? 4 : 0) | (perm[1] === 'w' ? 2 : 0) | (perm[2] === 'x' ? 1 : 0)
}

/** Metadata of a path from lstat, `getfattr` and `getfacl`. */
async function metadataOf(path: string): Promise<Metadata> {
  const st = await lstat(path, { bigint: true })
  const b = new MetadataBuilder(Number(st.mode))
    .owner(Number(st.uid), Number(st.gid))
    .mtime(st.mtimeNs / 1_000_000_000n, Number(st.mtimeNs % 1_000_000_000n))
  if (st.isSymbolicLink()) return b.build()
  const xa = await sh(`getfattr -h -d -m - -e hex --absolute-names ${q(path)} 2>/dev/null || true`)
  const xattrs: [string, Uint8Array][] = []
  for (const line of xa.split('\n')) {
    const m = /^([^#=][^=]*)=0x([0-9a-f]*)$/.exec(line)
    if (!m) continue
    const name = m[1]!
    const value = Buffer.from(m[2]!, 'hex')
    if (name.startsWith('system.posix_acl_')) continue
    if (name === 'security.capability') b.fcaps(value)
    else xattrs.push([name, value])
  }
  xattrs.sort((x, y) => Buffer.compare(Buffer.from(x[0]), Buffer.from(y[0])))
  for (const [n, v] of xattrs) b.xattr(n, v)
  const acl = await sh(`getfacl -n -c -p ${q(path)}`)
  let extended = false
  let groupObj = 0
  const def = { user: -1, group: -1, other: -1, mask: -1 }
  const users: [number, number][] = []
  const groups: [number, number][] = []
  const dusers: [number, number][] = []
  const dgroups: [number, number][] = []
  for (const line of acl.split('\n')) {
    const m = /^(default:)?(user|group|mask|other):([0-9]*):([rwx-]{3})/.exec(line)
    if (!m) continue
    const [, d, tag, id, perm] = m
    const p = parseMode(perm!)
    if (d) {
      if (id) (tag === 'user' ? dusers : dgroups).push([Number(id), p])
      else def[tag as keyof typeof def] = p
    } else if (id) {
      extended = true
      ;(tag === 'user' ? users : groups).push([Number(id), p])
    } else if (tag === 'mask') extended = true
    else if (tag === 'group') groupObj = p
  }
  if (extended) {
    for (const [id, p] of users) b.aclUser(id, p)
    for (const [id, p] of groups) b.aclGroup(id, p)
    b.aclGroupObj(groupObj)
  }
  if (def.user >= 0) {
    b.aclDefault({
      userObjPermissions: def.user,
      groupObjPermissions: def.group,
      otherPermissions: def.other,
      maskPermissions: def.mask >= 0 ? def.mask : ACL_NO_MASK,
    })
    for (const [id, p] of dusers) b.aclDefaultUser(id, p)
    for (const [id, p] of dgroups) b.aclDefaultGroup(id, p)
  }
  return b.build()
}

const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))

/**
 * Encodes the tree at `source` into `out` (v1), or metadata into `out` and file data into
 * `payload` (v2). `write` receives every piece for `out`/`payload` via the sinks' drain.
 * @returns the number of entries (root included).
 */
export async function encodeTree(
  source: string,
  sinks: {
    out: (c: Uint8Array) => Promise<unknown> | undefined
    payload?: (c: Uint8Array) => Promise<unknown> | undefined
  },
): Promise<number> {
  const out = new BufferSink()
  const payload = sinks.payload ? new BufferSink() : undefined
  const flush = async (): Promise<void> => {
    await drain(out, sinks.out)
    if (payload && sinks.payload) await drain(payload, sinks.payload)
  }
  const enc = new Encoder(out as ByteSink, await metadataOf(source), payload ? { payload } : {})
  const links = new Map<bigint, { offset: LinkOffset; path: string }>()
  let entries = 1
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort(byBytes)) {
      const path = join(dir, name)
      const relPath = rel ? `${rel}/${name}` : name
      const st = await lstat(path, { bigint: true })
      entries++
      if (st.isFile() && st.nlink > 1n) {
        const seen = links.get(st.ino)
        if (seen) {
          enc.addHardlink(name, seen.path, seen.offset)
          await flush()
          continue
        }
      }
      const meta = await metadataOf(path)
      if (st.isDirectory()) {
        enc.createDirectory(name, meta)
        await walk(path, relPath)
        enc.finish()
      } else if (st.isSymbolicLink()) {
        enc.addSymlink(name, meta, await readlink(path))
      } else if (st.isFile()) {
        const w = enc.createFile(name, meta, Number(st.size))
        for await (const piece of createReadStream(path, { highWaterMark: 1 << 20 })) {
          w.write(piece as Buffer)
          await flush()
        }
        const offset = w.close()
        if (st.nlink > 1n) links.set(st.ino, { offset, path: relPath })
      } else if (st.isFIFO()) {
        enc.addFifo(name, meta)
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const rdev = Number(st.rdev)
        const major = ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff)
        const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00)
        enc.addDevice(name, meta, { major, minor })
      } else if (st.isSocket()) {
        enc.addSocket(name, meta)
      }
      await flush()
    }
  }
  await walk(source, '')
  enc.finish()
  enc.close()
  await flush()
  return entries
}

/** Stores `files` (name → stream bytes) as dynamic indexes of a new snapshot; returns the snapshot. */
export async function writeSnapshot(
  store: string,
  files: Record<string, AsyncIterable<Uint8Array> | Iterable<Uint8Array>>,
  options: { crypt?: CryptConfig; time?: number; avgSize?: number } = {},
): Promise<BackupDir> {
  let ds: Datastore
  try {
    ds = await Datastore.open(store)
  } catch {
    ds = await Datastore.create(store, { prefixDirs: 'lazy' })
  }
  const dir: BackupDir = { ns: [], type: 'host', id: 'fuse-test', time: options.time ?? 1_700_000_000 }
  const w = await ds.beginSnapshot(dir)
  for (const [name, data] of Object.entries(files)) {
    const idx = await DynamicIndexFileWriter.create(w.filePath(name))
    const r = await storeDynamic(data, {
      sink: chunkStoreSink(ds.chunkStore),
      index: idx,
      crypt: options.crypt,
      collectEntries: false,
      ...(options.avgSize ? { avgSize: options.avgSize } : {}),
    })
    await idx.close()
    await w.addIndex(name, r, options.crypt ? 'encrypt' : 'none')
  }
  await w.finish()
  return dir
}
