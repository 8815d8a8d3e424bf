/**
 * Local files as `ReadAt` sources, with friendly errors.
 */
import { open } from 'node:fs/promises'
import type { ReadAt } from '@pxar/codec'
import { CliError } from './errors.ts'

/** A file opened for random access. */
export interface OpenedFile extends ReadAt {
  close(): Promise<void>
}

/** Opens a file for random access; `what` names it in errors. */
export async function openReadAt(path: string, what: string): Promise<OpenedFile> {
  let fh: Awaited<ReturnType<typeof open>>
  try {
    fh = await open(path, 'r')
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === 'ENOENT')
      throw new CliError('ENOENT', `${what} ${path} does not exist`, { hint: 'check the path' })
    if (code === 'EACCES') throw new CliError('EACCES', `${what} ${path} is not readable (permission denied)`)
    throw err
  }
  const st = await fh.stat()
  if (st.isDirectory()) {
    await fh.close()
    throw new CliError('EISDIR', `${what} ${path} is a directory`, { hint: `pass the ${what} file itself` })
  }
  return {
    size: st.size,
    read: async (buf, position) => (await fh.read(buf, 0, buf.length, position)).bytesRead,
    close: () => fh.close(),
  }
}
