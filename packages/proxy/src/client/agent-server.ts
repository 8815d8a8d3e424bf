/**
 * The agent: serves local directory trees ("roots", addressed by name) to a backup server over
 * HTTP/2 + TLS with a bearer token.
 *
 * Protocol (every request carries `authorization: Bearer <token>`; errors are JSON
 * `{ code, message }` with status 400/401/404/413/500, `code` a PxarError code):
 * - `GET /v1/roots` → `{ roots: string[] }`
 * - `POST /v1/stat` and `POST /v1/list`, JSON body `{ root, path, options? }` (`path` base64 of
 *   the raw relative path, `options` as {@link ListDirOptions}) → one JSON entry / one listing
 *   (the format of `wire.ts`: base64 byte strings, u64 as number or decimal string).
 * - `GET /v1/file?root=…&path=<base64url>&start=…&end=…` → the bytes of `[start, end)` as an
 *   `application/octet-stream` body, streamed under HTTP/2 flow control. A failure after the
 *   headers went out resets the stream.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import http2, { type Http2SecureServer, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { isPxarError, PxarError } from '@pxar/format'
import type { FileSystemSource, ListDirOptions } from '../source.ts'
import { loadOrCreateAgentCertificate } from './cert.ts'
import { LocalClient } from './local.ts'
import { entryToWire, listingToWire } from './wire.ts'

/** Options of {@link startAgent}. */
export interface AgentOptions {
  /** Served trees: root name → directory (or any {@link FileSystemSource}). */
  readonly roots: Readonly<Record<string, string | FileSystemSource>>
  /** Where to listen (default `{ host: '127.0.0.1', port: 0 }`, port 0 picks a free one). */
  readonly listen?: { readonly host?: string; readonly port?: number }
  /** The bearer token clients must present (at least 16 characters). */
  readonly token: string
  /** Directory holding `agent.pem`/`agent.key`, created with a new self-signed certificate on first start. */
  readonly certDir: string
  /** Largest accepted request body (default 64 KiB). */
  readonly maxRequestBytes?: number
}

/** A running agent. */
export interface Agent {
  /** `https://host:port` to give {@link connectAgent}. */
  readonly url: string
  readonly port: number
  /** SHA-256 fingerprint of the agent certificate (colon-hex), to pin on the client. */
  readonly fingerprint: string
  /** Stops listening and closes open sessions. */
  close(): Promise<void>
}

const JSON_TYPE = 'application/json'

function statusOf(err: unknown): number {
  if (!isPxarError(err)) return 500
  switch (err.code) {
    case 'ERR_PXAR_BAD_NAME':
    case 'ERR_PBS_PROTOCOL':
      return 400
    case 'ERR_PBS_AUTH':
      return 401
    case 'ERR_PXAR_NOT_FOUND':
      return 404
    case 'ERR_PBS_HTTP':
      return 413
    default:
      return 500
  }
}

function sendJson(stream: ServerHttp2Stream, status: number, body: unknown): void {
  if (stream.destroyed || stream.closed) return
  const data = Buffer.from(JSON.stringify(body))
  if (!stream.headersSent)
    stream.respond({ ':status': status, 'content-type': JSON_TYPE, 'content-length': data.length })
  // A client still sending (an oversized body) is told to stop once the answer is out.
  stream.end(data, () => {
    if (!stream.closed) stream.close(http2.constants.NGHTTP2_NO_ERROR)
  })
}

function sendError(stream: ServerHttp2Stream, err: unknown): void {
  const status = statusOf(err)
  const code = isPxarError(err) ? err.code : 'ERR_PXAR_IO'
  const message = err instanceof Error ? err.message : String(err)
  if (stream.headersSent) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR)
  else sendJson(stream, status, { code, message })
}

function readBody(stream: ServerHttp2Stream, limit: number): Promise<Buffer> {
  // Listeners rather than async iteration: leaving a for-await loop would destroy the stream
  // before the 413 answer could go out.
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = []
    let n = 0
    const cleanup = (): void => {
      stream.off('data', onData)
      stream.off('end', onEnd)
      stream.off('error', onError)
    }
    const onData = (chunk: Buffer): void => {
      n += chunk.length
      if (n > limit) {
        cleanup()
        stream.resume() // discard the rest until the answer is out and the stream is reset
        reject(new PxarError('ERR_PBS_HTTP', `request body larger than ${limit} bytes`))
        return
      }
      parts.push(chunk)
    }
    const onEnd = (): void => {
      cleanup()
      resolve(Buffer.concat(parts))
    }
    const onError = (err: Error): void => {
      cleanup()
      reject(err)
    }
    stream.on('data', onData)
    stream.once('end', onEnd)
    stream.once('error', onError)
  })
}

function optionsOf(v: unknown): ListDirOptions {
  if (v === undefined || v === null) return {}
  if (typeof v !== 'object') throw new PxarError('ERR_PBS_PROTOCOL', 'options must be an object')
  const o = v as Record<string, unknown>
  const out: { xattrs?: boolean; acls?: boolean; fcaps?: boolean } = {}
  for (const k of ['xattrs', 'acls', 'fcaps'] as const) {
    if (o[k] === undefined) continue
    if (typeof o[k] !== 'boolean') throw new PxarError('ERR_PBS_PROTOCOL', `options.${k} must be a boolean`)
    out[k] = o[k]
  }
  return out
}

function b64Path(v: unknown): Uint8Array {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(v))
    throw new PxarError('ERR_PBS_PROTOCOL', 'path must be base64')
  return new Uint8Array(Buffer.from(v, v.includes('-') || v.includes('_') ? 'base64url' : 'base64'))
}

