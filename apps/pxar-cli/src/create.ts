/**
 * Writing a local pxar archive from a directory tree, as the `pxar create` tool does: a v1
 * `.pxar`, or a v2 split archive (`.mpxar` metadata + `.ppxar` payload). The tree is read through
 * a {@link FileSystemSource} (normally @pxar/proxy's `LocalClient`) and encoded with the codec's
 * {@link Encoder}, streaming: file contents pass through in pieces, and what the encoder produces
 * is written out between calls, so memory stays bounded whatever the tree's size.
 *
 * The outputs are written to temporary files beside their destinations and renamed into place
 * only when the archive is complete; on failure the temporary files are removed.
 */
import { randomBytes } from 'node:crypto'
import { type FileHandle, open, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { BufferSink, Encoder, type LinkOffset } from '@pxar/codec'
import {
  compilePattern,
  type FileSystemSource,
  isExcluded,
  type PatternScope,
  parsePatternFile,
  type SourceEntry,
} from '@pxar/proxy'

/** Options of {@link createArchive}. */
export interface CreateArchiveOptions {
  /** Where the archive goes (a v1 `.pxar`, or the `.mpxar` of a split archive). */
  readonly archive: string
  /** With a payload output, a v2 split archive is written: file data goes here (`.ppxar`). */
  readonly payloadOutput?: string | undefined
  /** Exclude patterns (`.pxarexclude` syntax), relative to the root. */
  readonly exclude?: readonly string[]
  /** Honour `.pxarexclude` files in the tree (default true). */
  readonly pxarexclude?: boolean
  /** Store xattrs (default true). */
  readonly xattrs?: boolean
  /** Store POSIX ACLs (default true). */
  readonly acls?: boolean
  /** Store file capabilities (default true). */
  readonly fcaps?: boolean
  /** Store block and character devices (default true). */
  readonly deviceNodes?: boolean
  /** Store FIFOs (default true). */
  readonly fifos?: boolean
  /** Store sockets (default true). */
  readonly sockets?: boolean
  /** Stay on the root's file system: mount points are stored as empty directories (default true). */
  readonly oneFileSystem?: boolean
  /** Replace an existing archive (default false: an existing output is an error). */
  readonly overwrite?: boolean
  /** Aborts the run (the temporary files are removed). */
  readonly signal?: AbortSignal | undefined
  /** Entries and file bytes so far; called often, keep it cheap. */
  readonly onProgress?: (progress: Readonly<CreateProgress>) => void
  /** Each entry stored, by path relative to the root (for `--verbose` listings). */
  readonly onEntry?: (path: string) => void
  /** An entry that could not be read and was left out. */
  readonly onSkip?: (path: string, code: string, message: string) => void
}

/** Progress counters of {@link createArchive}. */
export interface CreateProgress {
  entries: number
  /** File bytes read so far. */
  bytesRead: number
}

/** Outcome of {@link createArchive}. */
export interface CreateArchiveResult {
  readonly archive: string
  readonly payloadOutput: string | undefined
  /** Entries stored, the root included. */
  readonly entries: number
  readonly files: number
  readonly dirs: number
  readonly symlinks: number
  readonly hardlinks: number
  /** Devices, FIFOs and sockets. */
  readonly special: number
  /** File data bytes stored. */
  readonly bytes: number
  /** Size of the archive file (metadata archive for split archives). */
  readonly archiveSize: number
  /** Size of the payload file (split archives). */
  readonly payloadSize: number | undefined
  /** Entries left out because they could not be read. */
  readonly skipped: number
  readonly durationMs: number
}

const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1')
const display = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString()

function joinPath(dir: Uint8Array, name: Uint8Array): Uint8Array {
  if (dir.length === 0) return name
  const out = new Uint8Array(dir.length + 1 + name.length)
  out.set(dir)
  out[dir.length] = 0x2f
  out.set(name, dir.length + 1)
  return out
}

/** errno codes of entries that vanished or cannot be read: left out, not fatal. */
const SKIPPABLE = new Set(['ENOENT', 'EACCES', 'EPERM', 'ENOTDIR', 'ELOOP', 'ESTALE'])

/** An output written to a temporary file and renamed into place by {@link TempOutput.commit}. */
class TempOutput {
  readonly path: string
  readonly temp: string
  readonly fh: FileHandle
  readonly sink = new BufferSink()
  size = 0

  private constructor(path: string, temp: string, fh: FileHandle) {
    this.path = path
    this.temp = temp
    this.fh = fh
  }

  static async open(path: string): Promise<TempOutput> {
    const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
    const fh = await open(temp, 'wx', 0o644)
    return new TempOutput(path, temp, fh)
  }

  /** Writes what the encoder queued. */
  async pump(): Promise<void> {
    const chunks = this.sink.take()
    if (chunks.length === 0) return
    let n = 0
    for (const c of chunks) n += c.length
    // writev takes at most IOV_MAX buffers at a time
    for (let i = 0; i < chunks.length; i += 512) await this.fh.writev(chunks.slice(i, i + 512))
    this.size += n
  }

  async commit(): Promise<void> {
    await this.fh.sync()
    await this.fh.close()
    await rename(this.temp, this.path)
  }

  async discard(): Promise<void> {
    await this.fh.close().catch(() => {})
    await unlink(this.temp).catch(() => {})
  }
}

async function refuseExisting(path: string): Promise<void> {
  const fh = await open(path, 'r').catch((err: { code?: string }) => {
    if (err.code === 'ENOENT') return undefined
    throw err
  })
  if (!fh) return
  await fh.close()
  const err = new Error(`${path} already exists`) as Error & { code: string; path: string }
  err.code = 'EEXIST'
  err.path = path
  throw err
}

/**
 * Encodes the tree of `source` into a local archive (see the module comment).
 * @throws `EEXIST` (an `Error` with `code`) when an output exists and `overwrite` is not set;
 *   `PxarError` from the source for a root that cannot be read; fs errors from writing.
 * @example
 * ```ts
 * const r = await createArchive(new LocalClient('/etc'), { archive: 'etc.pxar' })
 * console.log(r.files, r.archiveSize)
 * ```
 */
export async function createArchive(
  source: FileSystemSource,
  options: CreateArchiveOptions,
): Promise<CreateArchiveResult> {
  const started = Date.now()
  if (!options.overwrite) {
    await refuseExisting(options.archive)
    if (options.payloadOutput !== undefined) await refuseExisting(options.payloadOutput)
  }
  const listOpts = {
    xattrs: options.xattrs ?? true,
    acls: options.acls ?? true,
    fcaps: options.fcaps ?? true,
  }
  const root = await source.stat(new Uint8Array(0), listOpts)
  const meta = await TempOutput.open(options.archive)
  let payload: TempOutput | undefined
  try {
    if (options.payloadOutput !== undefined) payload = await TempOutput.open(options.payloadOutput)
    // our own outputs may lie inside the tree: never archive them
    const own = new Set<string>()
    for (const o of [meta, payload]) {
      if (!o) continue
      const st = await o.fh.stat({ bigint: true })
      own.add(`${st.dev}:${st.ino}`)
    }

    const enc = new Encoder(meta.sink, root.metadata, payload ? { payload: payload.sink } : {})
    const progress: CreateProgress = { entries: 1, bytesRead: 0 }
    const report = (): void => options.onProgress?.(progress)
    const pump = async (): Promise<void> => {
      await meta.pump()
      await payload?.pump()
    }
    const counts = { files: 0, dirs: 1, symlinks: 0, hardlinks: 0, special: 0, bytes: 0, skipped: 0 }
    const skip = (path: Uint8Array, code: string, message: string): void => {
      counts.skipped++
      options.onSkip?.(display(path), code, message)
    }
    const links = new Map<string, { path: Uint8Array; link: LinkOffset }>()
    const scopes: PatternScope[] = [
      {
        base: '',
        patterns: (options.exclude ?? []).flatMap((p) => {
          const c = compilePattern(Buffer.from(p, 'utf8').toString('latin1'))
          return c ? [c] : []
        }),
      },
    ]
    const oneFs = options.oneFileSystem ?? true

    const addFile = async (path: Uint8Array, entry: SourceEntry): Promise<void> => {
      const key = entry.nlink > 1 ? `${entry.dev}:${entry.ino}` : undefined
      if (key) {
        const seen = links.get(key)
        if (seen) {
          enc.addHardlink(entry.name, seen.path, seen.link)
          counts.hardlinks++
          return
        }
      }
      // open the content before the entry is written: an unreadable file is left out
      const it = source.readFile(path, 0, entry.size)[Symbol.asyncIterator]()
      let first: IteratorResult<Uint8Array> | undefined
      try {
        first = await it.next()
      } catch (err) {
        const code = (err as { code?: string }).code ?? ''
        if (!SKIPPABLE.has(code)) throw err
        skip(path, code, (err as Error).message)
        return
      }
      const fw = enc.createFile(entry.name, entry.metadata, entry.size)
      let left = entry.size
      try {
        for (;;) {
          const next: IteratorResult<Uint8Array> = first ?? (await it.next())
          first = undefined
          if (next.done) break
          const piece = next.value.length > left ? next.value.subarray(0, left) : next.value
          options.signal?.throwIfAborted()
          if (piece.length > 0) {
            fw.write(piece)
            left -= piece.length
            progress.bytesRead += piece.length
            await pump()
            report()
          }
          if (left === 0) break
        }
      } finally {
        await it.return?.()
      }
      if (left > 0) {
        // the file shrank while it was read: the entry announced its size, pad with zeros
        options.onSkip?.(display(path), 'ESHRUNK', `file shrank by ${left} bytes while reading`)
        const zeros = new Uint8Array(Math.min(left, 1 << 20))
        while (left > 0) {
          const n = Math.min(left, zeros.length)
          fw.write(zeros.subarray(0, n))
          left -= n
          await pump()
        }
      }
      const link = fw.close()
      counts.files++
      counts.bytes += entry.size
      if (key) links.set(key, { path, link })
    }

    const walk = async (dirPath: Uint8Array): Promise<void> => {
      let listing: Awaited<ReturnType<FileSystemSource['listDir']>>
      try {
        listing = await source.listDir(dirPath, listOpts)
      } catch (err) {
        const e = err as { code?: string; message?: string }
        skip(dirPath, e.code ?? 'EIO', e.message ?? String(err))
        return
      }
      for (const s of listing.skipped) skip(s.path, s.code, s.message)
      let pushedScope = false
      if (options.pxarexclude ?? true) {
        const ex = listing.entries.find((e) => e.kind === 'file' && latin1(e.name) === '.pxarexclude')
        if (ex) {
          const parts: Uint8Array[] = []
          for await (const p of source.readFile(joinPath(dirPath, ex.name), 0, Math.min(ex.size, 1 << 20)))
            parts.push(p)
          scopes.push({
            base: latin1(dirPath),
            patterns: parsePatternFile(Buffer.concat(parts).toString('latin1')),
          })
          pushedScope = true
        }
      }
      for (const entry of listing.entries) {
        options.signal?.throwIfAborted()
        const path = joinPath(dirPath, entry.name)
        if (own.has(`${entry.dev}:${entry.ino}`)) continue
        if (isExcluded(scopes, latin1(path), entry.kind === 'directory')) continue
        if (
          ((entry.kind === 'block-device' || entry.kind === 'char-device') &&
            options.deviceNodes === false) ||
          (entry.kind === 'fifo' && options.fifos === false) ||
          (entry.kind === 'socket' && options.sockets === false)
        )
          continue
        options.onEntry?.(display(path))
        switch (entry.kind) {
          case 'directory':
            counts.dirs++
            enc.createDirectory(entry.name, entry.metadata)
            if (!oneFs || entry.dev === root.dev) await walk(path)
            enc.finish()
            break
          case 'file':
            await addFile(path, entry)
            break
          case 'symlink':
            counts.symlinks++
            enc.addSymlink(entry.name, entry.metadata, entry.linkTarget ?? new Uint8Array(0))
            break
          case 'block-device':
          case 'char-device':
            if (options.deviceNodes === false) continue
            counts.special++
            enc.addDevice(entry.name, entry.metadata, entry.rdev ?? { major: 0, minor: 0 })
            break
          case 'fifo':
            if (options.fifos === false) continue
            counts.special++
            enc.addFifo(entry.name, entry.metadata)
            break
          case 'socket':
            if (options.sockets === false) continue
            counts.special++
            enc.addSocket(entry.name, entry.metadata)
            break
        }
        progress.entries++
        await pump()
        report()
      }
      if (pushedScope) scopes.pop()
    }

    await walk(new Uint8Array(0))
    enc.finish()
    enc.close()
    await pump()
    // the payload first: the metadata archive is what points into it
    await payload?.commit()
    await meta.commit()
    report()
    return {
      archive: options.archive,
      payloadOutput: options.payloadOutput,
      entries: progress.entries,
      ...counts,
      archiveSize: meta.size,
      payloadSize: payload?.size,
      durationMs: Date.now() - started,
    }
  } catch (err) {
    await meta.discard()
    await payload?.discard()
    throw err
  }
}
