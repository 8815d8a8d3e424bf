/**
 * Fuzz targets for the request handlers: the agent's JSON wire decoding, the agent's HTTP/2
 * request handler, and the server's REST, upgrade and backup-protocol handlers. The agent and the
 * server run in this process on loopback; each input is one request (or one session of requests).
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import http2 from 'node:http2'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import { encodeBlob, sha256, toHex } from '@pxar/datastore'
import { createMetadata, isPxarError, PXAR_ERROR_CODES } from '@pxar/format'
import {
  type Agent,
  type DirListing,
  entryFromWire,
  entryToWire,
  type FileSystemSource,
  LocalClient,
  listingFromWire,
  listingToWire,
  metadataFromWire,
  type SourceEntry,
  startAgent,
} from '@pxar/proxy'
import { type RunningServer, startServer } from '@pxar/server'
import { mutate, mutateJson, NO_HINTS } from './mutate.ts'
import { defineTarget, type Seed, type Target } from './targets.ts'

const enc = new TextEncoder()
const dec = new TextDecoder()
const text = (s: string): Uint8Array => enc.encode(s)

/** Raised by a harness for an answer that breaks the handler's contract. */
class ContractError extends Error {
  override name = 'ContractError'
}

/** Messages of JavaScript's own errors: a handler that answers with one let an untyped error escape. */
const INTERNAL_ERROR =
  /Cannot read propert|Cannot set propert|Cannot convert|is not a function|is not iterable|is not defined|of undefined|of null|Invalid (?:typed )?array length|Invalid DataView|outside the bounds|The value of "|Array buffer allocation failed|Maximum call stack|Unexpected token|Unexpected end of JSON|Do not know how to serialize|Invalid URL|\[object /

// ---- agent wire decoding ----------------------------------------------------------------------

function sampleEntries(): SourceEntry[] {
  const meta = createMetadata({
    mode: 0o100644,
    flags: 0,
    uid: 1000,
    gid: 1000,
    mtime: { secs: 1_700_000_000, nanos: 123 },
    xattrs: [{ name: text('user.comment'), value: text('hello') }],
    acl: {
      users: [{ uid: 1001, permissions: 6 }],
      groups: [{ gid: 100, permissions: 4 }],
      groupObj: { permissions: 5 },
      default: { userObjPermissions: 7, groupObjPermissions: 5, otherPermissions: 0, maskPermissions: 7 },
      defaultUsers: [{ uid: 2 ** 40, permissions: 7 }],
      defaultGroups: [],
    },
    fcaps: new Uint8Array([1, 0, 0, 2, 0, 0, 0, 0]),
    quotaProjectId: 2n ** 60n,
  })
  const dirMeta = createMetadata({ mode: 0o40755, mtime: { secs: -5, nanos: 0 } })
  return [
    { name: text('file.txt'), kind: 'file', metadata: meta, size: 12345, dev: '2049', ino: '42', nlink: 1 },
    { name: text('dir'), kind: 'directory', metadata: dirMeta, size: 0, dev: '2049', ino: '43', nlink: 2 },
    {
      name: text('link'),
      kind: 'symlink',
      metadata: createMetadata({ mode: 0o120777 }),
      size: 8,
      dev: '2049',
      ino: '44',
      nlink: 1,
      linkTarget: text('file.txt'),
    },
    {
      name: new Uint8Array([0xff, 0xfe, 0x41]),
      kind: 'char-device',
      metadata: createMetadata({ mode: 0o20600 }),
      size: 0,
      dev: '5',
      ino: '18446744073709551615',
      nlink: 1,
      rdev: { major: 4, minor: 64 },
    },
  ]
}

function wireSeeds(): Seed[] {
  const entries = sampleEntries()
  const listing: DirListing = {
    entries,
    skipped: [{ path: text('gone'), code: 'ENOENT', message: 'vanished while listing' }],
  }
  const seeds: Seed[] = entries.map((e, k) => ({
    name: `entry-${k}`,
    bytes: text(`E${JSON.stringify(entryToWire(e))}`),
  }))
  seeds.push({ name: 'listing', bytes: text(`L${JSON.stringify(listingToWire(listing))}`) })
  seeds.push({ name: 'metadata', bytes: text(`M${JSON.stringify(entryToWire(entries[0]!))}`) })
  return seeds
}