/** The request's `:path` as a URL; a path URL parsing refuses (e.g. `//`) is a protocol error. */
function requestUrl(path: string | undefined): URL {
  const p = path ?? '/'
  try {
    // prefixing the origin keeps `//host`-like paths a path instead of an authority
    return new URL(`https://agent${p.startsWith('/') ? '' : '/'}${p}`)
  } catch {
    throw new PxarError('ERR_PBS_PROTOCOL', 'malformed request path')
  }
}

function intParam(v: string | null, what: string): number | undefined {
  if (v === null) return undefined
  if (!/^\d{1,16}$/.test(v) || !Number.isSafeInteger(Number(v)))
    throw new PxarError('ERR_PBS_PROTOCOL', `${what} must be a non-negative integer`)
  return Number(v)
}

/**
 * Starts an agent serving `roots`. On first start a self-signed certificate is generated into
 * `certDir`; its fingerprint (returned) is what clients pin.
 * @example
 * const agent = await startAgent({ roots: { data: '/srv/data' }, token, certDir: '/etc/pxar-agent' })
 * console.log(agent.url, agent.fingerprint)
 */
export async function startAgent(options: AgentOptions): Promise<Agent> {
  if (typeof options.token !== 'string' || options.token.length < 16)
    throw new TypeError('token must be a string of at least 16 characters')
  const maxBody = options.maxRequestBytes ?? 64 * 1024
  const roots = new Map<string, FileSystemSource>()
  for (const [name, dir] of Object.entries(options.roots)) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new TypeError(`invalid root name ${JSON.stringify(name)}`)
    roots.set(name, typeof dir === 'string' ? new LocalClient(dir) : dir)
  }
  const tokenHash = createHash('sha256').update(options.token).digest()
  const cert = await loadOrCreateAgentCertificate(options.certDir)

  const authorized = (headers: IncomingHttpHeaders): boolean => {
    const auth = headers.authorization
    if (typeof auth !== 'string' || !auth.startsWith('Bearer ')) return false
    const given = createHash('sha256').update(auth.slice(7)).digest()
    return timingSafeEqual(given, tokenHash)
  }
  const rootOf = (name: unknown): FileSystemSource => {
    const src = typeof name === 'string' ? roots.get(name) : undefined
    if (!src) throw new PxarError('ERR_PXAR_NOT_FOUND', `no such root ${JSON.stringify(name)}`)
    return src
  }

  const handle = async (stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<void> => {
    if (!authorized(headers)) throw new PxarError('ERR_PBS_AUTH', 'missing or wrong bearer token')
    const method = headers[':method']
    const url = requestUrl(headers[':path'])
    if (method === 'GET' && url.pathname === '/v1/roots') {
      sendJson(stream, 200, { roots: [...roots.keys()] })
      return
    }
    if (method === 'POST' && (url.pathname === '/v1/stat' || url.pathname === '/v1/list')) {
      let req: Record<string, unknown>
      try {
        const parsed: unknown = JSON.parse((await readBody(stream, maxBody)).toString('utf8'))
        if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object')
        req = parsed as Record<string, unknown>
      } catch (err) {
        if (isPxarError(err)) throw err
        throw new PxarError('ERR_PBS_PROTOCOL', 'request body is not a JSON object')
      }
      const src = rootOf(req.root)
      const path = b64Path(req.path)
      const opts = optionsOf(req.options)
      const body =
        url.pathname === '/v1/stat'
          ? entryToWire(await src.stat(path, opts))
          : listingToWire(await src.listDir(path, opts))
      sendJson(stream, 200, body)
      return
    }
    if (method === 'GET' && url.pathname === '/v1/file') {
      const src = rootOf(url.searchParams.get('root'))
      const path = b64Path(url.searchParams.get('path') ?? '')
      const start = intParam(url.searchParams.get('start'), 'start') ?? 0
      const end = intParam(url.searchParams.get('end'), 'end')
      if (end !== undefined && end < start) throw new PxarError('ERR_PBS_PROTOCOL', 'end before start')
      const it = src.readFile(path, start, end)[Symbol.asyncIterator]()
      // Open the file (and fail with a proper status) before the headers go out.
      const first = await it.next()
      stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' })
      async function* rest(): AsyncGenerator<Uint8Array> {
        try {
          if (!first.done) yield first.value
          for (let r = await it.next(); !r.done; r = await it.next()) yield r.value
        } finally {
          await it.return?.()
        }
      }
      await pipeline(Readable.from(rest(), { objectMode: false, highWaterMark: 1 }), stream)
      return
    }
    throw new PxarError('ERR_PXAR_NOT_FOUND', `no such endpoint ${method} ${url.pathname}`)
  }

  const server: Http2SecureServer = http2.createSecureServer({
    key: cert.key,
    cert: cert.cert,
    allowHTTP1: false,
    minVersion: 'TLSv1.2',
    maxSessionMemory: 64,
    settings: { maxConcurrentStreams: 128, maxHeaderListSize: 64 * 1024 },
  })
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {})
    handle(stream, headers).catch((err: unknown) => sendError(stream, err))
  })
  server.on('sessionError', () => {})
  const sessions = new Set<http2.ServerHttp2Session>()
  server.on('session', (s) => {
    sessions.add(s)
    s.on('close', () => sessions.delete(s))
  })
  const host = options.listen?.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.listen?.port ?? 0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  return {
    url: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    fingerprint: cert.fingerprint,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      for (const s of sessions) s.close()
      // Sessions with streams that do not finish are cut after a grace period.
      const timer = setTimeout(() => {
        for (const s of sessions) s.destroy()
      }, 2000)
      await closed
      clearTimeout(timer)
      await Promise.all([...roots.values()].map((r) => r.close()))
    },
  }
}
