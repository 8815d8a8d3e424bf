/**
 * Real mounts of every source kind, compared with the source tree from outside this process
 * with shell tools. Needs /dev/fuse, libfuse2 and fusermount (scripts/bootstrap.sh installs them)
 * and root (device nodes, trusted.* xattrs); without them the suite fails loudly.
 */
import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { access, mkdir, mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CryptConfig } from '@pxar/datastore'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BackupWriter, PbsClient, PbsReader } from '../../pbs-client/src/index.ts'
import { type RunningServer, startServer } from '../../server/src/index.ts'
import { isMounted, type Mounted, type MountSource, mount, mountAndWait } from '../src/index.ts'
import { encodeTree, makeTree, q, SPECIAL, sh, shTry, writeSnapshot } from './tree.ts'

const BIG = 5 * 1024 * 1024 + 12345

let work: string
let src: string
let fuseProblem: string | undefined
const mounts: string[] = []
let server: RunningServer | undefined
const TOKEN_ID = 'root@pam!fuse'
const TOKEN_SECRET = 'c0ffee00-1111-4222-8333-944445555666'
const PBS_SNAPSHOT = { ns: [] as string[], type: 'host' as const, id: 'fuse-pbs', time: 1_700_000_100 }
const PBS_ENC_SNAPSHOT = { ...PBS_SNAPSHOT, id: 'fuse-pbs-enc' }

function pbsClient(): PbsClient {
  if (!server) throw new Error('no server')
  return new PbsClient({
    host: '127.0.0.1',
    port: server.port,
    authId: TOKEN_ID,
    password: TOKEN_SECRET,
    fingerprint: server.fingerprint,
  })
}

async function fileSink(
  path: string,
): Promise<{ write: (c: Uint8Array) => Promise<unknown>; close: () => Promise<void> }> {
  const fh = await open(path, 'w')
  return { write: (c) => fh.write(c), close: () => fh.close() }
}

beforeAll(async () => {
  try {
    await access('/dev/fuse')
  } catch {
    fuseProblem = '/dev/fuse is missing: these tests need FUSE (modprobe fuse, or --device /dev/fuse)'
  }
  if (process.getuid?.() !== 0)
    fuseProblem ??= 'the FUSE mount tests must run as root (device nodes, trusted xattrs)'
  if ((await shTry('command -v fusermount && command -v setfattr && command -v getfacl')).code !== 0) {
    fuseProblem ??= 'fusermount, setfattr or getfacl missing: install fuse3 attr acl (scripts/bootstrap.sh)'
  }
  if (fuseProblem) return
  work = await mkdtemp(join(tmpdir(), 'pxar-fuse-'))
  src = join(work, 'src')
  await mkdir(src)
  await makeTree(src, BIG)
  const v1 = await fileSink(join(work, 'tree.pxar'))
  await encodeTree(src, { out: v1.write })
  await v1.close()
  const m = await fileSink(join(work, 'tree.mpxar'))
  const p = await fileSink(join(work, 'tree.ppxar'))
  await encodeTree(src, { out: m.write, payload: p.write })
  await m.close()
  await p.close()
  await writeSnapshot(
    join(work, 'store'),
    {
      'root.mpxar.didx': createReadStream(join(work, 'tree.mpxar')),
      'root.ppxar.didx': createReadStream(join(work, 'tree.ppxar')),
    },
    { avgSize: 64 * 1024 },
  )
  await writeSnapshot(
    join(work, 'store-enc'),
    { 'root.pxar.didx': createReadStream(join(work, 'tree.pxar')) },
    { crypt: cryptKey, avgSize: 64 * 1024 },
  )
  // a PBS-compatible server on the loopback: a plain v1 snapshot and an encrypted split one
  server = await startServer({
    datastore: join(work, 'pbs-store'),
    listen: '127.0.0.1:0',
    tokens: { [TOKEN_ID]: TOKEN_SECRET },
    certDir: join(work, 'pbs-cert'),
    authFailureDelayMs: 0,
  })
  const plain = await BackupWriter.start(pbsClient(), server.name, PBS_SNAPSHOT, { workers: 1 })
  await plain.uploadArchive('root.pxar.didx', createReadStream(join(work, 'tree.pxar')), {
    avgSize: 64 * 1024,
  })
  await plain.finish()
  const enc = await BackupWriter.start(pbsClient(), server.name, PBS_ENC_SNAPSHOT, {
    workers: 1,
    crypt: cryptKey,
  })
  await enc.uploadArchive('root.mpxar.didx', createReadStream(join(work, 'tree.mpxar')), {
    avgSize: 64 * 1024,
  })
  await enc.uploadArchive('root.ppxar.didx', createReadStream(join(work, 'tree.ppxar')), {
    avgSize: 64 * 1024,
  })
  await enc.finish()
}, 300_000)