/**
 * The first byte picks the decoder (`E` entry, `L` listing, `M` metadata of an entry), the rest is
 * the JSON message. What decodes must encode and decode to the same value.
 */
const wire: Target = defineTarget({
  name: 'agent-wire',
  description: 'agent JSON wire decoding: entryFromWire, listingFromWire, metadataFromWire, round trip',
  seeds: () => wireSeeds(),
  mutate(seed, rng) {
    const out = mutateJson(seed.subarray(1), rng)
    const head = rng.below(8) === 0 ? text('ELM')[rng.below(3)]! : seed[0]!
    const res = new Uint8Array(out.length + 1)
    res[0] = head
    res.set(out, 1)
    return res
  },
  async run(input) {
    let value: unknown
    try {
      value = JSON.parse(dec.decode(input.subarray(1)))
    } catch {
      return // not JSON: never reaches the decoders (the client's JSON.parse comes first)
    }
    switch (input[0]) {
      case 0x45: {
        const e = entryFromWire(value)
        const again = entryFromWire(JSON.parse(JSON.stringify(entryToWire(e))))
        if (JSON.stringify(entryToWire(again)) !== JSON.stringify(entryToWire(e)))
          throw new ContractError('entry does not survive a wire round trip')
        break
      }
      case 0x4c: {
        const l = listingFromWire(value)
        const again = listingFromWire(JSON.parse(JSON.stringify(listingToWire(l))))
        if (again.entries.length !== l.entries.length || again.skipped.length !== l.skipped.length)
          throw new ContractError('listing does not survive a wire round trip')
        break
      }
      default:
        metadataFromWire((value as { metadata?: unknown } | null)?.metadata)
    }
  },
})

// ---- agent HTTP/2 request handler -------------------------------------------------------------

const AGENT_TOKEN = 'fuzz-agent-token-0123456789'

/** A source that records errors which are not typed (they would reach the client as a 500). */
class CheckedSource implements FileSystemSource {
  readonly inner: FileSystemSource
  untyped: unknown[] = []
  typed = 0
  constructor(inner: FileSystemSource) {
    this.inner = inner
  }
  #check(err: unknown): never {
    if (isPxarError(err)) this.typed++
    else this.untyped.push(err)
    throw err
  }
  stat(path: Uint8Array, options?: Parameters<FileSystemSource['stat']>[1]): Promise<SourceEntry> {
    return this.inner.stat(path, options).catch((err: unknown) => this.#check(err))
  }
  listDir(path: Uint8Array, options?: Parameters<FileSystemSource['listDir']>[1]): Promise<DirListing> {
    return this.inner.listDir(path, options).catch((err: unknown) => this.#check(err))
  }
  async *readFile(path: Uint8Array, start?: number, end?: number): AsyncIterable<Uint8Array> {
    try {
      yield* this.inner.readFile(path, start, end)
    } catch (err) {
      this.#check(err)
    }
  }
  close(): Promise<void> {
    return this.inner.close()
  }
}

interface AgentState {
  dir: string
  agent: Agent
  source: CheckedSource
  session?: http2.ClientHttp2Session
}
let agentState: AgentState | undefined

function agentSession(s: AgentState): http2.ClientHttp2Session {
  if (!s.session || s.session.closed || s.session.destroyed) {
    s.session = http2.connect(s.agent.url, { rejectUnauthorized: false })
    s.session.on('error', () => {})
  }
  return s.session
}

const b64 = (s: string): string => Buffer.from(s).toString('base64')
const b64url = (s: string): string => Buffer.from(s).toString('base64url')

function agentSeeds(): Seed[] {
  const auth = 'authorization: Bearer $TOKEN\n'
  const post = (path: string, body: unknown): string =>
    `POST ${path}\n${auth}content-type: application/json\n\n${JSON.stringify(body)}`
  const list = [
    `GET /v1/roots\n${auth}\n`,
    post('/v1/stat', { root: 'data', path: b64('a.txt') }),
    post('/v1/stat', { root: 'data', path: b64('link'), options: { xattrs: true, acls: true, fcaps: true } }),
    post('/v1/list', { root: 'data', path: '' }),
    post('/v1/list', { root: 'data', path: b64('dir/sub'), options: { xattrs: false } }),
    post('/v1/list', { root: 'data', path: b64('../etc') }),
    `GET /v1/file?root=data&path=${b64url('a.txt')}&start=2&end=9\n${auth}\n`,
    `GET /v1/file?root=data&path=${b64url('dir/sub/c.bin')}\n${auth}\n`,
    `GET /v1/file?root=data&path=${b64url('link')}&start=0\n${auth}\n`,
    `GET /v1/file?root=data&path=${b64url('escape')}\n${auth}\n`,
    `GET /v1/file?root=data&path=${b64url('dir/../../outside.txt')}\n${auth}\n`,
    `GET /v1/file?root=data&path=${b64url('/etc/hostname')}\n${auth}\n`,
    post('/v1/list', { root: 'data', path: b64('escape/') }),
    post('/v1/stat', { root: 'data', path: b64('..') }),
    `GET /v1/roots\nauthorization: Bearer wrong-token-wrong-token\n\n`,
    `DELETE /v1/file\n${auth}\n`,
  ]
  return list.map((s, k) => ({ name: `request-${k}`, bytes: text(s) }))
}

interface RawRequest {
  headers: Record<string, string>
  body: Uint8Array
}

/** `METHOD PATH\nname: value\n…\n\nbody`; `$TOKEN`/`$AUTH` stand for the right credentials. */
function parseRequest(input: Uint8Array, creds: Record<string, string>): RawRequest | undefined {
  let cut = -1
  for (let k = 0; k + 1 < input.length; k++) {
    if (input[k] === 0x0a && input[k + 1] === 0x0a) {
      cut = k
      break
    }
  }
  const head = dec.decode(cut < 0 ? input : input.subarray(0, cut))
  const body = cut < 0 ? new Uint8Array(0) : input.subarray(cut + 2)
  const lines = head.split('\n')
  const [method, path] = (lines[0] ?? '').split(' ')
  if (!method || !path) return undefined
  const headers: Record<string, string> = { ':method': method, ':path': path }
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    let value = line.slice(colon + 1).trim()
    for (const [k, v] of Object.entries(creds)) value = value.replaceAll(k, v)
    headers[line.slice(0, colon).trim().toLowerCase()] = value
  }
  return validHeaders(headers) ? { headers, body } : undefined
}

