/**
 * Runs one command under `/usr/bin/time -v` and reports wall time, peak RSS and exit status.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Command } from './tools.ts'

/** GNU time's location. */
export const GNU_TIME = '/usr/bin/time'

/** Outcome of one measured command. */
export interface Measurement {
  /** Wall time in milliseconds (measured around the process, time's own start-up included). */
  readonly wallMs: number
  /** Peak resident set size in bytes (`undefined` without GNU time). */
  readonly peakRssBytes: number | undefined
  /** User + system CPU time in milliseconds (`undefined` without GNU time). */
  readonly cpuMs: number | undefined
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
}

/** Extracts peak RSS, user + system CPU time and exit status from `time -v` output. */
export function parseTimeVerbose(text: string): { peakRssBytes?: number; cpuMs?: number; exitCode?: number } {
  const out: { peakRssBytes?: number; cpuMs?: number; exitCode?: number } = {}
  const rss = /Maximum resident set size \(kbytes\):\s*(\d+)/.exec(text)
  if (rss) out.peakRssBytes = Number(rss[1]) * 1024
  const user = /User time \(seconds\):\s*([\d.]+)/.exec(text)
  const sys = /System time \(seconds\):\s*([\d.]+)/.exec(text)
  if (user && sys) out.cpuMs = Math.round((Number(user[1]) + Number(sys[1])) * 1000)
  const status = /Exit status:\s*(\d+)/.exec(text)
  if (status) out.exitCode = Number(status[1])
  return out
}

/** Runs `cmd` (with the extra environment on top of ours) and measures it. */
export async function measure(cmd: Command): Promise<Measurement> {
  const haveTime = existsSync(GNU_TIME)
  const dir = mkdtempSync(join(tmpdir(), 'pxar-bench-time-'))
  const timeFile = join(dir, 'time.txt')
  const [file, args] = haveTime
    ? [GNU_TIME, ['-v', '-o', timeFile, cmd.file, ...cmd.args]]
    : [cmd.file, [...cmd.args]]
  try {
    const start = process.hrtime.bigint()
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>(
      (resolve, reject) => {
        const child = spawn(file, args, {
          cwd: cmd.cwd,
          env: { ...process.env, ...cmd.env },
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        const out: Buffer[] = []
        const err: Buffer[] = []
        child.stdout.on('data', (b: Buffer) => out.push(b))
        child.stderr.on('data', (b: Buffer) => err.push(b))
        child.on('error', reject)
        child.on('close', (c, signal) =>
          resolve({
            code: c ?? (signal === null ? 1 : 128),
            stdout: Buffer.concat(out).toString('utf8'),
            stderr: Buffer.concat(err).toString('utf8'),
          }),
        )
      },
    )
    const wallMs = Number(process.hrtime.bigint() - start) / 1e6
    const parsed = haveTime && existsSync(timeFile) ? parseTimeVerbose(readFileSync(timeFile, 'utf8')) : {}
    return {
      wallMs,
      peakRssBytes: parsed.peakRssBytes,
      cpuMs: parsed.cpuMs,
      exitCode: parsed.exitCode ?? code,
      stdout,
      stderr,
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
