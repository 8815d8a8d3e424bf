/**
 * Secrets never appear in output: `pxar-cli` runs (child processes, also with --verbose stack
 * traces) with wrong or right tokens, passwords and passphrases, and the output of
 * `pxar-cli serve` while clients present wrong tokens, are searched for every secret involved.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKeyConfig, generateKey, serializeKeyConfig } from '../../../packages/datastore/src/index.ts'
import { getVersion, PbsClient } from '../../../packages/pbs-client/src/index.ts'
import { type Agent, startAgent } from '../../../packages/proxy/src/index.ts'
import { createTokenFile, type RunningServer, startServer } from '../../../packages/server/src/index.ts'
import { CLI_ARGV, cleanEnv, cli, cliProcess, makeTree, REPO_ROOT, tempDir } from './helpers.ts'

const TOKEN_ID = 'root@pam!leak'
const SECRET = 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d'
const WRONG_SECRET = 'ffffeeee-dddd-4ccc-8bbb-aaaa99998888'
const AGENT_TOKEN = `agent-${randomBytes(16).toString('hex')}`
const WRONG_AGENT_TOKEN = `agent-${randomBytes(16).toString('hex')}`
const PASSPHRASE = 'correct horse battery staple'
const WRONG_PASSPHRASE = 'incorrect donkey battery staple'

let base: string
let src: string
let server: RunningServer
let agent: Agent
let keyFile: string
let rawKey: Uint8Array

beforeAll(async () => {
  base = await tempDir('secrets')
  src = join(base, 'src')
  await makeTree(src, 4, 1000)
  server = await startServer({
    datastore: join(base, 'store'),
    listen: '127.0.0.1:0',
    tokens: { [TOKEN_ID]: SECRET },
    authFailureDelayMs: 0,
  })
  agent = await startAgent({ roots: { data: src }, token: AGENT_TOKEN, certDir: join(base, 'agent-cert') })
  rawKey = generateKey()
  keyFile = join(base, 'key.json')
  await writeFile(
    keyFile,
    serializeKeyConfig(await createKeyConfig(rawKey, { kdf: 'scrypt', password: PASSPHRASE })),
  )
})
afterAll(async () => {
  await agent?.close()
  await server?.stop()
  await rm(base, { recursive: true, force: true })
})

/** Every form a secret could be printed in. */
function forms(secret: string | Uint8Array): string[] {
  const b = Buffer.from(secret)
  const out = [b.toString('hex'), b.toString('base64'), b.toString('base64url').replace(/=+$/, '')]
  if (typeof secret === 'string') out.push(secret, encodeURIComponent(secret))
  return out.filter((s) => s.length >= 12)
}

function expectNoSecret(text: string, what: string): void {
  for (const s of [SECRET, WRONG_SECRET, AGENT_TOKEN, WRONG_AGENT_TOKEN, PASSPHRASE, WRONG_PASSPHRASE]) {
    for (const f of forms(s)) expect(text.includes(f), `${what} shows a secret (${s})`).toBe(false)
  }
  for (const f of forms(rawKey)) expect(text.includes(f), `${what} shows key material`).toBe(false)
}