/**
 * Whether Node's HTTP/2 client can send these headers at all: it fails its whole session (and
 * leaves the request pending) on a header name that is not a token, so such inputs are skipped.
 */
function validHeaders(headers: Record<string, string>): boolean {
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith(':') && !/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) return false
    if (/[^\t\x20-\x7e\x80-\xff]/.test(value)) return false
  }
  return true
}

interface H2Answer {
  status: number
  body: Buffer
  reset: boolean
}

/** Sends one request on an HTTP/2 session; `undefined` when the client refused to send it. */
function h2Request(
  session: http2.ClientHttp2Session,
  req: RawRequest,
  timeoutMs: number,
): Promise<H2Answer | undefined> {
  let stream: http2.ClientHttp2Stream
  try {
    stream = session.request(req.headers, { endStream: false })
  } catch {
    return Promise.resolve(undefined) // invalid header names or values: the client refuses them
  }
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = []
    let status = 0
    let size = 0
    // the client's own session failure leaves its streams pending: count it as not sent
    const onSessionClose = (): void => {
      clearTimeout(timer)
      resolve(status === 0 ? undefined : { status, body: Buffer.concat(parts), reset: true })
    }
    session.once('close', onSessionClose)
    const timer = setTimeout(() => {
      stream.close(http2.constants.NGHTTP2_CANCEL)
      reject(new ContractError(`no answer within ${timeoutMs} ms`))
    }, timeoutMs)
    stream.on('response', (h) => {
      status = Number(h[':status'])
    })
    stream.on('data', (d: Buffer) => {
      size += d.length
      if (size <= 1 << 20) parts.push(d)
    })
    stream.on('error', () => {})
    stream.on('close', () => {
      clearTimeout(timer)
      session.off('close', onSessionClose)
      const code = stream.rstCode ?? 0
      resolve({
        status,
        body: Buffer.concat(parts),
        reset: code !== 0 && code !== http2.constants.NGHTTP2_NO_ERROR,
      })
    })
    stream.end(req.body)
  })
}

