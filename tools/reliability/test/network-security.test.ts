/**
 * Server and agent hardening: every route refuses missing and wrong credentials (the routes are
 * enumerated from the server's route table, so new ones are covered), the agent never serves
 * anything outside its roots (hand-made requests with '..', absolute paths and symlinks), a
 * wrong certificate pin fails before a single byte (or credential) is sent, and oversized
 * requests are refused.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import http2 from 'node:http2'
import https from 'node:https'
import { join } from 'node:path'
import tls from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  CryptConfig,
  DynamicIndex,
  encodeBlob,
  verifySnapshot,
} from '../../../packages/datastore/src/index.ts'
import { getVersion, PbsClient, PbsReader, PbsRemoteStore } from '../../../packages/pbs-client/src/index.ts'
import {
  type Agent,
  connectAgent,
  generateAgentCertificate,
  LocalClient,
  LocalStore,
  restoreSnapshot,
  runBackup,
  startAgent,
} from '../../../packages/proxy/src/index.ts'
import { type RunningServer, startServer } from '../../../packages/server/src/index.ts'
import { DATASTORE_ROUTES } from '../../../packages/server/src/rest.ts'
import { tempDir } from './helpers.ts'

const TOKEN_ID = 'root@pam!sec'
const SECRET = 'd00dfeed-1234-4abc-8def-0123456789ab'
const OTHER_ID = 'mallory@pbs!tok'
const OTHER_SECRET = '0badc0de-1234-4abc-8def-0123456789ab'
const AGENT_TOKEN = randomBytes(24).toString('hex')
const OUTSIDE_CONTENT = 'TOP-SECRET-OUTSIDE-THE-ROOT'

let base: string
let server: RunningServer
let agent: Agent

beforeAll(async () => {
  base = await tempDir('net')
  server = await startServer({
    datastore: join(base, 'store'),
    listen: '127.0.0.1:0',
    tokens: { [TOKEN_ID]: SECRET, [OTHER_ID]: OTHER_SECRET },
    users: { 'alice@pbs': 'alice-password' },
    authFailureDelayMs: 0,
  })
  // an agent root with links pointing out of it, and a secret beside it
  const root = join(base, 'root')
  const outside = join(base, 'outside')
  await mkdir(join(root, 'dir'), { recursive: true })
  await mkdir(outside)
  await writeFile(join(outside, 'secret'), OUTSIDE_CONTENT)
  await writeFile(join(root, 'dir', 'ok.txt'), 'inside')
  await symlink(outside, join(root, 'link-dir'))
  await symlink(join(outside, 'secret'), join(root, 'link-file'))
  await symlink('../../outside/secret', join(root, 'dir', 'rel-link'))
  // special files: reading them could block (FIFO) or never end (a zero device)
  execFileSync('mkfifo', [join(root, 'fifo')])
  if (process.getuid?.() === 0) execFileSync('mknod', [join(root, 'zero'), 'c', '1', '5'])
  agent = await startAgent({ roots: { data: root }, token: AGENT_TOKEN, certDir: join(base, 'agent-cert') })
})
afterAll(async () => {
  await agent?.close()
  await server?.stop()
  await rm(base, { recursive: true, force: true })
})

interface Reply {
  status: number
  body: string
}

/** One HTTPS/1.1 request to the server (certificate not checked: these tests are about auth). */
function request(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: server.port,
        method,
        path,
        headers: {
          ...(body !== undefined
            ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }
            : {}),
          ...headers,
        },
        rejectUnauthorized: false,
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8').on('data', (d: string) => (text += d))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

/** Sends an upgrade request by hand and returns the status line and anything else the server said. */
async function upgrade(path: string, headers: string): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port: server.port, rejectUnauthorized: false })
  await new Promise((r) => socket.once('secureConnect', r))
  socket.write(`GET ${path} HTTP/1.1\r\nhost: localhost\r\nconnection: upgrade\r\n${headers}\r\n`)
  let text = ''
  await new Promise<void>((resolve) => {
    socket.setEncoding('utf8').on('data', (d: string) => (text += d))
    socket.on('close', () => resolve())
    socket.on('error', () => resolve())
    setTimeout(() => {
      socket.destroy()
      resolve()
    }, 3000)
  })
  return text
}