const cryptKey = new CryptConfig(randomBytes(32))

afterAll(async () => {
  await server?.stop()
  for (const mp of mounts) if (await isMounted(mp)) await shTry(`fusermount -u -z ${q(mp)}`)
  if (work) await rm(work, { recursive: true, force: true })
})

function requireFuse(): void {
  if (fuseProblem) throw new Error(`FUSE UNAVAILABLE — mount tests cannot run: ${fuseProblem}`)
}

/** Sorts the lines inside each `# file:` block of getfattr output (attribute order is not defined). */
function normalizeXattrDump(text: string): string {
  return text
    .split('\n\n')
    .map((block) => {
      const lines = block.split('\n').filter((l) => l !== '')
      return [lines[0], ...lines.slice(1).sort()].join('\n')
    })
    .sort()
    .join('\n\n')
}

/** `find -printf '%T@'` with the fraction cut to milliseconds (fuse-native carries no more). */
function msTimes(text: string): string {
  return text.replace(/\|(-?\d+)\.(\d{3})\d*$/gm, '|$1.$2')
}

async function compare(mnt: string): Promise<void> {
  const both = async (cmd: string): Promise<[string, string]> => [
    await sh(`cd ${q(src)} && ${cmd}`),
    await sh(`cd ${q(mnt)} && ${cmd}`),
  ]
  // contents of regular files, directory structure and symlink targets
  const diff = await shTry(
    `diff -r --no-dereference ${SPECIAL.map((s) => `-x ${s}`).join(' ')} ${q(src)} ${q(mnt)}`,
  )
  expect(diff.stdout + diff.stderr).toBe('')
  expect(diff.code).toBe(0)
  // type, permissions, owner, link count, symlink target
  const [a, b] = await both(`find . -printf '%p|%M|%U|%G|%n|%y|%l\\n' | sort`)
  expect(b).toBe(a)
  // sizes of everything but directories
  const [sa, sb] = await both(`find . ! -type d -printf '%p|%s\\n' | sort`)
  expect(sb).toBe(sa)
  // modification times (milliseconds)
  const [ta, tb] = await both(`find . -printf '%p|%T@\\n' | sort`)
  expect(msTimes(tb)).toBe(msTimes(ta))
  // device numbers
  const [da, db] = await both(`stat -c '%n %F %t %T' null-dev loop-dev fifo`)
  expect(db).toBe(da)
  // xattrs (incl. ACL and capability xattrs in the kernel's binary format)
  const [xa, xb] = await both('getfattr -R -h -d -m - -e hex . 2>/dev/null')
  expect(normalizeXattrDump(xb)).toBe(normalizeXattrDump(xa))
  expect(xb).toContain('security.capability=0x0100000200040000')
  // ACLs
  const [aa, ab] = await both('getfacl -R -n -p . 2>/dev/null')
  // (blocks sorted: -R follows each directory's listing order, which is the archive's)
  const blocks = (t: string): string => t.split('\n\n').sort().join('\n\n')
  expect(blocks(ab)).toBe(blocks(aa))
  expect(ab).toContain('default:user:1002:r-x')
  // symlinks
  const [la, lb] = await both('readlink link-to-hello sub/dangling')
  expect(lb).toBe(la)
  // the large file, read through the kernel
  const [ha, hb] = await both('cat big.bin | sha256sum')
  expect(hb).toBe(ha)
  const [ca, cb] = await both('find . | wc -l')
  expect(cb).toBe(ca)
  // hardlinks share one inode with the real link count; other inodes differ
  const links = (await sh(`cd ${q(mnt)} && stat -c '%i %h' linked linked-3 sub/linked-2`)).trim().split('\n')
  expect(new Set(links).size).toBe(1)
  expect(links[0]).toMatch(/ 3$/)
  const inos = (await sh(`cd ${q(mnt)} && find . -printf '%i\\n' | sort -u | wc -l`)).trim()
  const [na, nb] = await both(`find . -printf '%i\\n' | sort -u | wc -l`)
  expect(nb).toBe(na)
  expect(Number(inos)).toBeGreaterThan(10)
  // writes are refused
  for (const cmd of [
    'touch new-file',
    'echo x >> hello.txt',
    'mkdir new-dir',
    'rm hello.txt',
    'mv hello.txt moved',
    'ln -s x new-link',
    'chmod 600 hello.txt',
    'setfattr -n user.new -v 1 hello.txt',
    'truncate -s 0 hello.txt',
  ]) {
    const r = await shTry(`cd ${q(mnt)} && ${cmd}`)
    expect(r.code, cmd).not.toBe(0)
    expect(r.stderr, cmd).toMatch(/Read-only file system/)
  }
  const fsType = await sh(`stat -f -c %T ${q(mnt)}`)
  expect(fsType.trim()).toMatch(/fuse/)
}