const AGENT_STATUSES = new Set([200, 400, 401, 404, 413])

const agent: Target = defineTarget({
  name: 'agent-http',
  description: 'agent HTTP/2 request handler (roots, stat, list, file) driven with malformed requests',
  timeMs: 10_000,
  seeds: () => agentSeeds(),
  mutate(seed, rng) {
    // mostly keep the head sendable: mutate the body, or the head's tokens, or (less often) any byte
    const cut = seed.indexOf(0x0a) // end of the request line
    const blank = Buffer.from(seed).indexOf('\n\n')
    switch (rng.below(4)) {
      case 0:
        return mutate(seed, NO_HINTS, rng, 3)
      case 1: {
        if (cut < 0) return mutateJson(seed, rng)
        const line = mutateJson(seed.subarray(0, cut), rng)
        return Uint8Array.from([...line, ...seed.subarray(cut)])
      }
      default: {
        if (blank < 0) return mutateJson(seed, rng)
        const body = mutateJson(seed.subarray(blank + 2), rng)
        return Uint8Array.from([...seed.subarray(0, blank + 2), ...body])
      }
    }
  },
  async setup() {
    const dir = mkdtempSync(join(tmpdir(), 'pxar-fuzz-agent-'))
    const root = join(dir, 'root')
    mkdirSync(join(root, 'dir', 'sub'), { recursive: true })
    writeFileSync(join(root, 'a.txt'), 'hello agent fuzzing\n')
    writeFileSync(join(root, 'dir', 'sub', 'c.bin'), new Uint8Array(70_000).fill(0x5a))
    writeFileSync(join(dir, 'outside.txt'), 'must never be served\n')
    symlinkSync('a.txt', join(root, 'link'))
    symlinkSync('../outside.txt', join(root, 'escape'))
    const source = new CheckedSource(new LocalClient(root))
    const a = await startAgent({
      roots: { data: source },
      token: AGENT_TOKEN,
      certDir: join(dir, 'cert'),
      maxRequestBytes: 4096,
    })
    agentState = { dir, agent: a, source }
  },
  async teardown() {
    const s = agentState
    agentState = undefined
    if (!s) return
    s.session?.destroy()
    await s.agent.close()
    rmSync(s.dir, { recursive: true, force: true })
  },
  async run(input) {
    const s = agentState
    if (!s) throw new TypeError('agent-http: setup() was not called')
    const req = parseRequest(input, { $TOKEN: AGENT_TOKEN })
    if (!req) return
    s.source.untyped = []
    s.source.typed = 0
    const answer = await h2Request(agentSession(s), req, 8000)
    if (s.source.untyped.length > 0) throw s.source.untyped[0]
    if (!answer || answer.reset) return
    if (answer.status === 200) {
      if (answer.body.includes('must never be served'))
        throw new ContractError('served a file outside the root')
      return
    }
    if (!AGENT_STATUSES.has(answer.status) && !(answer.status === 500 && s.source.typed > 0))
      throw new ContractError(`status ${answer.status}: ${answer.body.toString().slice(0, 200)}`)
    let err: { code?: unknown; message?: unknown }
    try {
      err = JSON.parse(answer.body.toString('utf8'))
    } catch {
      throw new ContractError(`error answer is not JSON: ${answer.body.toString().slice(0, 200)}`)
    }
    if (!(PXAR_ERROR_CODES as readonly unknown[]).includes(err.code) || typeof err.message !== 'string')
      throw new ContractError(`error answer without a code: ${answer.body.toString().slice(0, 200)}`)
  },
})

// ---- server -----------------------------------------------------------------------------------

const SERVER_TOKEN_ID = 'root@pam!fuzz'
const SERVER_SECRET = 'f0e1d2c3-fuzz-secret'
const AUTH = `PBSAPIToken ${SERVER_TOKEN_ID}:${SERVER_SECRET}`

interface ServerState {
  dir: string
  server: RunningServer
}
let serverState: ServerState | undefined

function tlsConnect(port: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false })
    socket.once('secureConnect', () => resolve(socket))
    socket.once('error', reject)
  })
}

const SERVER_STATUSES = new Set([101, 200, 400, 401, 403, 404, 413, 431])

