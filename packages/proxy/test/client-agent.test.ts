import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import http2 from 'node:http2'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isPxarError } from '@pxar/format'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type Agent,
  type AgentSource,
  connectAgent,
  type FileSystemSource,
  LocalClient,
  loadOrCreateAgentCertificate,
  openSource,
  startAgent,
} from '../src/index.ts'
import { type Fixture, makeFixture } from './client-fixture.ts'

const enc = (s: string): Uint8Array => Buffer.from(s)
const ROOT = new Uint8Array(0)
const token = randomBytes(24).toString('hex')

let fx: Fixture
let certDir: string
let agent: Agent
let local: LocalClient
let remote: AgentSource

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const p of it) parts.push(Buffer.from(p))
  return Buffer.concat(parts)
}

/** Byte strings as hex, so that Buffers and plain Uint8Arrays compare equal. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return `bytes:${Buffer.from(v).toString('hex')}`
  if (Array.isArray(v)) return v.map(plain)
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
  return v
}

/** Every directory of a source, walked depth-first with its listing. */
async function walk(src: FileSystemSource, path: Uint8Array, out: unknown[]): Promise<void> {
  const l = await src.listDir(path)
  out.push(plain({ path, ...l }))
  for (const e of l.entries)
    if (e.kind === 'directory')
      await walk(src, path.length ? Buffer.concat([path, enc('/'), e.name]) : e.name, out)
}

beforeAll(async () => {
  fx = await makeFixture()
  certDir = mkdtempSync(join(tmpdir(), 'pxar-agent-cert-'))
  agent = await startAgent({ roots: { data: fx.root }, token, certDir })
  local = new LocalClient(fx.root)
  remote = await connectAgent({ url: agent.url, token, fingerprint: agent.fingerprint, root: 'data' })
})
afterAll(async () => {
  await remote?.close()
  await agent?.close()
  await fx?.cleanup()
  rmSync(certDir, { recursive: true, force: true })
})

