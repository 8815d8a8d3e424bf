/**
 * The main job: back up this repository's `packages/` tree into the default local datastore
 * (`~/.local/share/pxar/datastore`, created on first use) with `pxar-cli backup`, restore the new
 * snapshot into a temporary directory with `pxar-cli restore`, and compare the two trees.
 *
 *   pnpm demo [DIR]     (default: this repository's packages/)
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Context, runCli } from '../apps/pxar-cli/src/index.ts'

const EXCLUDES = ['node_modules', 'dist', '*.tsbuildinfo', '.turbo']

async function cli(args: string[]): Promise<string> {
  let stdout = ''
  const ctx = new Context({
    stdout: Object.assign(
      new (await import('node:stream')).Writable({
        write(chunk, _enc, cb) {
          stdout += chunk.toString()
          cb()
        },
      }),
      { isTTY: false },
    ),
  })
  console.log(`$ pxar-cli ${args.join(' ')}`)
  const code = await runCli(args, ctx)
  if (code !== 0) throw new Error(`pxar-cli ${args[0]} failed with exit code ${code}`)
  return stdout
}

async function main(): Promise<void> {
  const source = resolve(process.argv[2] ?? join(import.meta.dirname, '..', 'packages'))
  const target = await mkdtemp(join(tmpdir(), 'pxar-demo-restore-'))
  try {
    const backup = JSON.parse(
      await cli([
        'backup',
        source,
        '--backup-id',
        'pxar-demo',
        ...EXCLUDES.flatMap((e) => ['--exclude', e]),
        '--output-format',
        'json',
      ]),
    ) as {
      snapshot: string
      archives: string[]
      files: number
      bytes: number
      reusedBytes: number
      durationMs: number
    }
    console.log(
      `  snapshot ${backup.snapshot}: ${backup.files} files, ${backup.bytes} bytes, archives ${backup.archives.join(', ')}, ${backup.durationMs} ms`,
    )
    process.stdout.write(await cli(['restore', backup.snapshot, 'root.pxar', target]))
    const args = ['-r', '--no-dereference', ...EXCLUDES.flatMap((e) => ['-x', e]), source, target]
    execFileSync('diff', args, { stdio: 'inherit' })
    console.log(`diff ${source} ${target}: identical`)
    process.stdout.write(await cli(['snapshots', 'host/pxar-demo']))
  } finally {
    await rm(target, { recursive: true, force: true })
  }
}

main().catch((err) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : err}`)
  process.exitCode = 1
})