const BAD_CREDENTIALS: Record<string, Record<string, string>> = {
  none: {},
  'wrong secret': { authorization: `PBSAPIToken ${TOKEN_ID}:${SECRET.replace(/^./, 'e')}` },
  'unknown token': { authorization: `PBSAPIToken root@pam!other:${SECRET}` },
  'secret of another token': { authorization: `PBSAPIToken root@pam!x:${SECRET}` },
  'empty secret': { authorization: `PBSAPIToken ${TOKEN_ID}:` },
  'bearer scheme': { authorization: `Bearer ${SECRET}` },
  'basic scheme': { authorization: `Basic ${Buffer.from(`root@pam:${SECRET}`).toString('base64')}` },
  'forged ticket': {
    cookie: `PBSAuthCookie=${encodeURIComponent('PBS:root@pam:6553F100::AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')}`,
  },
  'ticket without csrf': {},
}

describe('server authentication on every route', () => {
  const routes = [
    ...Object.keys(DATASTORE_ROUTES).map((k) => {
      const [method, name] = k.split(' ') as [string, string]
      return { method, path: `/api2/json/admin/datastore/store/${name}` }
    }),
    { method: 'GET', path: '/api2/json/version' },
    { method: 'GET', path: '/api2/json/admin/datastore' },
    { method: 'GET', path: '/api2/json/admin/datastore/store/nonexistent-route' },
    { method: 'GET', path: '/api2/json/nodes/localhost/tasks' },
  ]

  it('enumerates the route table', () => {
    expect(routes.length).toBeGreaterThanOrEqual(8)
  })

  it('refuses missing and wrong credentials on every REST route (401, nothing leaked)', async () => {
    // a real ticket, used without its CSRF token on writes
    const login = await request(
      'POST',
      '/api2/json/access/ticket',
      {},
      JSON.stringify({ username: 'alice@pbs', password: 'alice-password' }),
    )
    expect(login.status).toBe(200)
    const ticket = (JSON.parse(login.body) as { data: { ticket: string } }).data.ticket
    for (const r of routes) {
      for (const [what, headers] of Object.entries(BAD_CREDENTIALS)) {
        if (what === 'ticket without csrf' && r.method === 'GET') continue
        const h =
          what === 'ticket without csrf' ? { cookie: `PBSAuthCookie=${encodeURIComponent(ticket)}` } : headers
        const body = r.method === 'GET' ? undefined : '{}'
        const res = await request(r.method, `${r.path}?backup-type=host&backup-id=x&ns=`, h, body)
        expect(res.status, `${r.method} ${r.path} with ${what}: ${res.body}`).toBe(401)
        expect(res.body).not.toContain(SECRET)
        expect(res.body).not.toContain(ticket)
      }
    }
    // the same requests with the token succeed or fail for other reasons than authentication
    for (const r of routes) {
      const res = await request(
        r.method,
        `${r.path}?backup-type=host&backup-id=x`,
        { authorization: `PBSAPIToken ${TOKEN_ID}:${SECRET}` },
        r.method === 'GET' ? undefined : '{}',
      )
      expect(res.status, `${r.method} ${r.path}`).not.toBe(401)
    }
  })

  it('authenticates before reading or parsing a request body', async () => {
    const path = '/api2/json/admin/datastore/store/namespace'
    for (const [type, body] of [
      ['application/json', '{not json'],
      ['application/json', '[1,2,3]'],
      ['text/plain', 'hello'],
      ['application/json', JSON.stringify({ pad: 'x'.repeat(100 * 1024) })],
    ] as const) {
      const res = await request('POST', path, { 'content-type': type }, body).catch((e: unknown) => e)
      if (res instanceof Error) continue // cut while still sending: no answer leaked either
      expect((res as Reply).status, `${type} ${body.slice(0, 20)}`).toBe(401)
    }
  })

  it('refuses a wrong password at login', async () => {
    const res = await request(
      'POST',
      '/api2/json/access/ticket',
      {},
      JSON.stringify({ username: 'alice@pbs', password: 'not-alices-password' }),
    )
    expect(res.status).toBe(401)
    expect(res.body).not.toContain('not-alices-password')
    expect(res.body).not.toContain('alice-password')
  })

  it('refuses unauthenticated backup and reader protocol upgrades before touching the datastore', async () => {
    for (const [proto, path] of [
      ['proxmox-backup-protocol-v1', 'backup'],
      ['proxmox-backup-reader-protocol-v1', 'reader'],
    ] as const) {
      for (const [what, headers] of Object.entries(BAD_CREDENTIALS)) {
        const extra = Object.entries(headers)
          .map(([k, v]) => `${k}: ${v}\r\n`)
          .join('')
        const text = await upgrade(
          `/api2/json/${path}?store=store&backup-type=host&backup-id=intruder&backup-time=1700000000`,
          `upgrade: ${proto}\r\n${extra}`,
        )
        expect(text, `${path} with ${what}`).toMatch(/^HTTP\/1.1 401 /)
        expect(text).not.toContain(SECRET)
      }
    }
    const groups = await server.datastore.listGroups([])
    expect(groups.map((g) => g.id)).not.toContain('intruder')
  })

  it("refuses another owner's group for writes (backup, delete, client log)", async () => {
    const dir = { ns: [], type: 'host' as const, id: 'owned', time: 1_700_000_000 }
    const w = await server.datastore.beginSnapshot(dir, { owner: TOKEN_ID })
    await w.addBlob('x.conf.blob', encodeBlob(new Uint8Array([1])))
    await w.finish()
    const other = { authorization: `PBSAPIToken ${OTHER_ID}:${OTHER_SECRET}` }
    const q = 'backup-type=host&backup-id=owned&backup-time=1700000000'
    const del = await request('DELETE', `/api2/json/admin/datastore/store/snapshots?${q}`, other)
    expect(del.status).toBe(403)
    const log = await request('POST', `/api2/json/admin/datastore/store/upload-backup-log?${q}`, other, '{}')
    expect(log.status).toBe(403)
    const up = await upgrade(
      '/api2/json/backup?store=store&backup-type=host&backup-id=owned&backup-time=1700000100',
      `upgrade: proxmox-backup-protocol-v1\r\nauthorization: PBSAPIToken ${OTHER_ID}:${OTHER_SECRET}\r\n`,
    )
    expect(up).toMatch(/^HTTP\/1.1 403 /)
    expect((await server.datastore.listSnapshots({ ns: [], type: 'host', id: 'owned' })).length).toBe(1)
  })

  it('bounds uploads inside a backup session (announced sizes, bodies larger than announced)', async () => {
    const c = new PbsClient({
      host: '127.0.0.1',
      port: server.port,
      authId: TOKEN_ID,
      password: SECRET,
      fingerprint: server.fingerprint,
    })
    const session = await new PbsRemoteStore(c, server.name).beginBackup({
      snapshot: { ns: [], type: 'host', id: 'limits', time: 1_700_000_000 },
    })
    try {
      const w = await session.createDynamicIndex('x.didx')
      const digest = '00'.repeat(32)
      const tries: [Record<string, string | number>, Uint8Array][] = [
        // announced far beyond the blob limit
        [{ wid: w.wid, digest, size: 1, 'encoded-size': 1 << 30 }, new Uint8Array(16)],
        // a body larger than announced
        [{ wid: w.wid, digest, size: 1, 'encoded-size': 64 }, new Uint8Array(1 << 20)],
      ]
      for (const [params, body] of tries) {
        const err = await session
          .call('POST', '/dynamic_chunk', params, { body, contentType: 'application/octet-stream' })
          .catch((e: unknown) => e)
        expect((err as { status?: number }).status, JSON.stringify(params)).toBe(400)
      }
      const blob = await session
        .call(
          'POST',
          '/blob',
          { 'file-name': 'x.blob', 'encoded-size': 2 ** 31 },
          { body: new Uint8Array(16) },
        )
        .catch((e: unknown) => e)
      expect((blob as { status?: number }).status).toBe(400)
    } finally {
      await session.abort()
    }
  })

  it('refuses oversized request bodies', async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(200 * 1024) })
    const res = await request('POST', '/api2/json/access/ticket', {}, big).catch((e: unknown) => e)
    // either an error status or the connection cut while still sending: never a login
    if (!(res instanceof Error)) expect((res as Reply).status).toBeGreaterThanOrEqual(400)
  })
})

