/**
 * The backup server's side of the agent transport: a {@link FileSystemSource} over HTTP/2 + TLS
 * that pins the agent's certificate by SHA-256 fingerprint.
 */

import { createHash } from 'node:crypto'
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2'
import { type TLSSocket, connect as tlsConnect } from 'node:tls'
import { isPxarError, PXAR_ERROR_CODES, PxarError, type PxarErrorCode } from '@pxar/format'
import type { DirListing, FileSystemSource, ListDirOptions, SourceEntry } from '../source.ts'
import { colonHex, normalizeFingerprint } from './cert.ts'
import { checkSourcePath } from './path.ts'
import { entryFromWire, listingFromWire, WireError } from './wire.ts'

const STREAM_WINDOW = 4 * 1024 * 1024
const SESSION_WINDOW = 16 * 1024 * 1024

/** Options of {@link connectAgent}. */
export interface ConnectAgentOptions {
  /** `https://host:port` of the agent. */
  readonly url: string
  /** The agent's bearer token. */
  readonly token: string
  /**
   * SHA-256 fingerprint of the agent's certificate (colon-hex, as the agent prints it). The
   * connection is refused unless the certificate matches. Without it, normal CA verification applies.
   */
  readonly fingerprint?: string
  /** Name of the served root to read. */
  readonly root: string
  /** Largest metadata response accepted (default 256 MiB). */
  readonly maxResponseBytes?: number
}

/** A {@link FileSystemSource} served by a remote agent. */
export interface AgentSource extends FileSystemSource {
  /** Names of the roots the agent serves. */
  roots(): Promise<string[]>
}

/**
 * Connects to an agent and returns its root `root` as a {@link FileSystemSource}.
 * @throws {PxarError} `ERR_PBS_CERT` when the certificate does not match the pin,
 *   `ERR_PBS_HTTP` when the agent cannot be reached.
 * @example
 * const src = await connectAgent({ url: 'https://host:8008', token, fingerprint, root: 'data' })
 * const { entries } = await src.listDir(new Uint8Array(0))
 */
