/** Runs the README's first example (it mounts, so it runs in a child process, asynchronously). */
import { exec } from 'node:child_process'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'

it('README example mounts an archive and reads through it', async () => {
  const pkg = join(import.meta.dirname, '..')
  const readme = await readFile(join(pkg, 'README.md'), 'utf8')
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1]
  expect(code).toBeDefined()
  // inside the package so that `@pxar/fuse` resolves to itself
  const file = join(pkg, 'test', `.readme-example-${process.pid}.ts`)
  await writeFile(file, code!)
  try {
    const { stdout } = await promisify(exec)(`pnpm exec tsx --conditions=@pxar/source ${file}`, { cwd: pkg })
    expect(stdout.trim()).toBe('hello')
  } finally {
    await rm(file, { force: true })
  }
})