async function mountAndCompare(source: MountSource): Promise<void> {
  requireFuse()
  const mnt = await mkdtemp(join(work, 'mnt-'))
  mounts.push(mnt)
  let m: Mounted | undefined
  try {
    m = await mount({ source, mountpoint: mnt })
    expect(await isMounted(mnt)).toBe(true)
    await compare(mnt)
  } finally {
    if (m) await m.unmount()
    else if (await isMounted(mnt)) await shTry(`fusermount -u -z ${q(mnt)}`)
  }
  expect(await isMounted(mnt)).toBe(false)
  expect(await sh('cat /proc/mounts')).not.toContain(mnt)
  expect(m?.filesystem.openFiles).toBe(0)
}

// real mounts and child processes on a shared, loaded machine: generous limits
describe('mount (real FUSE)', { timeout: 240_000 }, () => {
  it('mounts a .pxar file', async () => {
    await mountAndCompare({ kind: 'pxar', path: join(work, 'tree.pxar') })
  })

  it('mounts a split .mpxar + .ppxar pair', async () => {
    await mountAndCompare({ kind: 'split', metadata: join(work, 'tree.mpxar') })
  })

  it('mounts a split archive from a datastore snapshot', async () => {
    await mountAndCompare({
      kind: 'datastore',
      store: join(work, 'store'),
      snapshot: { ns: [], type: 'host', id: 'fuse-test', time: 1_700_000_000 },
      archive: 'root.mpxar.didx',
    })
  })

  it('mounts an encrypted datastore snapshot with its key', async () => {
    await mountAndCompare({
      kind: 'datastore',
      store: join(work, 'store-enc'),
      snapshot: { ns: [], type: 'host', id: 'fuse-test', time: 1_700_000_000 },
      archive: 'root.pxar',
      crypt: cryptKey,
    })
  })

  it('mounts an archive of a snapshot on a PBS server (reader protocol)', async () => {
    requireFuse()
    const reader = await PbsReader.open(pbsClient(), server!.name, PBS_SNAPSHOT)
    await mountAndCompare({ kind: 'pbs', reader, archive: 'root.pxar.didx' })
    // the session was closed on unmount
    await expect(reader.openIndex('root.pxar.didx')).rejects.toThrow()
  })

  it('mounts an encrypted split archive of a PBS snapshot with its key', async () => {
    requireFuse()
    const reader = await PbsReader.open(pbsClient(), server!.name, PBS_ENC_SNAPSHOT, { crypt: cryptKey })
    await mountAndCompare({ kind: 'pbs', reader, archive: 'root.mpxar', crypt: cryptKey })
    expect(reader.stats.chunkDownloads).toBeGreaterThan(0)
  })

  it('refuses a PBS snapshot with a wrong key, none, or a missing archive, leaving nothing mounted', async () => {
    requireFuse()
    const mnt = await mkdtemp(join(work, 'mnt-'))
    const wrong = new CryptConfig(randomBytes(32))
    const r1 = await PbsReader.open(pbsClient(), server!.name, PBS_ENC_SNAPSHOT, { crypt: wrong })
    await expect(
      mount({ source: { kind: 'pbs', reader: r1, archive: 'root.mpxar', crypt: wrong }, mountpoint: mnt }),
    ).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_(MANIFEST|KEY|BLOB)_/) })
    const r2 = await PbsReader.open(pbsClient(), server!.name, PBS_ENC_SNAPSHOT)
    await expect(
      mount({ source: { kind: 'pbs', reader: r2, archive: 'root.mpxar' }, mountpoint: mnt }),
    ).rejects.toMatchObject({ code: 'ERR_MANIFEST_FINGERPRINT', message: expect.stringMatching(/key/) })
    const r3 = await PbsReader.open(pbsClient(), server!.name, PBS_SNAPSHOT)
    await expect(
      mount({ source: { kind: 'pbs', reader: r3, archive: 'other.pxar' }, mountpoint: mnt }),
    ).rejects.toMatchObject({ code: 'ERR_SNAPSHOT_NOT_FOUND' })
    expect(await isMounted(mnt)).toBe(false)
  })

  it('fails clearly on a missing, non-directory or busy mountpoint', async () => {
    requireFuse()
    const source: MountSource = { kind: 'pxar', path: join(work, 'tree.pxar') }
    await expect(mount({ source, mountpoint: join(work, 'nope') })).rejects.toMatchObject({
      code: 'ERR_FUSE_MOUNT',
      message: expect.stringMatching(/does not exist/),
    })
    await expect(mount({ source, mountpoint: join(work, 'tree.pxar') })).rejects.toMatchObject({
      code: 'ERR_FUSE_MOUNT',
      message: expect.stringMatching(/not a directory/),
    })
    const mnt = await mkdtemp(join(work, 'mnt-'))
    mounts.push(mnt)
    const m = await mount({ source, mountpoint: mnt })
    try {
      await expect(mount({ source, mountpoint: mnt })).rejects.toMatchObject({
        code: 'ERR_FUSE_MOUNT',
        message: expect.stringMatching(/busy/),
      })
    } finally {
      await m.unmount()
    }
    expect(await isMounted(mnt)).toBe(false)
  })

  it('raises the kernel read-ahead of the mount (1024 KiB by default)', async () => {
    requireFuse()
    const source: MountSource = { kind: 'pxar', path: join(work, 'tree.pxar') }
    for (const [readAheadKb, expected] of [
      [undefined, '1024'],
      [4096, '4096'],
    ] as const) {
      const mnt = await mkdtemp(join(work, 'mnt-'))
      mounts.push(mnt)
      const m = await mount({ source, mountpoint: mnt, ...(readAheadKb ? { readAheadKb } : {}) })
      try {
        const dev = (await sh(`mountpoint -d ${q(mnt)}`)).trim()
        expect((await sh(`cat /sys/class/bdi/${dev}/read_ahead_kb`)).trim()).toBe(expected)
      } finally {
        await m.unmount()
      }
    }
    await expect(mount({ source, mountpoint: work, readAheadKb: -1 })).rejects.toThrow(RangeError)
  })

  it('fails with ERR_FUSE_UNAVAILABLE when the FUSE device is missing', async () => {
    requireFuse()
    const mnt = await mkdtemp(join(work, 'mnt-'))
    await expect(
      mount({
        source: { kind: 'pxar', path: join(work, 'tree.pxar') },
        mountpoint: mnt,
        fuseDevice: join(work, 'no-fuse'),
      }),
    ).rejects.toMatchObject({ code: 'ERR_FUSE_UNAVAILABLE' })
    expect(await isMounted(mnt)).toBe(false)
  })

  it('refuses an encrypted snapshot with a wrong key or none, leaving nothing mounted', async () => {
    requireFuse()
    const mnt = await mkdtemp(join(work, 'mnt-'))
    const base = {
      kind: 'datastore',
      store: join(work, 'store-enc'),
      snapshot: { ns: [], type: 'host', id: 'fuse-test', time: 1_700_000_000 },
      archive: 'root.pxar',
    } as const
    await expect(
      mount({ source: { ...base, crypt: new CryptConfig(randomBytes(32)) }, mountpoint: mnt }),
    ).rejects.toMatchObject({
      code: expect.stringMatching(/^ERR_(BLOB_DECRYPT|PXAR_IO|CHUNK_DIGEST)$/),
    })
    await expect(mount({ source: base, mountpoint: mnt })).rejects.toMatchObject({
      code: expect.stringMatching(/^ERR_(BLOB_NO_KEY|PXAR_IO)$/),
    })
    expect(await isMounted(mnt)).toBe(false)
  })

  it('mountAndWait returns after an abort or an unmount from outside', async () => {
    requireFuse()
    const mnt = await mkdtemp(join(work, 'mnt-'))
    mounts.push(mnt)
    const source: MountSource = { kind: 'pxar', path: join(work, 'tree.pxar') }
    const ac = new AbortController()
    const waiting = mountAndWait({
      source,
      mountpoint: mnt,
      signal: ac.signal,
      signals: [],
      onMounted: () => {
        sh(`cat ${q(join(mnt, 'hello.txt'))}`).then((text) => {
          expect(text).toBe('hello world\n')
          ac.abort()
        })
      },
    })
    await waiting
    expect(await isMounted(mnt)).toBe(false)
    const again = mountAndWait({
      source,
      mountpoint: mnt,
      signals: [],
      pollInterval: 50,
      onMounted: () => {
        void shTry(`fusermount -u ${q(mnt)}`)
      },
    })
    await again
    expect(await isMounted(mnt)).toBe(false)
  })
})
