/**
 * The main job until the CLI lands: encode a directory tree into a pxar archive (streaming to
 * disk), list it back with the sequential decoder, and look an entry up with the random-access
 * accessor.
 *
 *   pnpm demo [DIR] [ARCHIVE]     (defaults: this repository's packages/, a temp file)
 */
import { createReadStream } from 'node:fs'
import { lstat, mkdir, open, readdir, readlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Accessor, BufferSink, decode, drain, Encoder, type ReadAt } from '@pxar/codec'
import { type Metadata, MetadataBuilder } from '@pxar/format'

const SKIP = new Set(['node_modules', 'dist', '.git', '.turbo'])

function metadataOf(st: import('node:fs').BigIntStats): Metadata {
  return new MetadataBuilder(Number(st.mode))
    .owner(Number(st.uid), Number(st.gid))
    .mtime(st.mtimeNs / 1_000_000_000n, Number(st.mtimeNs % 1_000_000_000n))
    .build()
}

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))

async function encodeTree(source: string, archive: string): Promise<{ entries: number; bytes: number }> {
  const out = await open(archive, 'w')
  const sink = new BufferSink()
  const flush = () => drain(sink, (c) => out.write(c))
  let entries = 1
  try {
    const enc = new Encoder(sink, metadataOf(await lstat(source, { bigint: true })))
    const walk = async (dir: string): Promise<void> => {
      for (const name of (await readdir(dir)).sort(byBytes)) {
        if (SKIP.has(name)) continue
        const path = join(dir, name)
        const st = await lstat(path, { bigint: true })
        const meta = metadataOf(st)
        entries++
        if (st.isDirectory()) {
          enc.createDirectory(name, meta)
          await walk(path)
          enc.finish()
        } else if (st.isSymbolicLink()) {
          enc.addSymlink(name, meta, await readlink(path))
        } else if (st.isFile()) {
          const w = enc.createFile(name, meta, Number(st.size))
          for await (const piece of createReadStream(path, { highWaterMark: 1 << 20 })) {
            w.write(piece as Buffer)
            await flush()
          }
          w.close()
        }
        await flush()
      }
    }
    await walk(source)
    enc.finish()
    enc.close()
    await flush()
    return { entries, bytes: sink.total }
  } finally {
    await out.close()
  }
}

async function main(): Promise<void> {
  const source = resolve(process.argv[2] ?? join(import.meta.dirname, '..', 'packages'))
  const outDir = join(tmpdir(), 'pxar-demo')
  await mkdir(outDir, { recursive: true })
  const archive = resolve(process.argv[3] ?? join(outDir, 'demo.pxar'))

  const t0 = performance.now()
  const { entries, bytes } = await encodeTree(source, archive)
  const t1 = performance.now()
  console.log(
    `encoded ${source} -> ${archive}: ${entries} entries, ${bytes} bytes in ${(t1 - t0).toFixed(0)} ms`,
  )

  let listed = 0
  for await (const e of decode(createReadStream(archive))) {
    if (listed < 15)
      console.log(
        `  ${e.kind.padEnd(9)} ${e.pathString}${e.fileSize !== undefined ? ` (${e.fileSize} bytes)` : ''}`,
      )
    listed++
    if (e.content) for await (const _ of e.content);
  }
  console.log(`  … ${listed} entries decoded in ${(performance.now() - t1).toFixed(0)} ms`)

  const fh = await open(archive, 'r')
  try {
    const size = (await fh.stat()).size
    const readAt: ReadAt = {
      size,
      read: async (buf, position) => (await fh.read(buf, 0, buf.length, position)).bytesRead,
    }
    const accessor = new Accessor(readAt)
    const root = await accessor.root()
    const names: string[] = []
    for await (const child of accessor.readDir(root)) names.push(child.pathString)
    console.log(
      `accessor: root holds ${names.length} entries; lookup(${names[0]}) ->`,
      (await accessor.lookup(names[0] ?? '/'))?.kind,
    )
  } finally {
    await fh.close()
  }
}

main().catch((err) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : err}`)
  process.exitCode = 1
})
