import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { Chunker, FixedChunker } from '@pxar/chunker'
import {
  ChunkStore,
  Datastore,
  DynamicIndex,
  DynamicIndexWriter,
  decodeBlob,
  encodeBlob,
  FixedIndex,
  FixedIndexWriter,
  fromHex,
  inspectBlob,
  parseBackupTime,
  parseJson,
  toHex,
  verifySnapshot,
} from '@pxar/datastore'
import { fail, type PbsCase } from '../types.ts'
import { generate } from './gen.ts'
import { caseKey, commandOption, expectEqual } from './keys.ts'

interface ExpectedChunk {
  readonly digest: string
  readonly duplicate: boolean
  readonly start: number
  readonly end: number
  readonly raw_size: number
}

/** The case's input bytes (generator spec or `file:` input), in 1 MiB pieces. */
async function* caseInput(c: PbsCase): AsyncGenerator<Uint8Array> {
  const gen = String(c.raw.gen)
  if (gen.startsWith('file:')) {
    yield new Uint8Array(await readFile(join(c.root, gen.slice(5))))
    return
  }
  yield* generate(gen)
}

/**
 * `datastore`: store the case's input into a fresh chunk store the way the oracle does (chunk,
 * digest, encode with pinned IVs, insert, write the index with pinned uuid/ctime), compare the
 * index byte-exact and the chunk files with the mini datastore, then read the mini datastore
 * back (manifest, index, verification of every chunk).
 */
