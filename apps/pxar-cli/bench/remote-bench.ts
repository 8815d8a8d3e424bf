/**
 * Backup to `pxar-cli serve` on loopback vs the same backup to a local store, and restore
 * throughput from the server, all through the CLI as a user runs it.
 *
 *   node --import tsx --conditions=@pxar/source apps/pxar-cli/bench/remote-bench.ts [--mib 200]
 *
 * The tree: N × 2 MiB random files (N = MiB / 2) and 1000 small text files. The server is a
 * separate process on the same machine (it shares the CPUs with the client).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, rmSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const ROOT = resolve(import.meta.dirname, '..', '..', '..')
const NODE_ARGS = ['--import', 'tsx', '--conditions=@pxar/source', 'apps/pxar-cli/src/main.ts']
const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(name)
  return i > 0 ? (process.argv[i + 1] ?? dflt) : dflt
}
const MIB = Number(arg('--mib', '200'))

interface Timed {
  wallS: number
  rssMiB: number
  stdout: string
}

/** Runs the CLI and returns its stdout. */
function cli(args: readonly string[], env: NodeJS.ProcessEnv): string {
  return execFileSync(process.execPath, [...NODE_ARGS, ...args], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
}

/** Runs the CLI under /usr/bin/time: wall seconds and peak RSS of the client process. */
function timed(args: readonly string[], env: NodeJS.ProcessEnv): Timed {
  const tmp = join(tmpdir(), `pxar-bench-time-${process.pid}`)
  const stdout = execFileSync(
    '/usr/bin/time',
    ['-o', tmp, '-f', '%e %M', process.execPath, ...NODE_ARGS, ...args],
    { cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 },
  )
  const [wall, rss] = readFileSync(tmp, 'utf8').trim().split(/\s+/).slice(-2)
  rmSync(tmp, { force: true })
  return { wallS: Number(wall), rssMiB: Number(rss) / 1024, stdout }
}

async function makeTree(root: string): Promise<void> {
  await mkdir(join(root, 'big'), { recursive: true })
  for (let i = 0; i < MIB / 2; i++) await writeFile(join(root, 'big', `r${i}.bin`), randomBytes(2 << 20))
  for (let d = 0; d < 10; d++) {
    await mkdir(join(root, 'text', `d${d}`), { recursive: true })
    for (let i = 0; i < 100; i++)
      await writeFile(
        join(root, 'text', `d${d}`, `f${i}.txt`),
        `line ${d}/${i}\n`.repeat(1 + ((i * 37) % 200)),
      )
  }
}

async function main(): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), 'pxar-remote-bench-'))
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: base, PXAR_PROGRESS_INTERVAL: '3600' }
  for (const k of Object.keys(env)) if (/^(PBS_|PXAR_STORE)/.test(k)) delete env[k]
  let server: ChildProcess | undefined
  try {
    const src = join(base, 'src')
    await makeTree(src)
    const mib = Number(
      execFileSync('du', ['-sm', '--apparent-size', src], { encoding: 'utf8' }).split('\t')[0],
    )
    console.log(`tree: ${MIB / 2} x 2 MiB random + 1000 text files, ${mib} MiB`)

    const serverStore = join(base, 'server-store')
    server = spawn(
      process.execPath,
      [...NODE_ARGS, 'serve', '--store', serverStore, '--listen', '127.0.0.1:0'],
      {
        cwd: ROOT,
        env,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    let out = ''
    server.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s))
    while (out.split('\n').length < 3) await new Promise((r) => setTimeout(r, 50))
    const fingerprint = /^fingerprint: (\S+)/m.exec(out)![1]!
    const address = /^listening: https:\/\/(\S+)/m.exec(out)![1]!
    const secret = cli(['serve-token', '--store', serverStore, '--create', 'root@pam!bench'], env).trim()
    const remote = {
      ...env,
      PBS_REPOSITORY: `root@pam!bench@${address}:store`,
      PBS_PASSWORD: secret,
      PBS_FINGERPRINT: fingerprint,
    }
    const local = { ...env, PXAR_STORE: join(base, 'local-store') }

    const row = (what: string, t: Timed, extra = ''): void => {
      console.log(
        `${what.padEnd(50)} ${t.wallS.toFixed(2).padStart(7)} s ${(mib / t.wallS).toFixed(1).padStart(7)} MiB/s  client RSS ${t.rssMiB.toFixed(0)} MiB${extra}`,
      )
    }
    const backup = (e: NodeJS.ProcessEnv, id: string, mode: string): Timed =>
      timed(['backup', src, '--backup-id', id, '--mode', mode, '--output-format', 'json'], e)
    const info = (t: Timed): string => {
      const j = JSON.parse(t.stdout) as {
        uploadedBytes: number
        uploadedChunks?: number
        reusedBytes: number
      }
      return `, uploaded ${(j.uploadedBytes / 2 ** 20).toFixed(1)} MiB${j.uploadedChunks === undefined ? '' : ` in ${j.uploadedChunks} chunks`}, reused ${(j.reusedBytes / 2 ** 20).toFixed(1)} MiB`
    }

    for (const mode of ['legacy', 'metadata']) {
      let t = backup(local, mode, mode)
      row(`local store, ${mode}, first run`, t, info(t))
      t = backup(remote, mode, mode)
      row(`server (loopback), ${mode}, first run`, t, info(t))
      await new Promise((r) => setTimeout(r, 1100))
      t = backup(local, mode, mode)
      row(`local store, ${mode}, unchanged second run`, t, info(t))
      t = backup(remote, mode, mode)
      row(`server (loopback), ${mode}, unchanged second run`, t, info(t))
    }
    for (const [name, e] of [
      ['local store', local],
      ['server (loopback)', remote],
    ] as const) {
      for (const archive of ['root.pxar', 'root.mpxar']) {
        const target = join(base, `restore-${name.replace(/\W+/g, '_')}-${archive}`)
        const t = timed(
          ['restore', `host/${archive === 'root.pxar' ? 'legacy' : 'metadata'}`, archive, target],
          e,
        )
        row(`restore from ${name}, ${archive}`, t)
        await rm(target, { recursive: true, force: true })
      }
    }
  } finally {
    if (server && server.exitCode === null) {
      const closed = new Promise((r) => server!.once('close', r))
      server.kill('SIGTERM')
      await closed
    }
    await rm(base, { recursive: true, force: true })
  }
}

await main()
