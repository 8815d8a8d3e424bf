/**
 * Test helper: where the shared reference material lives. Tests read vectors from `../shared`
 * beside the repository (CI has it there too); `PXAR_SHARED_DIR` overrides the location.
 */
import { existsSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT: string = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const SHARED_DIR: string = process.env.PXAR_SHARED_DIR
  ? resolve(process.env.PXAR_SHARED_DIR)
  : resolve(REPO_ROOT, '..', 'shared')

/** Absolute path of `vectors/<sub>` in the shared folder; throws loudly if it is missing. */
export function vectorsDir(sub: string): string {
  const dir = resolve(SHARED_DIR, 'vectors', sub)
  if (!existsSync(dir)) {
    throw new Error(
      `shared vectors not found at ${dir}: check out ../shared beside the repo or set PXAR_SHARED_DIR`,
    )
  }
  return dir
}