/** One HTTP/2 request to the agent. */
function agentRequest(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string | Buffer,
): Promise<Reply> {
  const session = http2.connect(agent.url, { rejectUnauthorized: false })
  return new Promise<Reply>((resolve, reject) => {
    session.on('error', reject)
    const req = session.request({ ':method': method, ':path': path, ...headers })
    let status = 0
    let text = ''
    req.on('response', (h) => {
      status = Number(h[':status'])
    })
    req.setEncoding('utf8')
    req.on('data', (d: string) => (text += d))
    req.on('end', () => resolve({ status, body: text }))
    req.on('error', reject)
    req.end(body)
  }).finally(() => session.close())
}

const b64 = (s: string): string => Buffer.from(s).toString('base64')
const b64url = (s: string): string => Buffer.from(s).toString('base64url')

describe('agent', () => {
  const auth = { authorization: `Bearer ${AGENT_TOKEN}` }
  const ROUTES: [string, string, string | undefined][] = [
    ['GET', '/v1/roots', undefined],
    ['POST', '/v1/stat', JSON.stringify({ root: 'data', path: b64('dir/ok.txt') })],
    ['POST', '/v1/list', JSON.stringify({ root: 'data', path: '' })],
    ['GET', `/v1/file?root=data&path=${b64url('dir/ok.txt')}`, undefined],
    ['GET', '/v1/nonexistent', undefined],
    ['GET', '/../v1/roots', undefined],
  ]

  it('refuses missing and wrong tokens on every route (401, no data)', async () => {
    const bad: Record<string, Record<string, string>> = {
      none: {},
      wrong: { authorization: `Bearer ${AGENT_TOKEN.slice(0, -1)}0` },
      longer: { authorization: `Bearer ${AGENT_TOKEN}0` },
      prefix: { authorization: `Bearer ${AGENT_TOKEN.slice(0, 16)}` },
      'other scheme': { authorization: `Basic ${AGENT_TOKEN}` },
      'lowercase scheme': { authorization: `bearer ${AGENT_TOKEN}` },
    }
    for (const [method, path, body] of ROUTES) {
      for (const [what, headers] of Object.entries(bad)) {
        const res = await agentRequest(method, path, headers, body)
        expect(res.status, `${method} ${path} with ${what}`).toBe(401)
        expect(res.body).not.toContain('inside')
        expect(res.body).not.toContain('data')
      }
      const ok = await agentRequest(method, path, auth, body)
      expect(ok.status).not.toBe(401)
    }
  })

  it('never serves anything outside its root, whatever the path', async () => {
    const paths = [
      '..',
      '../outside/secret',
      'dir/../../outside/secret',
      'dir/..',
      '/etc/passwd',
      '//etc/passwd',
      'link-dir',
      'link-dir/secret',
      'link-file',
      'dir/rel-link',
      'dir/./ok.txt',
      'dir//ok.txt',
      'dir/ok.txt\0',
      'dir/ok.txt/',
      `${'../'.repeat(40)}etc/passwd`,
    ]
    for (const p of paths) {
      for (const ep of ['/v1/stat', '/v1/list']) {
        const res = await agentRequest('POST', ep, auth, JSON.stringify({ root: 'data', path: b64(p) }))
        expect(res.body, `${ep} ${JSON.stringify(p)}`).not.toContain(OUTSIDE_CONTENT)
        if (ep === '/v1/list' || !p.startsWith('link') || p.includes('/')) {
          // listing through a link, or any path through one, is refused
          if (p !== 'dir/rel-link' || ep === '/v1/list')
            expect(res.status, `${ep} ${JSON.stringify(p)}: ${res.body}`).toBeGreaterThanOrEqual(400)
        }
        if (res.status === 200 && ep === '/v1/stat') {
          // a symlink itself may be described (never its target)
          expect(JSON.parse(res.body).kind, p).toBe('symlink')
        }
      }
      const file = await agentRequest('GET', `/v1/file?root=data&path=${b64url(p)}`, auth)
      expect(file.body, `file ${JSON.stringify(p)}`).not.toContain(OUTSIDE_CONTENT)
      expect(file.status, `file ${JSON.stringify(p)}`).toBeGreaterThanOrEqual(400)
    }
    // the root name is no path either
    for (const root of ['../root', '.', '..', 'data/..', '']) {
      const res = await agentRequest('POST', '/v1/list', auth, JSON.stringify({ root, path: '' }))
      expect(res.status, root).toBe(404)
    }
  })

  it('serves only regular files: FIFOs and device nodes are refused at once', async () => {
    for (const p of ['fifo', 'zero', 'dir']) {
      const res = await agentRequest('GET', `/v1/file?root=data&path=${b64url(p)}&end=1048576`, auth)
      expect(res.status, p).toBeGreaterThanOrEqual(400)
      expect(res.body.length, p).toBeLessThan(1024)
    }
  })

  it('refuses oversized and malformed request bodies', async () => {
    const big = await agentRequest('POST', '/v1/list', auth, Buffer.alloc(1024 * 1024, 0x20))
    expect(big.status).toBe(413)
    for (const body of ['', 'null', '[]', '"x"', '{"root":"data","path":"%%%"}', '{"root":1,"path":""}']) {
      const res = await agentRequest('POST', '/v1/stat', auth, body)
      expect(res.status, body).toBeGreaterThanOrEqual(400)
      expect(res.status, body).toBeLessThan(500)
    }
  })
})

