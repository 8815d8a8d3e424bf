/**
 * Atomic file replacement as PBS does it (`proxmox-sys` `replace_file`): write a temp file in
 * the same directory, whose name is the target with its last extension replaced by
 * `tmp_XXXXXX`, then rename it over the target. Readers see either the old file or the whole
 * new one, never a partial file; a crash leaves at most a `*.tmp_*` file behind.
 */
import { randomBytes } from 'node:crypto'
import { type FileHandle, link, open, rename, unlink } from 'node:fs/promises'
import { basename, dirname, extname, join } from 'node:path'
import { PxarError } from '@pxar/format'

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** The temp name PBS would use for `target`: `index.json.blob` → `index.json.tmp_Ab3dEf`. */
export function tempPathFor(target: string): string {
  const rnd = Array.from(randomBytes(6), (b) => ALNUM[b % ALNUM.length]).join('')
  const name = basename(target)
  const ext = extname(name)
  const stem = ext && ext !== name ? name.slice(0, -ext.length) : name
  return join(dirname(target), `${stem}.tmp_${rnd}`)
}

/** Options of {@link writeFileAtomic}. */
export interface WriteFileAtomicOptions {
  /** fsync the file before the rename and the directory after it. Default false. */
  readonly fsync?: boolean
  /** File mode of the new file. Default 0o644. */
  readonly mode?: number
  /** Fail with `ERR_STORE_IO` (code EEXIST in the cause) instead of replacing an existing target. */
  readonly noReplace?: boolean
}

/** Wraps a Node I/O error. */
export function ioError(what: string, cause: unknown): PxarError {
  const code = (cause as { code?: string } | undefined)?.code
  return new PxarError('ERR_STORE_IO', `${what}: ${code ?? String(cause)}`, { cause })
}

/**
 * Writes `data` to `target` atomically (temp file + rename).
 *
 * @throws PxarError `ERR_STORE_IO` on any I/O failure (the temp file is removed).
 */
export async function writeFileAtomic(
  target: string,
  data: Uint8Array | string,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  const tmp = tempPathFor(target)
  let fh: FileHandle | undefined
  try {
    fh = await open(tmp, 'wx', options.mode ?? 0o644)
    await fh.writeFile(data)
    if (options.fsync) await fh.sync()
    await fh.close()
    fh = undefined
    if (options.noReplace) {
      // link() fails if the target exists, so the first writer wins without a window
      await link(tmp, target)
      await unlink(tmp)
    } else {
      await rename(tmp, target)
    }
    if (options.fsync) await syncDir(dirname(target))
  } catch (err) {
    await fh?.close().catch(() => {})
    await unlink(tmp).catch(() => {})
    throw ioError(`unable to write ${target}`, err)
  }
}

/** fsyncs a directory (makes a rename durable). */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}