export async function datastore(c: PbsCase): Promise<void> {
  const at = c.command.indexOf('datastore')
  const archive = c.command[at + 1]
  if (at < 0 || !archive) fail('case names no archive')
  const exp = parseJson(await readFile(join(c.root, c.expected), 'utf8')) as unknown as Record<
    string,
    unknown
  >
  const expChunks = exp.chunks as readonly ExpectedChunk[]
  const key = await caseKey(c)
  const ivSeed = commandOption(c, '--iv-seed')
  const ivs =
    ivSeed === undefined ? undefined : generate(`splitmix64:${ivSeed}:${16 * (expChunks.length + 1)}`, 16)
  const uuid = fromHex(commandOption(c, '--uuid') ?? fail('no --uuid'), 16)
  const ctime = Number(commandOption(c, '--ctime') ?? fail('no --ctime'))
  const fixed = archive.endsWith('.fidx')
  const chunkSize = Number(commandOption(c, '--chunk-size') ?? 4 * 1024 * 1024)
  const cutter = fixed
    ? new FixedChunker({ chunkSize })
    : new Chunker({ avgSize: Number(commandOption(c, '--avg') ?? 4 * 1024 * 1024) })

  const tmp = await mkdtemp(join(tmpdir(), 'pxar-conformance-ds-'))
  try {
    const store = await ChunkStore.create(tmp, { prefixDirs: 'lazy' })
    const reference = join(c.root, 'datastore')
    const inputHash = createHash('sha256')
    const chunks: { digest: Uint8Array; start: number; end: number; rawSize: number; duplicate: boolean }[] =
      []
    let pending: Uint8Array[] = []
    let pos = 0
    const emit = async (parts: Uint8Array[], end: number) => {
      const data = Buffer.concat(parts)
      const digest = key ? key.computeDigest(data) : createHash('sha256').update(data).digest()
      const iv = ivs?.next().value
      const blob = encodeBlob(data, { compress: true, crypt: key, ...(iv ? { iv } : {}) })
      const { duplicate, size } = await store.insert(digest, blob)
      chunks.push({ digest, start: end - data.length, end, rawSize: size, duplicate })
    }
    for await (const piece of caseInput(c)) {
      inputHash.update(piece)
      let start = 0
      for (const cut of cutter.push(piece)) {
        pending.push(piece.subarray(start, cut))
        await emit(pending, pos + cut)
        pending = []
        start = cut
      }
      if (start < piece.length) pending.push(piece.subarray(start))
      pos += piece.length
    }
    if (cutter.finish() > 0) await emit(pending, pos)
    expectEqual('input_sha256', inputHash.digest('hex'), exp.input_sha256)
    expectEqual('input_size', pos, exp.input_size)

    let indexBytes: Uint8Array
    if (fixed) {
      const w = new FixedIndexWriter({ size: pos, chunkSize, uuid, ctime })
      for (const ch of chunks) w.addChunk(ch.start, ch.end - ch.start, ch.digest)
      indexBytes = w.finish().bytes
    } else {
      const w = new DynamicIndexWriter({ uuid, ctime })
      for (const ch of chunks) w.add(ch.end, ch.digest)
      indexBytes = w.finish().bytes
    }
    const refIndex = await readFile(join(reference, archive))
    if (Buffer.compare(Buffer.from(indexBytes), refIndex) !== 0)
      fail(`index differs from datastore/${archive}`)
    const idx = fixed ? FixedIndex.parse(refIndex) : DynamicIndex.parse(refIndex)
    const csum = toHex(idx.computeCsum().csum)
    expectEqual('index_csum', csum, exp.index_csum)
    expectEqual('count', idx.count, exp.count)
    expectEqual('size', idx.size, exp.size)
    expectEqual('uuid', toHex(idx.uuid), exp.uuid)
    expectEqual('ctime', idx.ctime, exp.ctime)
    expectEqual('file_size', refIndex.length, exp.file_size)
    expectEqual('chunk count', chunks.length, expChunks.length)

    for (const [i, ch] of chunks.entries()) {
      const e = expChunks[i]!
      const hex = toHex(ch.digest)
      expectEqual(`chunk ${i} digest`, hex, e.digest)
      expectEqual(`chunk ${i} start/end`, [ch.start, ch.end], [e.start, e.end])
      expectEqual(`chunk ${i} duplicate`, ch.duplicate, e.duplicate)
      const ours = await store.read(hex)
      const theirs = new Uint8Array(await readFile(join(reference, '.chunks', hex.slice(0, 4), hex)))
      expectEqual(`chunk ${i} stored size`, theirs.length, e.raw_size)
      // Compressed bytes may differ from libzstd 1.5.4's; uncompressed chunks must be identical.
      if (Buffer.compare(Buffer.from(ours), Buffer.from(theirs)) !== 0) {
        if (!inspectBlob(ours).compressed) fail(`chunk ${i} file differs from the reference`)
      } else expectEqual(`chunk ${i} raw_size`, ch.rawSize, e.raw_size)
      const plain = decodeBlob(theirs, { crypt: key, digest: ch.digest })
      expectEqual(`chunk ${i} length`, plain.length, ch.end - ch.start)
      expectEqual(`chunk ${i} crypt`, inspectBlob(theirs).encrypted, exp.encrypted === true)
    }

    // Read side: the mini datastore's snapshot of this archive verifies with our code.
    const ds = await Datastore.open(reference)
    const [type, id, timeText] = dirname(archive).split('/')
    const time = parseBackupTime(timeText ?? '')
    if (time === undefined || (type !== 'host' && type !== 'vm' && type !== 'ct') || !id)
      fail('bad archive path')
    const snap = { ns: [], type, id, time } as const
    const groups = await ds.listGroups()
    if (!groups.some((g) => g.type === type && g.id === id)) fail(`group ${type}/${id} not listed`)
    const m = await ds.readManifest(snap, key ? { key } : {})
    const name = archive.split('/').pop()!
    const entry = m.files.find((f) => f.filename === name) ?? fail(`${name} not in the manifest`)
    expectEqual('manifest csum', entry.csum, csum)
    expectEqual('manifest size', entry.size, idx.size)
    const v = await verifySnapshot(ds, snap, key ? { key } : {})
    if (!v.ok) fail(`verify failed: ${JSON.stringify(v.errors)}`)
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
}