describe('shared chunk store', () => {
  it('a chunk spoiled by another client (an encrypted blob under a plaintext digest) is replaced by the real one', async () => {
    const client = (id: string, secret: string) =>
      new PbsClient({
        host: '127.0.0.1',
        port: server.port,
        authId: id,
        password: secret,
        fingerprint: server.fingerprint,
      })
    for (const [i, variant] of (['smaller', 'same size'] as const).entries()) {
      const tree = join(base, `victim-tree-${i}`)
      await mkdir(tree)
      await writeFile(join(tree, 'data.bin'), randomBytes(100_000))
      // the attacker knows the victim's data: it computes the chunk digests with a private store
      const scratch = await LocalStore.open(join(base, `scratch-${i}`), { create: true })
      const probe = new LocalClient(tree)
      const learned = await runBackup(probe, {
        store: scratch,
        backupId: 'victim',
        backupTime: 1_700_000_000,
        workers: 0,
      }).finally(() => probe.close())
      const index = DynamicIndex.parse(
        await readFile(join(scratch.datastore.snapshotDir(learned.snapshotRef as never), 'root.pxar.didx')),
      )
      const digest = index.digest(0)
      const realSize = (await readFile(scratch.datastore.chunkStore.chunkPath(digest))).length
      const key = new CryptConfig(randomBytes(32))
      const overhead = encodeBlob(randomBytes(1000), { crypt: key }).length - 1000
      const fake = encodeBlob(randomBytes(variant === 'smaller' ? 64 : realSize - overhead), { crypt: key })
      if (variant === 'same size') expect(fake.length).toBe(realSize)
      // the attacker stores it under that digest in a session of its own
      const session = await new PbsRemoteStore(client(OTHER_ID, OTHER_SECRET), server.name).beginBackup({
        snapshot: { ns: [], type: 'host', id: `attacker-${i}`, time: 1_700_000_000 },
      })
      const w = await session.createDynamicIndex('x.didx')
      await w.uploadChunk(digest, index.end(0), fake)
      await session.abort()
      // the victim backs up the same data to the server
      const src = new LocalClient(tree)
      const r = await runBackup(src, {
        store: new PbsRemoteStore(client(TOKEN_ID, SECRET), server.name),
        backupId: `victim-${i}`,
        workers: 0,
      }).finally(() => src.close())
      const dir = r.snapshotRef as never
      const v = await verifySnapshot(server.datastore, dir)
      expect(v.ok, `${variant}: ${JSON.stringify(v.errors)}`).toBe(true)
      const target = join(base, `victim-restore-${i}`)
      await restoreSnapshot(server.datastore, dir, 'root.pxar', target)
      expect((await readFile(join(target, 'data.bin'))).equals(await readFile(join(tree, 'data.bin')))).toBe(
        true,
      )
    }
  })
})