describe('secrets stay out of output', () => {
  it('pxar-cli with wrong and right credentials (also --verbose)', async () => {
    const repo = `${TOKEN_ID}@127.0.0.1:${server.port}:${server.name}`
    const store = join(base, 'local')
    const runs: [string, string[], NodeJS.ProcessEnv, 'ok' | RegExp][] = [
      [
        'wrong PBS_PASSWORD',
        ['--verbose', 'backup', src, '--repository', repo, '--backup-id', 'leak'],
        cleanEnv(base, { PBS_PASSWORD: WRONG_SECRET, PBS_FINGERPRINT: server.fingerprint }),
        /authentication|401|credentials/i,
      ],
      [
        'right PBS_PASSWORD',
        ['backup', src, '--repository', repo, '--backup-id', 'leak', '--output-format', 'json'],
        cleanEnv(base, { PBS_PASSWORD: SECRET, PBS_FINGERPRINT: server.fingerprint }),
        'ok',
      ],
      [
        'wrong agent token',
        [
          '--verbose',
          'backup',
          `https://127.0.0.1:${agent.port}/data`,
          '--fingerprint',
          agent.fingerprint,
          '--store',
          store,
        ],
        cleanEnv(base, { PXAR_AGENT_TOKEN: WRONG_AGENT_TOKEN }),
        /token|401|auth/i,
      ],
      [
        'agent token to a wrong pin',
        ['--verbose', 'backup', `https://127.0.0.1:${agent.port}/data`, '--fingerprint', server.fingerprint],
        cleanEnv(base, { PXAR_AGENT_TOKEN: AGENT_TOKEN }),
        /certificate|fingerprint/i,
      ],
      [
        'wrong key passphrase',
        ['--verbose', 'backup', src, '--store', store, '--keyfile', keyFile],
        cleanEnv(base, { PBS_ENCRYPTION_PASSWORD: WRONG_PASSPHRASE }),
        /passphrase|password/i,
      ],
      [
        'right key passphrase',
        [
          'backup',
          src,
          '--store',
          store,
          '--keyfile',
          keyFile,
          '--backup-id',
          'enc',
          '--output-format',
          'json',
        ],
        cleanEnv(base, { PBS_ENCRYPTION_PASSWORD: PASSPHRASE }),
        'ok',
      ],
    ]
    // a few at a time: each is a node process with the TypeScript loader
    for (let i = 0; i < runs.length; i += 3) {
      await Promise.all(
        runs.slice(i, i + 3).map(async ([what, args, env, outcome]) => {
          const r = await cliProcess(args, env)
          if (outcome === 'ok') expect(r.code, `${what}: ${r.stderr}`).toBe(0)
          else {
            expect(r.code, `${what}: ${r.stdout}${r.stderr}`).not.toBe(0)
            expect(r.stderr, what).toMatch(outcome)
          }
          expectNoSecret(r.stdout + r.stderr, what)
        }),
      )
    }
  })

  it('pxar-cli serve prints nothing secret while clients present wrong tokens', async () => {
    const store = join(base, 'served')
    const child: ChildProcess = spawn(
      process.execPath,
      [...CLI_ARGV, '--verbose', 'serve', '--store', store, '--listen', '127.0.0.1:0'],
      { cwd: REPO_ROOT, env: cleanEnv(base), stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let out = ''
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s))
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (out += s))
    try {
      const end = Date.now() + 60_000
      while (!/listening: https:\/\/[^\s]+:(\d+)/.test(out) && Date.now() < end)
        await new Promise((r) => setTimeout(r, 50))
      const port = Number(/listening: https:\/\/[^\s]+:(\d+)/.exec(out)?.[1])
      const fp = /fingerprint: ([0-9a-f:]+)/.exec(out)?.[1]
      expect(port).toBeGreaterThan(0)
      // at once: the server waits before each 401, as PBS does
      await Promise.all(
        (
          [
            [TOKEN_ID, WRONG_SECRET],
            ['root@pam!nope', SECRET],
            ['root@pam', PASSPHRASE],
          ] as const
        ).map(async ([id, password]) => {
          const client = new PbsClient({ host: '127.0.0.1', port, authId: id, password, fingerprint: fp! })
          const err = await getVersion(client).catch((e: unknown) => e)
          expect((err as { code?: string }).code).toBe('ERR_PBS_AUTH')
          expectNoSecret(String((err as Error).message), 'client error')
        }),
      )
    } finally {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
    }
    expect(out).toMatch(/stopped/)
    expectNoSecret(out, 'serve output')
  })

  it('files holding secrets are private (0600)', async () => {
    const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777
    expect(await mode(join(base, 'store', '.pxar-server', 'proxy.key'))).toBe(0o600)
    expect(await mode(join(base, 'agent-cert', 'agent.key'))).toBe(0o600)
    const tokens = join(base, 'tokens.json')
    await createTokenFile(tokens, 'root@pam!file')
    expect(await mode(tokens)).toBe(0o600)
    const key = join(base, 'new-key.json')
    const r = await cli(['key', 'create', key, '--kdf', 'none'])
    expect(r.code, r.stderr).toBe(0)
    expect(await mode(key)).toBe(0o600)
    // a new passphrase rewrites the file (atomically, never readable by others)
    process.env.PXAR_NEW_ENCRYPTION_PASSWORD = PASSPHRASE
    try {
      const c = await cli(['key', 'change-passphrase', key, '--kdf', 'scrypt'])
      expect(c.code, c.stderr).toBe(0)
      expectNoSecret(c.stdout + c.stderr, 'change-passphrase')
    } finally {
      delete process.env.PXAR_NEW_ENCRYPTION_PASSWORD
    }
    expect(await mode(key)).toBe(0o600)
    expect(await readFile(key, 'utf8')).toMatch(/"kdf"/)
  })
})