export async function connectAgent(options: ConnectAgentOptions): Promise<AgentSource> {
  const url = new URL(options.url)
  if (url.protocol !== 'https:') throw new TypeError('agent url must be https://')
  if (typeof options.root !== 'string' || options.root === '')
    throw new TypeError('root must be a non-empty string')
  const pin = options.fingerprint === undefined ? undefined : normalizeFingerprint(options.fingerprint)
  const maxResponse = options.maxResponseBytes ?? 256 * 1024 * 1024
  const auth = `Bearer ${options.token}`

  const host = url.hostname.replace(/^\[|\]$/g, '')
  // TLS first, checked against the pin, and only then HTTP/2 on top: nothing (not even the
  // token) is sent to an agent whose certificate does not match.
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const s = tlsConnect({
      host,
      port: Number(url.port || 443),
      ALPNProtocols: ['h2'],
      ...(/^[0-9.]+$|:/.test(host) ? {} : { servername: host }),
      // With a pin the certificate is checked below instead of against CAs; without, normally.
      rejectUnauthorized: pin === undefined,
    })
    s.once('error', (err) =>
      reject(
        new PxarError('ERR_PBS_HTTP', `cannot connect to agent ${url.host}: ${err.message}`, { cause: err }),
      ),
    )
    s.once('secureConnect', () => {
      if (pin !== undefined) {
        const cert = s.getPeerCertificate(false)
        const got = cert?.raw ? createHash('sha256').update(cert.raw).digest('hex') : ''
        if (got !== pin) {
          s.destroy()
          const shown = got ? colonHex(Buffer.from(got, 'hex')) : '(none)'
          reject(
            new PxarError(
              'ERR_PBS_CERT',
              `agent certificate fingerprint ${shown} does not match the pinned one`,
            ),
          )
          return
        }
      }
      if (s.alpnProtocol !== 'h2') {
        s.destroy()
        reject(new PxarError('ERR_PBS_PROTOCOL', 'agent does not speak HTTP/2'))
        return
      }
      resolve(s)
    })
  })
  // Larger flow-control windows than HTTP/2's 64 KiB default, so that a file stream is not
  // throttled by the round trip; memory stays bounded by them.
  const session: ClientHttp2Session = http2.connect(url, {
    createConnection: () => socket,
    settings: { initialWindowSize: STREAM_WINDOW },
  })
  session.on('error', () => {})
  if (session.connecting) {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        session.off('connect', onConnect)
        reject(
          new PxarError('ERR_PBS_HTTP', `cannot connect to agent ${url.host}: ${err.message}`, {
            cause: err,
          }),
        )
      }
      const onConnect = (): void => {
        session.off('error', onError)
        resolve()
      }
      session.once('error', onError)
      session.once('connect', onConnect)
    })
  }

  session.setLocalWindowSize(SESSION_WINDOW)

  const request = (headers: http2.OutgoingHttpHeaders, body?: Buffer): ClientHttp2Stream => {
    if (session.closed || session.destroyed) throw new PxarError('ERR_PBS_HTTP', 'agent connection is closed')
    const stream = session.request({ ...headers, authorization: auth }, { endStream: body === undefined })
    if (body !== undefined) stream.end(body)
    return stream
  }

  const responseHeaders = (stream: ClientHttp2Stream): Promise<IncomingHttpHeaders> =>
    new Promise((resolve, reject) => {
      const onErr = (err: Error): void => reject(transportError(err))
      stream.once('error', onErr)
      stream.once('response', (h) => {
        stream.off('error', onErr)
        resolve(h)
      })
    })

  const readAll = async (stream: ClientHttp2Stream, limit: number): Promise<Buffer> => {
    const parts: Buffer[] = []
    let n = 0
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        n += chunk.length
        if (n > limit) {
          stream.close(http2.constants.NGHTTP2_CANCEL)
          throw new PxarError('ERR_PBS_PROTOCOL', `agent response larger than ${limit} bytes`)
        }
        parts.push(chunk)
      }
    } catch (err) {
      if (isPxarError(err)) throw err
      throw transportError(err as Error)
    }
    return Buffer.concat(parts)
  }

  const failIfNotOk = async (stream: ClientHttp2Stream, h: IncomingHttpHeaders): Promise<void> => {
    const status = Number(h[':status'])
    if (status === 200) return
    const text = (await readAll(stream, 64 * 1024)).toString('utf8')
    let code: PxarErrorCode = status === 401 ? 'ERR_PBS_AUTH' : 'ERR_PBS_HTTP'
    let message = text
    try {
      const e = JSON.parse(text) as { code?: unknown; message?: unknown }
      if (typeof e.code === 'string' && (PXAR_ERROR_CODES as readonly string[]).includes(e.code))
        code = e.code as PxarErrorCode
      if (typeof e.message === 'string') message = e.message
    } catch {}
    throw new PxarError(code, `agent: ${message} (HTTP ${status})`)
  }

  const json = async (path: string, body: unknown): Promise<unknown> => {
    const stream = request(
      { ':method': 'POST', ':path': path, 'content-type': 'application/json' },
      Buffer.from(JSON.stringify(body)),
    )
    const h = await responseHeaders(stream)
    await failIfNotOk(stream, h)
    const data = await readAll(stream, maxResponse)
    try {
      return JSON.parse(data.toString('utf8'))
    } catch {
      throw new PxarError('ERR_PBS_PROTOCOL', 'agent sent malformed JSON')
    }
  }

  const wire = <T>(f: () => T): T => {
    try {
      return f()
    } catch (err) {
      if (err instanceof WireError)
        throw new PxarError('ERR_PBS_PROTOCOL', `agent sent a bad message: ${err.message}`)
      throw err
    }
  }
  const b64 = (p: Uint8Array): string => Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('base64')
  const root = options.root

  return {
    async roots(): Promise<string[]> {
      const stream = request({ ':method': 'GET', ':path': '/v1/roots' })
      const h = await responseHeaders(stream)
      await failIfNotOk(stream, h)
      const v = JSON.parse((await readAll(stream, 1024 * 1024)).toString('utf8')) as { roots?: unknown }
      if (!Array.isArray(v.roots) || !v.roots.every((r) => typeof r === 'string'))
        throw new PxarError('ERR_PBS_PROTOCOL', 'agent sent a bad root list')
      return v.roots as string[]
    },
    async stat(path: Uint8Array, opts: ListDirOptions = {}): Promise<SourceEntry> {
      checkSourcePath(path)
      const v = await json('/v1/stat', { root, path: b64(path), options: opts })
      return wire(() => entryFromWire(v))
    },
    async listDir(path: Uint8Array, opts: ListDirOptions = {}): Promise<DirListing> {
      checkSourcePath(path)
      const v = await json('/v1/list', { root, path: b64(path), options: opts })
      return wire(() => listingFromWire(v))
    },
    async *readFile(path: Uint8Array, start = 0, end?: number): AsyncIterable<Uint8Array> {
      checkSourcePath(path)
      if (!Number.isSafeInteger(start) || start < 0)
        throw new RangeError('start must be a non-negative integer')
      if (end !== undefined && (!Number.isSafeInteger(end) || end < start))
        throw new RangeError('end must be an integer >= start')
      const q = new URLSearchParams({
        root,
        path: Buffer.from(path).toString('base64url'),
        start: String(start),
      })
      if (end !== undefined) q.set('end', String(end))
      const stream = request({ ':method': 'GET', ':path': `/v1/file?${q}` })
      let done = false
      try {
        const h = await responseHeaders(stream)
        await failIfNotOk(stream, h)
        try {
          for await (const chunk of stream as AsyncIterable<Buffer>) yield chunk
        } catch (err) {
          throw transportError(err as Error)
        }
        if (stream.rstCode !== undefined && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR)
          throw new PxarError('ERR_PXAR_IO', `agent aborted the transfer (code ${stream.rstCode})`)
        done = true
      } finally {
        if (!done && !stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL)
      }
    },
    async close(): Promise<void> {
      if (session.closed || session.destroyed) return
      await new Promise<void>((resolve) => session.close(() => resolve()))
    },
  }
}

function transportError(err: Error): PxarError {
  if (isPxarError(err)) return err
  return new PxarError('ERR_PBS_HTTP', `agent transfer failed: ${err.message}`, { cause: err })
}