describe('certificate pinning fails closed', () => {
  /** A TLS server with a fresh certificate that records every application byte it receives. */
  async function recordingServer(): Promise<{ port: number; received: () => number; close: () => void }> {
    const cert = await generateAgentCertificate()
    let received = 0
    const srv = tls.createServer(
      { cert: cert.cert, key: cert.key, ALPNProtocols: ['h2', 'http/1.1'] },
      (s) => {
        s.on('data', (d: Buffer) => (received += d.length))
        s.on('error', () => {})
      },
    )
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()))
    return {
      port: (srv.address() as { port: number }).port,
      received: () => received,
      close: () => srv.close(),
    }
  }

  it('PBS client: a (pinned) server sending an endless answer cannot exhaust memory', async () => {
    const cert = await generateAgentCertificate()
    const srv = tls.createServer({ cert: cert.cert, key: cert.key }, (s) => {
      s.on('error', () => {})
      s.once('data', () => {
        s.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{"data":"')
        const piece = Buffer.alloc(1 << 20, 0x61)
        const pump = (): void => {
          while (!s.destroyed && s.write(piece)) {}
          if (!s.destroyed) s.once('drain', pump)
        }
        pump()
      })
    })
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()))
    try {
      const client = new PbsClient({
        host: '127.0.0.1',
        port: (srv.address() as { port: number }).port,
        authId: TOKEN_ID,
        password: SECRET,
        fingerprint: cert.fingerprint,
      })
      const before = process.memoryUsage().rss
      const err = await getVersion(client).catch((e: unknown) => e)
      expect((err as { code?: string }).code).toBe('ERR_PBS_PROTOCOL')
      expect(String((err as Error).message)).toMatch(/larger than/)
      expect(process.memoryUsage().rss - before).toBeLessThan(512 * 1024 * 1024)
    } finally {
      srv.close()
    }
  })

  it('PBS reader: a (pinned) server streaming an endless HTTP/2 answer cannot exhaust memory', async () => {
    const cert = await generateAgentCertificate()
    const srv = tls.createServer({ cert: cert.cert, key: cert.key }, (socket) => {
      socket.on('error', () => {})
      socket.once('data', () => {
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: proxmox-backup-reader-protocol-v1\r\n\r\n',
          () => {
            const session = http2.performServerHandshake(socket)
            session.on('error', () => {})
            session.on('stream', (stream) => {
              stream.on('error', () => {})
              stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' })
              const piece = Buffer.alloc(1 << 20, 0x62)
              const pump = (): void => {
                while (!stream.destroyed && !stream.closed && stream.write(piece)) {}
                if (!stream.destroyed && !stream.closed) stream.once('drain', pump)
              }
              pump()
            })
          },
        )
      })
    })
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()))
    try {
      const client = new PbsClient({
        host: '127.0.0.1',
        port: (srv.address() as { port: number }).port,
        authId: TOKEN_ID,
        password: SECRET,
        fingerprint: cert.fingerprint,
      })
      const before = process.memoryUsage().rss
      const reader = await PbsReader.open(client, 'store', {
        ns: [],
        type: 'host',
        id: 'x',
        time: 1_700_000_000,
      })
      try {
        // a chunk may not be bigger than the largest blob
        const chunk = await reader.readChunk(new Uint8Array(32)).catch((e: unknown) => e)
        expect((chunk as { code?: string }).code).toBe('ERR_PBS_PROTOCOL')
        expect(String((chunk as Error).message)).toMatch(/larger than/)
      } finally {
        await reader.close().catch(() => {})
      }
      expect(process.memoryUsage().rss - before).toBeLessThan(512 * 1024 * 1024)
    } finally {
      srv.close()
    }
  })

  it('agent client: a wrong pin is refused before the token is sent', async () => {
    const rec = await recordingServer()
    try {
      const wrong = agent.fingerprint
      const err = await connectAgent({
        url: `https://127.0.0.1:${rec.port}`,
        token: AGENT_TOKEN,
        fingerprint: wrong,
        root: 'data',
      }).catch((e: unknown) => e)
      expect((err as { code?: string }).code).toBe('ERR_PBS_CERT')
      expect(String((err as Error).message)).not.toContain(AGENT_TOKEN)
      await new Promise((r) => setTimeout(r, 200))
      expect(rec.received()).toBe(0)
    } finally {
      rec.close()
    }
  })

  it('PBS client: a wrong pin is refused before the token is sent', async () => {
    const rec = await recordingServer()
    try {
      const client = new PbsClient({
        host: '127.0.0.1',
        port: rec.port,
        authId: TOKEN_ID,
        password: SECRET,
        fingerprint: server.fingerprint,
      })
      const err = await getVersion(client).catch((e: unknown) => e)
      expect((err as { code?: string }).code).toBe('ERR_PBS_CERT')
      expect(String((err as Error).message)).not.toContain(SECRET)
      await new Promise((r) => setTimeout(r, 200))
      expect(rec.received()).toBe(0)
      // and against the real server with someone else's fingerprint
      const wrongPin = new PbsClient({
        host: '127.0.0.1',
        port: server.port,
        authId: TOKEN_ID,
        password: SECRET,
        fingerprint: agent.fingerprint,
      })
      await expect(getVersion(wrongPin)).rejects.toMatchObject({ code: 'ERR_PBS_CERT' })
      // without a pin, a self-signed certificate is not trusted either
      const unpinned = new PbsClient({
        host: '127.0.0.1',
        port: rec.port,
        authId: TOKEN_ID,
        password: SECRET,
      })
      await expect(getVersion(unpinned)).rejects.toMatchObject({ code: 'ERR_PBS_CERT' })
      expect(rec.received()).toBe(0)
    } finally {
      rec.close()
    }
  })
})
