/**
 * Shared helpers of the reliability tests: temporary directories, a sentinel directory next to
 * restore targets (checked to stay untouched), trees to back up, and the CLI in-process or as a
 * child process.
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { Context, runCli } from '../../../apps/pxar-cli/src/index.ts'
import { REPO_ROOT } from '../../../scripts/vectors.ts'

export { REPO_ROOT }

/** A fresh temporary directory. */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `pxar-rel-${prefix}-`))
}

/**
 * A snapshot of everything below `dir` (names, kinds, sizes, link targets, content hashes,
 * mtimes), to show that nothing there changed.
 */
export async function treeState(dir: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      const p = join(d, name)
      const st = await lstat(p)
      const r = `${rel}/${name}`
      if (st.isDirectory()) {
        out.push(`${r}/ ${st.mode.toString(8)} ${st.mtimeMs}`)
        await walk(p, r)
      } else if (st.isSymbolicLink()) out.push(`${r} -> ${await readlink(p)}`)
      else {
        const h = st.isFile()
          ? createHash('sha256')
              .update(await readFile(p))
              .digest('hex')
          : 'special'
        out.push(`${r} ${st.mode.toString(8)} ${st.size} ${st.nlink} ${st.mtimeMs} ${h}`)
      }
    }
  }
  await walk(dir, '')
  return out
}

/** Creates `dir` with a file `sentinel` (and a subdirectory) that must never change. */
export async function makeSentinel(dir: string): Promise<void> {
  await mkdir(join(dir, 'sub'), { recursive: true })
  await writeFile(join(dir, 'sentinel'), 'keep me\n')
  await writeFile(join(dir, 'sub', 'inner'), 'keep me too\n')
}

/** Deterministic pseudo-random bytes (xorshift). */
export function pseudoRandom(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/** Writes a small tree to back up: `files` files of about `size` bytes in a few directories. */
export async function makeTree(dir: string, files: number, size: number, seed = 7): Promise<void> {
  for (let i = 0; i < files; i++) {
    const sub = join(dir, `d${i % 5}`)
    await mkdir(sub, { recursive: true })
    await writeFile(join(sub, `f${i}.bin`), pseudoRandom(size + (i % 13), seed + i))
  }
  await writeFile(join(dir, 'README'), 'a generated tree\n')
}

/** Result of a CLI run. */
export interface CliRun {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs `pxar-cli ARGS` in this process (fast; environment and cwd are this process's). */
export async function cli(args: readonly string[]): Promise<CliRun> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.setEncoding('utf8').on('data', (s: string) => (out += s))
  stderr.setEncoding('utf8').on('data', (s: string) => (err += s))
  const code = await runCli(['--quiet', ...args], new Context({ stdout, stderr }))
  stdout.end()
  stderr.end()
  return { code, stdout: out, stderr: err }
}

/** The command line that runs pxar-cli from source in a child process. */
export const CLI_ARGV: readonly string[] = [
  '--import',
  'tsx',
  '--conditions=@pxar/source',
  'apps/pxar-cli/src/main.ts',
]

/** An environment without PBS_/PXAR_ variables and with HOME in `home`. */
export function cleanEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^(PBS_|PXAR_|PROXMOX_|XDG_)/.test(k)) continue
    env[k] = v
  }
  return { ...env, HOME: home, NO_COLOR: '1', ...extra }
}

/** Runs `pxar-cli ARGS` as a child process. */
export function cliProcess(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  input = '',
): Promise<CliRun & { signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI_ARGV, ...args], {
      cwd: REPO_ROOT,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s))
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code: code ?? -1, signal, stdout, stderr }))
    child.stdin.end(input)
  })
}