describe('agent transport', () => {
  it('prints a PBS-style fingerprint and keeps its certificate across restarts', async () => {
    expect(agent.fingerprint).toMatch(/^([0-9a-f]{2}:){31}[0-9a-f]{2}$/)
    const again = await loadOrCreateAgentCertificate(certDir)
    expect(again.fingerprint).toBe(agent.fingerprint)
    expect(readFileSync(join(certDir, 'agent.pem'), 'utf8')).toContain('BEGIN CERTIFICATE')
    expect(await remote.roots()).toEqual(['data'])
  })

  it('gives the same listings and stats as the local client', async () => {
    const a: unknown[] = []
    const b: unknown[] = []
    await walk(local, ROOT, a)
    await walk(remote, ROOT, b)
    expect(b).toEqual(a)
    expect(a.length).toBe(2)
    expect(plain(await remote.stat(enc('a.txt')))).toEqual(plain(await local.stat(enc('a.txt'))))
    expect(plain(await remote.stat(ROOT, { xattrs: false }))).toEqual(
      plain(await local.stat(ROOT, { xattrs: false })),
    )
    const bare = await remote.stat(enc('a.txt'), { xattrs: false, acls: false })
    expect(bare.metadata.xattrs).toEqual([])
    expect(bare.metadata.acl.users).toEqual([])
  })

  it('streams the same file contents, whole and in ranges', async () => {
    for (const [p, s, e] of [
      ['big.bin', 0, undefined],
      ['big.bin', 12345, 2_000_001],
      ['a.txt', 0, undefined],
      ['a.txt', 3, 3],
    ] as const) {
      const want = await collect(local.readFile(enc(p), s, e))
      expect((await collect(remote.readFile(enc(p), s, e))).equals(want)).toBe(true)
    }
    expect((await collect(remote.readFile(Buffer.from([0x62, 0xff, 0x66])))).toString()).toBe('x')
  })

  it('stops a transfer the reader abandons and keeps the connection usable', async () => {
    for await (const piece of remote.readFile(enc('big.bin'))) {
      expect(piece.length).toBeGreaterThan(0)
      break
    }
    expect((await remote.listDir(ROOT)).entries.length).toBeGreaterThan(5)
  })

  it('opens local and agent sources from a description', async () => {
    const viaAgent = await openSource({
      kind: 'agent',
      url: agent.url,
      token,
      fingerprint: agent.fingerprint,
      root: 'data',
    })
    const viaLocal = await openSource({ kind: 'local', root: fx.root })
    try {
      expect(plain(await viaAgent.listDir(enc('dir')))).toEqual(plain(await viaLocal.listDir(enc('dir'))))
    } finally {
      await viaAgent.close()
      await viaLocal.close()
    }
  })

  it('refuses a wrong token', async () => {
    const bad = await connectAgent({
      url: agent.url,
      token: `${token}x`,
      fingerprint: agent.fingerprint,
      root: 'data',
    })
    try {
      await expect(bad.listDir(ROOT)).rejects.toMatchObject({ code: 'ERR_PBS_AUTH' })
      await expect(collect(bad.readFile(enc('a.txt')))).rejects.toMatchObject({ code: 'ERR_PBS_AUTH' })
      await expect(bad.roots()).rejects.toMatchObject({ code: 'ERR_PBS_AUTH' })
    } finally {
      await bad.close()
    }
    // and a request without any authorization header
    const session = http2.connect(agent.url, { rejectUnauthorized: false })
    const status = await new Promise<number>((resolve, reject) => {
      const req = session.request({ ':path': '/v1/roots' })
      req.on('response', (h) => resolve(Number(h[':status'])))
      req.on('error', reject)
      req.resume()
    })
    session.close()
    expect(status).toBe(401)
  })

  it('refuses a certificate that does not match the pin, and an unpinned self-signed one', async () => {
    const wrong = agent.fingerprint.replace(/^../, (h) => (h === '00' ? '01' : '00'))
    await expect(
      connectAgent({ url: agent.url, token, fingerprint: wrong, root: 'data' }),
    ).rejects.toMatchObject({
      code: 'ERR_PBS_CERT',
    })
    await expect(connectAgent({ url: agent.url, token, root: 'data' })).rejects.toSatisfy(isPxarError)
  })

  it('refuses paths outside the root and unknown roots', async () => {
    for (const p of ['escape', 'escape/secret', 'dir/../../outside']) {
      await expect(remote.listDir(enc(p))).rejects.toMatchObject({ code: 'ERR_PXAR_BAD_NAME' })
    }
    await expect(collect(remote.readFile(enc('escape/secret')))).rejects.toMatchObject({
      code: 'ERR_PXAR_BAD_NAME',
    })
    await expect(remote.stat(enc('escape/secret'))).rejects.toMatchObject({ code: 'ERR_PXAR_BAD_NAME' })
    await expect(remote.listDir(enc('nope'))).rejects.toMatchObject({ code: 'ERR_PXAR_NOT_FOUND' })
    const other = await connectAgent({ url: agent.url, token, fingerprint: agent.fingerprint, root: 'other' })
    await expect(other.listDir(ROOT)).rejects.toMatchObject({ code: 'ERR_PXAR_NOT_FOUND' })
    await other.close()
    // a hand-made request with '..' is refused by the agent itself
    const session = http2.connect(agent.url, { rejectUnauthorized: false })
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = session.request({
        ':method': 'POST',
        ':path': '/v1/list',
        authorization: `Bearer ${token}`,
      })
      let body = ''
      let status = 0
      req.on('response', (h) => {
        status = Number(h[':status'])
      })
      req.setEncoding('utf8')
      req.on('data', (d: string) => {
        body += d
      })
      req.on('end', () => resolve({ status, body }))
      req.on('error', reject)
      req.end(JSON.stringify({ root: 'data', path: Buffer.from('../outside').toString('base64') }))
    })
    session.close()
    expect(res.status).toBe(400)
    expect(JSON.parse(res.body).code).toBe('ERR_PXAR_BAD_NAME')
  })

  it('rejects oversized requests', async () => {
    const session = http2.connect(agent.url, { rejectUnauthorized: false })
    const status = await new Promise<number>((resolve, reject) => {
      const req = session.request({
        ':method': 'POST',
        ':path': '/v1/list',
        authorization: `Bearer ${token}`,
      })
      req.on('response', (h) => resolve(Number(h[':status'])))
      req.on('error', reject)
      req.resume()
      req.end(Buffer.alloc(200 * 1024, 0x20))
    })
    session.close()
    expect(status).toBe(413)
  })
})
