import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { tempPathFor, writeFileAtomic } from '../src/atomic-file.ts'

describe('atomic files', () => {
  it('names temp files like PBS replace_file', () => {
    expect(tempPathFor('/s/index.json.blob')).toMatch(/^\/s\/index\.json\.tmp_[A-Za-z0-9]{6}$/)
    expect(tempPathFor(`/c/${'ab'.repeat(32)}`)).toMatch(
      new RegExp(`^/c/${'ab'.repeat(32)}\\.tmp_[A-Za-z0-9]{6}$`),
    )
  })
  it('replaces atomically, or refuses to with noReplace', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pxar-atomic-'))
    try {
      const p = join(dir, 'owner')
      await writeFileAtomic(p, 'a\n')
      await writeFileAtomic(p, 'b\n')
      expect(await readFile(p, 'utf8')).toBe('b\n')
      await expect(writeFileAtomic(p, 'c\n', { noReplace: true, fsync: true })).rejects.toMatchObject({
        code: 'ERR_STORE_IO',
      })
      expect(await readFile(p, 'utf8')).toBe('b\n')
      expect(await readdir(dir)).toEqual(['owner'])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