function checkMessage(status: number, message: string): void {
  if (!SERVER_STATUSES.has(status)) throw new ContractError(`status ${status}: ${message.slice(0, 200)}`)
  if (status !== 200 && INTERNAL_ERROR.test(message))
    throw new ContractError(`status ${status} answers with an internal error: ${message.slice(0, 200)}`)
}

/** Sends raw HTTP/1.1 bytes, half-closes, and checks every answer that comes back. */
async function rawHttp(port: number, bytes: Uint8Array, timeoutMs: number): Promise<void> {
  const socket = await tlsConnect(port)
  const got: Buffer[] = []
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new ContractError(`connection not closed within ${timeoutMs} ms`))
    }, timeoutMs)
    socket.on('data', (d: Buffer) => {
      got.push(d)
      // an upgraded connection stays open: it is the HTTP/2 session's business (see the backup target)
      if (Buffer.concat(got).includes('HTTP/1.1 101 ')) socket.destroy()
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      resolve()
    })
    socket.end(bytes)
  })
  const all = Buffer.concat(got).toString('latin1')
  for (const m of all.matchAll(/HTTP\/1\.1 (\d{3}) [^\r\n]*\r\n((?:[^\r\n]+\r\n)*)\r\n/g)) {
    const status = Number(m[1])
    const length = /content-length: *(\d+)/i.exec(m[2] ?? '')
    const start = (m.index ?? 0) + m[0].length
    const body = length ? all.slice(start, start + Number(length[1])) : all.slice(start, start + 400)
    checkMessage(status, body)
  }
}

