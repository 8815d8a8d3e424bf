import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { ChunkStore } from '../src/chunk-store.ts'
import { decodeBlob, encodeBlob, toHex } from '../src/index.ts'

const WORKER = fileURLToPath(new URL('./helpers/chunk-writer.ts', import.meta.url))
const dirs: string[] = []
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'pxar-chunks-'))
  dirs.push(d)
  return d
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

function runWorker(args: string[]) {
  return spawn(process.execPath, ['--import', 'tsx', '--conditions=@pxar/source', WORKER, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
}

const sha = (d: Uint8Array) => createHash('sha256').update(d).digest()

describe('ChunkStore', () => {
  it('stores the upstream test chunk at its PBS path, then reports a duplicate', async () => {
    const base = await tempDir()
    const store = await ChunkStore.create(base, { prefixDirs: 'lazy' })
    const data = Uint8Array.of(0, 1)
    const blob = encodeBlob(data, { compress: true })
    expect(toHex(blob)).toBe('42ab3807be8370a16922de360001')
    const digest = sha(data)
    expect(toHex(digest)).toBe('b413f47d13ee2fe6c845b2ee141af81de858df4ec549a58b7970bb96645bc8d2')
    expect(await store.insert(digest, blob)).toEqual({ duplicate: false, size: 14 })
    expect(await store.insert(digest, blob)).toEqual({ duplicate: true, size: 14 })
    expect(store.chunkPath(digest)).toBe(join(base, '.chunks', 'b413', toHex(digest)))
    expect(await store.exists(digest)).toBe(true)
    expect(decodeBlob(await store.read(digest))).toEqual(data)
    await expect(ChunkStore.create(base)).rejects.toMatchObject({ code: 'ERR_STORE_LAYOUT' })
    await expect(ChunkStore.open(join(base, 'nope'))).rejects.toMatchObject({ code: 'ERR_STORE_LAYOUT' })
    await expect(store.read('00'.repeat(32))).rejects.toMatchObject({ code: 'ERR_CHUNK_MISSING' })
  })

  it('creates all 65536 prefix directories like PBS', async () => {
    const base = await tempDir()
    await ChunkStore.create(base)
    const names = await readdir(join(base, '.chunks'))
    expect(names.length).toBe(65536)
    expect(names).toContain('ffff')
    expect((await stat(join(base, '.lock'))).size).toBe(0)
  })

  it('touch moves atime to now and keeps mtime', async () => {
    const base = await tempDir()
    const store = await ChunkStore.create(base, { prefixDirs: 'lazy' })
    const data = Uint8Array.of(1, 2, 3)
    const digest = sha(data)
    await store.insert(digest, encodeBlob(data))
    await utimes(store.chunkPath(digest), 1000, 2000)
    expect(await store.touch(digest)).toBe(true)
    const st = await store.stat(digest)
    expect(st?.mtimeMs).toBe(2_000_000)
    expect(Math.abs((st?.atimeMs ?? 0) - Date.now())).toBeLessThan(60_000)
    // a duplicate insert touches too
    await utimes(store.chunkPath(digest), 1000, 2000)
    await store.insert(digest, encodeBlob(data))
    expect((await store.stat(digest))!.atimeMs).toBeGreaterThan(1_000_000)
    expect(await store.touch('ab'.repeat(32))).toBe(false)
  })

  it('keeps the smaller unencrypted chunk and rejects encrypted/unencrypted collisions', async () => {
    const base = await tempDir()
    const store = await ChunkStore.create(base, { prefixDirs: 'lazy' })
    const data = new Uint8Array(4096).fill(65)
    const digest = sha(data)
    const small = encodeBlob(data, { compress: true })
    const big = encodeBlob(data)
    expect((await store.insert(digest, big)).duplicate).toBe(false)
    expect(await store.insert(digest, small)).toEqual({ duplicate: false, size: small.length })
    expect(await store.insert(digest, big)).toEqual({ duplicate: true, size: small.length })
    const enc = encodeBlob(data, { crypt: new Uint8Array(32) })
    await expect(store.insert(digest, enc)).rejects.toMatchObject({ code: 'ERR_CHUNK_DIGEST' })
  })

  it('verifies uploaded chunks when asked to', async () => {
    const base = await tempDir()
    const store = await ChunkStore.create(base, { prefixDirs: 'lazy' })
    const data = Uint8Array.of(5, 6, 7)
    const blob = encodeBlob(data)
    await expect(store.insert(sha(Uint8Array.of(1)), blob, { verify: true })).rejects.toMatchObject({
      code: 'ERR_CHUNK_DIGEST',
    })
    await expect(store.insert(sha(data), blob, { verify: true, size: 4 })).rejects.toMatchObject({
      code: 'ERR_CHUNK_DIGEST',
    })
    const badCrc = blob.slice()
    badCrc[8]! ^= 1
    await expect(store.insert(sha(data), badCrc, { verify: true })).rejects.toMatchObject({
      code: 'ERR_BLOB_CRC',
    })
    expect(await store.insert(sha(data), blob, { verify: true, size: 3 })).toEqual({
      duplicate: false,
      size: 15,
    })
  })

  it('lists chunks and ignores temp files', async () => {
    const base = await tempDir()
    const store = await ChunkStore.create(base, { prefixDirs: 'lazy' })
    const data = Uint8Array.of(9)
    const digest = sha(data)
    await store.insert(digest, encodeBlob(data))
    await writeFile(`${store.chunkPath(digest)}.tmp_abcdef`, 'partial')
    await writeFile(`${store.chunkPath(digest)}.0.bad`, 'bad')
    const listed = []
    for await (const e of store.listChunks()) listed.push(e)
    expect(listed.map((e) => [e.digest, e.bad])).toEqual([
      [toHex(digest), undefined],
      [toHex(digest), 0],
    ])
  })

  it('creates a lazy prefix directory once for many concurrent first inserts into it', async () => {
    const base = await tempDir()
    const store = await ChunkStore.create(base, { prefixDirs: 'lazy' })
    const digests = Array.from({ length: 32 }, (_, i) => {
      const d = new Uint8Array(32).fill(i + 1)
      d[0] = 0xab
      d[1] = 0xcd
      return d
    })
    const blob = encodeBlob(Uint8Array.of(1, 2, 3))
    await Promise.all(digests.map((d) => store.insert(d, blob)))
    for (const d of digests) expect(await store.exists(d)).toBe(true)
  })

  it('survives two processes inserting the same chunks concurrently', async () => {
    const base = await tempDir()
    await ChunkStore.create(base, { prefixDirs: 'lazy' })
    const results = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<string>((resolve, reject) => {
            const child = runWorker([base, 'same', '20'])
            let out = ''
            child.stdout.on('data', (d) => (out += d))
            child.on('error', reject)
            child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`worker exit ${code}`))))
          }),
      ),
    )
    expect(results).toEqual(['done\n', 'done\n'])
    const store = await ChunkStore.open(base)
    let n = 0
    for await (const e of store.listChunks()) {
      n++
      const data = decodeBlob(await store.read(e.digest))
      expect(toHex(sha(data))).toBe(e.digest)
    }
    expect(n).toBe(8)
  })

  it('a killed writer leaves no partial chunk visible', async () => {
    const base = await tempDir()
    await ChunkStore.create(base, { prefixDirs: 'lazy' })
    const child = runWorker([base, 'stream'])
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()))
    await new Promise((r) => setTimeout(r, 400 + Math.random() * 400))
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))
    const store = await ChunkStore.open(base)
    for await (const e of store.listChunks()) {
      const data = decodeBlob(await store.read(e.digest))
      expect(data.length).toBe(4 * 1024 * 1024)
      expect(toHex(sha(data))).toBe(e.digest)
    }
  })
})
