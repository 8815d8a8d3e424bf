/**
 * Runs the examples of a package README, so that they keep working: every fenced block opened
 * with ```` ```ts runnable ```` is written into the package (so that the package's own name and
 * its dependencies resolve as they would for a user) and run with tsx in an empty temporary
 * working directory. When the block is directly followed by a ```` ```text ```` block, that is
 * the output the example must print.
 *
 * Used by the `test/readme.test.ts` of each package.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'

/** tsx's loader, resolved from the repository root (examples run in an empty directory). */
const TSX = import.meta.resolve('tsx')

/** One runnable example of a README. */
export interface ReadmeExample {
  /** 1-based line of the opening fence. */
  readonly line: number
  readonly code: string
  /** The ```text block right after it: what the example prints. */
  readonly output: string | undefined
}

/** The ```ts runnable blocks of a README, with their expected output. */
export function runnableExamples(markdown: string): ReadmeExample[] {
  const lines = markdown.split('\n')
  const out: ReadmeExample[] = []
  const block = (start: number): { body: string; end: number } => {
    let end = start + 1
    while (end < lines.length && !/^```\s*$/.test(lines[end] ?? '')) end++
    return { body: lines.slice(start + 1, end).join('\n'), end }
  }
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s+runnable\s*$/.test(lines[i] ?? '')) continue
    const line = i + 1
    const { body, end } = block(i)
    let j = end + 1
    while (j < lines.length && (lines[j] ?? '').trim() === '') j++
    let output: string | undefined
    if (/^```text\s*$/.test(lines[j] ?? '')) {
      const o = block(j)
      output = `${o.body}\n`
      i = o.end
    } else i = end
    out.push({ line, code: `${body}\n`, output })
  }
  return out
}

/** What running an example printed. */
export interface ExampleRun {
  readonly example: ReadmeExample
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs every runnable example of `<packageDir>/README.md` (see the module comment).
 * @throws when the README has no runnable example or an example fails (exit code non-zero).
 */
export async function runReadmeExamples(packageDir: string): Promise<ExampleRun[]> {
  const dir = resolve(packageDir)
  const readme = await readFile(join(dir, 'README.md'), 'utf8')
  const examples = runnableExamples(readme)
  if (examples.length === 0) throw new Error(`${packageDir}/README.md has no \`\`\`ts runnable example`)
  const runs: ExampleRun[] = []
  for (const [n, example] of examples.entries()) {
    const file = join(dir, `.readme-example-${process.pid}-${n}.ts`)
    const cwd = await mkdtemp(join(tmpdir(), 'pxar-readme-'))
    await writeFile(file, example.code)
    try {
      const { stdout, stderr } = await promisify(execFile)(
        process.execPath,
        ['--import', TSX, '--conditions=@pxar/source', file],
        { cwd, timeout: 120_000, maxBuffer: 16 << 20, env: { ...process.env, NO_COLOR: '1' } },
      ).catch((err: { stdout?: string; stderr?: string; message: string }) => {
        throw new Error(
          `README example at line ${example.line} failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`,
        )
      })
      runs.push({ example, stdout, stderr })
    } finally {
      await rm(file, { force: true })
      await rm(cwd, { recursive: true, force: true })
    }
  }
  return runs
}

// `tsx scripts/readme-examples.ts DIR…`: run the examples and print their output (to write the
// ```text blocks).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const dir of process.argv.slice(2)) {
    for (const r of await runReadmeExamples(dir)) {
      console.log(`--- ${dir}/README.md:${r.example.line}`)
      process.stdout.write(r.stdout)
      if (r.example.output !== undefined && r.example.output !== r.stdout)
        console.log('(differs from the README)')
    }
  }
}