function restSeeds(): Seed[] {
  const get = (path: string): string =>
    `GET ${path} HTTP/1.1\r\nhost: localhost\r\nauthorization: $AUTH\r\n\r\n`
  const withBody = (method: string, path: string, type: string, body: string): string =>
    `${method} ${path} HTTP/1.1\r\nhost: localhost\r\nauthorization: $AUTH\r\ncontent-type: ${type}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  const list = [
    get('/api2/json/version'),
    get('/api2/json/admin/datastore'),
    get('/api2/json/admin/datastore/store/groups'),
    get('/api2/json/admin/datastore/store/snapshots?backup-type=host&backup-id=fz'),
    get('/api2/json/admin/datastore/store/files?backup-type=host&backup-id=fz&backup-time=1700000000'),
    get('/api2/json/admin/datastore/store/namespace?parent=a/b&max-depth=3'),
    get('/api2/json/admin/datastore/store/status'),
    withBody(
      'POST',
      '/api2/json/access/ticket',
      'application/json',
      '{"username":"root@pam","password":"x"}',
    ),
    withBody(
      'POST',
      '/api2/json/admin/datastore/store/prune',
      'application/json',
      '{"backup-type":"host","backup-id":"fz","keep-last":1,"dry-run":true}',
    ),
    withBody(
      'DELETE',
      '/api2/json/admin/datastore/store/snapshots',
      'application/x-www-form-urlencoded',
      'backup-type=host&backup-id=fz&backup-time=1',
    ),
    withBody('PUT', '/api2/json/admin/datastore/store/notes', 'application/json', '{"notes":"x","ns":"a"}'),
    `GET /api2/json/backup?store=store&backup-type=host&backup-id=up&backup-time=1700000001 HTTP/1.1\r\nhost: localhost\r\nconnection: upgrade\r\nupgrade: proxmox-backup-protocol-v1\r\nauthorization: $AUTH\r\n\r\n`,
    `GET /api2/json/reader?store=store&backup-type=host&backup-id=fz&backup-time=1 HTTP/1.1\r\nhost: localhost\r\nconnection: upgrade\r\nupgrade: proxmox-backup-reader-protocol-v1\r\nauthorization: $AUTH\r\n\r\n`,
    `${get('/api2/json/version')}${get('/api2/json/admin/datastore/store/groups')}`,
  ]
  return list.map((s, k) => ({ name: `rest-${k}`, bytes: text(s) }))
}

function substitute(input: Uint8Array): Uint8Array {
  const s = Buffer.from(input).toString('latin1')
  return s.includes('$AUTH') ? Buffer.from(s.replaceAll('$AUTH', AUTH), 'latin1') : input
}

async function serverSetup(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pxar-fuzz-server-'))
  const server = await startServer({
    datastore: join(dir, 'ds'),
    listen: '127.0.0.1:0',
    tokens: { [SERVER_TOKEN_ID]: SERVER_SECRET },
    users: { 'root@pam': 'fuzz-password' },
    authFailureDelayMs: 0,
  })
  serverState = { dir, server }
}

async function serverTeardown(): Promise<void> {
  const s = serverState
  serverState = undefined
  if (!s) return
  await s.server.stop()
  rmSync(s.dir, { recursive: true, force: true })
}

const serverRest: Target = defineTarget({
  name: 'server-rest',
  description:
    'server HTTP/1.1 REST API and upgrade requests (query parsing, bodies, parameters) as raw bytes',
  timeMs: 10_000,
  seeds: () => restSeeds(),
  mutate(seed, rng) {
    return rng.below(2) === 0 ? mutate(seed, NO_HINTS, rng, 3) : mutateJson(seed, rng)
  },
  setup: serverSetup,
  teardown: serverTeardown,
  async run(input) {
    const s = serverState
    if (!s) throw new TypeError('server-rest: setup() was not called')
    await rawHttp(s.server.port, substitute(input), 8000)
  },
})

/** A backup session: the upgrade query, then HTTP/2 requests, separated by `\n===\n`. */
const SECTION = text('\n===\n')

function splitSections(input: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = []
  let start = 0
  for (let k = 0; k + SECTION.length <= input.length; k++) {
    let hit = true
    for (let j = 0; j < SECTION.length; j++) {
      if (input[k + j] !== SECTION[j]) {
        hit = false
        break
      }
    }
    if (hit) {
      out.push(input.subarray(start, k))
      start = k + SECTION.length
      k = start - 1
    }
  }
  out.push(input.subarray(start))
  return out
}

function joinSections(parts: readonly (Uint8Array | string)[]): Uint8Array {
  const bytes = parts.map((p) => (typeof p === 'string' ? text(p) : p))
  const out: number[] = []
  bytes.forEach((b, k) => {
    if (k > 0) out.push(...SECTION)
    out.push(...b)
  })
  return Uint8Array.from(out)
}

/** Time of the finished snapshot `vm/100` that setup makes and every input keeps. */
const BASE_TIME = 1_600_000_000
let baseSession: Uint8Array | undefined

function backupSeeds(): Seed[] {
  const time = 1_700_000_000
  const data = new Uint8Array(5000)
  for (let k = 0; k < data.length; k++) data[k] = (k * 31 + 7) & 0xff
  const chunk = encodeBlob(data, { compress: true })
  const digest = toHex(sha256(data))
  const endLe = new Uint8Array(8)
  new DataView(endLe.buffer).setBigUint64(0, BigInt(data.length), true)
  const csum = toHex(sha256(endLe, sha256(data)))
  const manifest = {
    'backup-type': 'host',
    'backup-id': 'fz',
    'backup-time': time,
    files: [{ filename: 'root.pxar.didx', size: data.length, csum, 'crypt-mode': 'none' }],
    unprotected: {},
    signature: null,
  }
  const manifestBlob = encodeBlob(text(JSON.stringify(manifest)), { compress: false })
  const logBlob = encodeBlob(text('log line\n'), { compress: false })
  const upgrade = `BACKUP store=store&backup-type=host&backup-id=fz&backup-time=${time}`
  const full = [
    upgrade,
    'GET /',
    'POST /dynamic_index?archive-name=root.pxar.didx',
    `POST /dynamic_chunk?wid=1&digest=${digest}&size=${data.length}&encoded-size=${chunk.length}\n`,
    `PUT /dynamic_index\n${JSON.stringify({ wid: 1, 'digest-list': [digest], 'offset-list': [0] })}`,
    `POST /dynamic_close?wid=1&chunk-count=1&size=${data.length}&csum=${csum}`,
    `POST /blob?file-name=client.log.blob&encoded-size=${logBlob.length}\n`,
    `POST /blob?file-name=index.json.blob&encoded-size=${manifestBlob.length}\n`,
    'POST /finish',
  ]
  const withBodies = (parts: string[]): Uint8Array =>
    joinSections(
      parts.map((p) => {
        if (p.startsWith('POST /dynamic_chunk')) return concatBytes(text(p), chunk)
        if (p.startsWith('POST /blob?file-name=client')) return concatBytes(text(p), logBlob)
        if (p.startsWith('POST /blob?file-name=index')) return concatBytes(text(p), manifestBlob)
        return p
      }),
    )
  const fixedSize = 4096
  const fixedData = new Uint8Array(fixedSize).fill(3)
  const fixedChunk = encodeBlob(fixedData, { compress: false })
  const fixedDigest = toHex(sha256(fixedData))
  const fixed = [
    upgrade.replace('host', 'vm').replace('fz', '100'),
    `POST /fixed_index?archive-name=drive.img.fidx&size=${fixedSize}`,
    concatBytes(
      text(
        `POST /fixed_chunk?wid=1&digest=${fixedDigest}&size=${fixedSize}&encoded-size=${fixedChunk.length}\n`,
      ),
      fixedChunk,
    ),
    `PUT /fixed_index\n${JSON.stringify({ wid: 1, 'digest-list': [fixedDigest], 'offset-list': [0] })}`,
    `POST /fixed_close?wid=1&chunk-count=1&size=${fixedSize}&csum=${toHex(sha256(sha256(fixedData)))}`,
    'GET /previous?archive-name=drive.img.fidx',
    'GET /previous_backup_time',
    'POST /speedtest\nxxxxxxxx',
    'POST /finish',
  ]
  // a finished snapshot made in setup: the previous backup of the `fixed` sessions
  const fixedCsum = toHex(sha256(sha256(fixedData)))
  const baseManifest = encodeBlob(
    text(
      JSON.stringify({
        'backup-type': 'vm',
        'backup-id': '100',
        'backup-time': BASE_TIME,
        files: [{ filename: 'drive.img.fidx', size: fixedSize, csum: fixedCsum, 'crypt-mode': 'none' }],
        unprotected: {},
        signature: null,
      }),
    ),
    { compress: true },
  )
  baseSession = joinSections([
    `BACKUP store=store&backup-type=vm&backup-id=100&backup-time=${BASE_TIME}`,
    ...fixed.slice(1, 5),
    concatBytes(
      text(`POST /blob?file-name=index.json.blob&encoded-size=${baseManifest.length}\n`),
      baseManifest,
    ),
    'POST /finish',
  ])
  const read = [
    `READER store=store&backup-type=vm&backup-id=100&backup-time=${BASE_TIME}`,
    'GET /',
    `GET /chunk?digest=${fixedDigest}`,
    'GET /download?file-name=drive.img.fidx',
    `GET /chunk?digest=${fixedDigest}`,
    'GET /download?file-name=index.json.blob',
    'GET /download?file-name=missing.didx',
    'GET /download?file-name=..',
    'GET /speedtest',
  ]
  return [
    { name: 'reader', bytes: joinSections(read) },
    { name: 'dynamic', bytes: withBodies(full) },
    { name: 'fixed', bytes: joinSections(fixed) },
    { name: 'short', bytes: joinSections([upgrade, 'POST /finish']) },
  ]
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

/** Upgrades a TLS connection to the backup or reader protocol; the HTTP/2 session, or none after a refusal. */
async function upgrade(
  port: number,
  reader: boolean,
  query: string,
  timeoutMs: number,
): Promise<{ session?: http2.ClientHttp2Session; socket: tls.TLSSocket }> {
  const socket = await tlsConnect(port)
  socket.on('error', () => {})
  const [path, protocol] = reader
    ? ['reader', 'proxmox-backup-reader-protocol-v1']
    : ['backup', 'proxmox-backup-protocol-v1']
  socket.write(
    `GET /api2/json/${path}?${query} HTTP/1.1\r\nhost: localhost\r\nconnection: upgrade\r\n` +
      `upgrade: ${protocol}\r\nauthorization: ${AUTH}\r\n\r\n`,
  )
  const head = await new Promise<string>((resolve, reject) => {
    let got = ''
    const timer = setTimeout(
      () => reject(new ContractError(`no upgrade answer within ${timeoutMs} ms`)),
      timeoutMs,
    )
    const onData = (d: Buffer): void => {
      got += d.toString('latin1')
      const end = got.indexOf('\r\n\r\n')
      if (end >= 0) {
        clearTimeout(timer)
        socket.off('data', onData)
        socket.off('close', onClose)
        const rest = Buffer.from(got.slice(end + 4), 'latin1')
        if (rest.length > 0) socket.unshift(rest)
        resolve(got)
      }
    }
    const onClose = (): void => {
      clearTimeout(timer)
      resolve(got)
    }
    socket.on('data', onData)
    socket.on('close', onClose)
  })
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0)
  if (status !== 101) {
    checkMessage(status, head.slice(head.indexOf('\r\n\r\n') + 4))
    socket.destroy()
    return { socket }
  }
  const session = http2.connect('https://localhost', { createConnection: () => socket })
  session.on('error', () => {})
  return { session, socket }
}

const serverBackup: Target = defineTarget({
  name: 'server-backup',
  description:
    'server backup and reader protocols over HTTP/2: upgrade parameters, index create/append/close, chunk and blob bodies, finish, downloads',
  timeMs: 15_000,
  seeds: () => backupSeeds(),
  mutate(seed, rng) {
    const parts = splitSections(seed)
    switch (rng.below(4)) {
      case 0:
        return mutate(seed, NO_HINTS, rng, 3)
      case 1: {
        // drop, repeat or swap whole requests
        const a = rng.below(parts.length)
        const b = rng.below(parts.length)
        const op = rng.below(3)
        if (op === 0 && a > 0) parts.splice(a, 1)
        else if (op === 1) parts.splice(a, 0, parts[b]!)
        else if (a > 0 && b > 0) [parts[a], parts[b]] = [parts[b]!, parts[a]!]
        return joinSections(parts)
      }
      default: {
        // mutate one request's line or body
        const k = rng.below(parts.length)
        parts[k] = rng.below(2) === 0 ? mutateJson(parts[k]!, rng) : mutate(parts[k]!, NO_HINTS, rng, 2)
        return joinSections(parts)
      }
    }
  },
  async setup() {
    await serverSetup()
    backupSeeds()
    await runSession(serverState!, baseSession!)
  },
  teardown: serverTeardown,
  async run(input) {
    const s = serverState
    if (!s) throw new TypeError('server-backup: setup() was not called')
    await runSession(s, input)
  },
})

/** Runs one backup session input: the upgrade, then its requests in order. */
async function runSession(s: ServerState, input: Uint8Array): Promise<void> {
  const [first, ...requests] = splitSections(input)
  const line = dec.decode(first)
  const reader = line.startsWith('READER ')
  if (!reader && !line.startsWith('BACKUP ')) return
  const { session, socket } = await upgrade(s.server.port, reader, line.slice(7), 8000)
  try {
    if (!session) return
    for (const r of requests.slice(0, 32)) {
      const nl = r.indexOf(0x0a)
      const head = dec.decode(nl < 0 ? r : r.subarray(0, nl))
      const [method, path] = head.split(' ')
      if (!method || !path) continue
      const headers = { ':method': method, ':path': path }
      if (!validHeaders(headers)) continue
      const answer = await h2Request(
        session,
        { headers, body: nl < 0 ? new Uint8Array(0) : r.subarray(nl + 1) },
        8000,
      )
      if (!answer) continue
      if (answer.reset || answer.status === 0) break // the session went away
      checkMessage(answer.status, answer.body.toString('utf8'))
    }
  } finally {
    session?.destroy()
    socket.destroy()
    // the next input starts from the same datastore again (a finished snapshot would refuse it)
    await cleanDatastore(s)
  }
}

async function cleanDatastore(s: ServerState): Promise<void> {
  const ds = s.server.datastore
  // the server removes an aborted snapshot once it sees the socket close
  for (let k = 0; k < 200; k++) {
    let busy = false
    for (const g of await ds.listGroups()) {
      for (const snap of await ds.listSnapshots(g, { includeUnfinished: true })) {
        if (snap.time === BASE_TIME) continue
        if (snap.finished) await ds.removeSnapshot(snap.dir, { force: true })
        else busy = true
      }
    }
    if (!busy) return
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** The handler targets. */
export const NET_TARGETS: readonly Target[] = [wire, agent, serverRest, serverBackup]
