/**
 * Test helpers: run the CLI as a user does (a child process from the repository root), with
 * optional environment, stdin, and a pseudo-terminal through util-linux `script`.
 */
import { spawn } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { REPO_ROOT } from '../../../scripts/vectors.ts'

export const MAIN = 'apps/pxar-cli/src/main.ts'
export const NODE_ARGS = ['--import', 'tsx', '--conditions=@pxar/source', MAIN]

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

export interface RunOptions {
  env?: Record<string, string | undefined>
  input?: string
  cwd?: string
}

/** A clean environment: HOME and XDG dirs in a temp dir so defaults never touch the real home. */
export function baseEnv(home: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue
    if (/^(PBS_|PXAR_|PROXMOX_|XDG_)/.test(k)) continue
    env[k] = v
  }
  env.HOME = home
  env.NO_COLOR = '1'
  return env
}

export async function tempHome(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'pxar-cli-test-'))
}

/** Runs `pxar-cli ARGS`. */
export function run(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...NODE_ARGS, ...args], {
      cwd: REPO_ROOT,
      env: options.env as NodeJS.ProcessEnv,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s))
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
    child.stdin.end(options.input ?? '')
  })
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`

/**
 * Runs `pxar-cli ARGS` inside a pseudo-terminal (`script -qec`), answering each prompt that
 * appears with the next of `answers` (typed only once the prompt is shown, as a user would).
 */
export function runInPty(
  args: readonly string[],
  answers: readonly string[],
  options: RunOptions = {},
): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const cmd = [process.execPath, ...NODE_ARGS, ...args].map(shellQuote).join(' ')
    const child = spawn('script', ['-qec', cmd, '/dev/null'], {
      cwd: REPO_ROOT,
      env: options.env as NodeJS.ProcessEnv,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let output = ''
    let answered = 0
    let seen = 0
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      output += s
      // count prompts ("…Password: ") seen so far and answer the new ones
      const prompts = output.match(/Password: /g)?.length ?? 0
      while (seen < prompts && answered < answers.length) {
        seen++
        child.stdin.write(`${answers[answered++]}\r`)
      }
    })
    child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s))
    child.on('error', reject)
    child.on('close', (code) => {
      child.stdin.destroy()
      resolve({ code: code ?? -1, output })
    })
  })
}
