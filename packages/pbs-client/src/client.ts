/**
 * `PbsClient`: one Proxmox Backup Server endpoint with credentials. TLS with certificate pinning
 * (`PBS_FINGERPRINT`), API-token or ticket authentication, the plain REST calls, and the protocol
 * upgrade that turns a TLS connection into an HTTP/2 backup or reader session.
 */
import http from 'node:http'
import http2 from 'node:http2'
import { isIP } from 'node:net'
import tls from 'node:tls'
import { PxarError } from '@pxar/format'
import {
  DEFAULT_PORT,
  isTokenAuthId,
  normalizeFingerprint,
  parseRepository,
  type Repository,
  repositoryFromEnv,
} from './repository.ts'

/** Options of {@link PbsClient}. */
export interface PbsClientOptions {
  readonly host: string
  readonly port?: number
  /** `user@realm` (password → ticket) or `user@realm!token` (secret). Default `root@pam`. */
  readonly authId?: string
  /** Password or token secret. */
  readonly password: string
  /**
   * Expected server certificate fingerprint (SHA-256, colon hex). With it, exactly that
   * certificate is accepted; without it, normal CA verification applies.
   */
  readonly fingerprint?: string
  /** Extra CA certificates (PEM) for normal verification. */
  readonly ca?: string | readonly string[]
  /** Per-request timeout for simple requests in ms (default 120 s). */
  readonly timeoutMs?: number
}

/** A PBS HTTP error: `status` and the server's message. */
export class PbsHttpError extends PxarError {
  override name = 'PbsHttpError'
  readonly status: number
  constructor(status: number, message: string) {
    super(status === 401 ? 'ERR_PBS_AUTH' : 'ERR_PBS_HTTP', `HTTP ${status}: ${message}`)
    this.status = status
  }
}

/** Query parameters: values are stringified; undefined values are left out; arrays repeat the key. */
export type QueryParams = Readonly<
  Record<string, string | number | boolean | undefined | readonly (string | number)[]>
>

/** Encodes query parameters like the official client (`application/x-www-form-urlencoded`). */
export function encodeQuery(params: QueryParams): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue
    if (Array.isArray(v)) for (const x of v) q.append(k, String(x))
    else q.append(k, String(v))
  }
  const s = q.toString()
  return s ? `?${s}` : ''
}

/** Percent-encodes like the official client (controls, space, `"#<>?{}` and backtick, non-ASCII). */
function encodeSecret(s: string): string {
  return Array.from(new TextEncoder().encode(s), (b) =>
    b < 0x21 || b >= 0x7f || '"#<>?`{}%'.includes(String.fromCharCode(b))
      ? `%${b.toString(16).toUpperCase().padStart(2, '0')}`
      : String.fromCharCode(b),
  ).join('')
}

interface Ticket {
  readonly ticket: string
  readonly csrf: string
  readonly at: number
}

/** HTTP/2 settings of the official client (`h2` crate): huge windows, 4 MiB frames. */
const H2_CLIENT_SETTINGS: http2.Settings = {
  initialWindowSize: 2 ** 31 - 2,
  maxFrameSize: 4 * 1024 * 1024,
}

/** Largest JSON answer accepted (snapshot lists of big datastores are a few MiB). */
const MAX_JSON_RESPONSE = 64 * 1024 * 1024
/** Largest raw download accepted (index files of archives of many TiB). */
const MAX_DOWNLOAD = 1024 * 1024 * 1024

/**
 * A connection profile for one server. Every request opens a fresh, verified TLS connection
 * (credentials are only sent after the certificate check).
 *
 * @example
 * ```ts
 * const client = PbsClient.fromRepository('root@pam!ci@pbs:8007:store1', { password: secret, fingerprint })
 * const groups = await client.get('/admin/datastore/store1/groups')
 * ```
 */
export class PbsClient {
  readonly host: string
  readonly port: number
  readonly authId: string
  readonly #password: string
  readonly #fingerprint: string | undefined
  readonly #ca: string | readonly string[] | undefined
  readonly #timeout: number
  #ticket: Ticket | undefined

  constructor(options: PbsClientOptions) {
    this.host = options.host
    this.port = options.port ?? DEFAULT_PORT
    this.authId = options.authId ?? 'root@pam'
    this.#password = options.password
    this.#fingerprint =
      options.fingerprint === undefined ? undefined : normalizeFingerprint(options.fingerprint)
    this.#ca = options.ca
    this.#timeout = options.timeoutMs ?? 120_000
  }

  /**
   * A client (and the datastore name) for a repository string; password and fingerprint default
   * to `PBS_PASSWORD` and `PBS_FINGERPRINT`.
   *
   * @throws PxarError `ERR_PBS_REPOSITORY`, or `ERR_PBS_AUTH` when no password is known.
   */
  static fromRepository(
    repository: string | Repository,
    options: {
      password?: string
      fingerprint?: string
      ca?: string
      env?: Readonly<Record<string, string | undefined>>
    } = {},
  ): PbsClient & { readonly store: string } {
    const repo = typeof repository === 'string' ? parseRepository(repository) : repository
    const env = repositoryFromEnv(options.env ?? process.env)
    const password = options.password ?? env.password
    if (password === undefined) throw new PxarError('ERR_PBS_AUTH', 'no password given (set PBS_PASSWORD)')
    const fingerprint = options.fingerprint ?? env.fingerprint
    const client = new PbsClient({
      host: repo.host,
      port: repo.port,
      authId: repo.authId,
      password,
      ...(fingerprint ? { fingerprint } : {}),
      ...(options.ca ? { ca: options.ca } : {}),
    })
    return Object.assign(client, { store: repo.store })
  }

  /** Opens a TLS connection and checks the certificate (pin or CA chain). */
  async connectTls(): Promise<tls.TLSSocket> {
    const pin = this.#fingerprint
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host: this.host,
        port: this.port,
        ...(isIP(this.host) ? {} : { servername: this.host }),
        rejectUnauthorized: pin === undefined,
        ...(this.#ca ? { ca: this.#ca as string | string[] } : {}),
      })
      const onError = (err: Error): void => {
        socket.destroy()
        const code = (err as { code?: string }).code ?? ''
        if (/CERT|SELF_SIGNED|UNABLE_TO|HOSTNAME|ALTNAME/.test(code)) {
          reject(
            new PxarError('ERR_PBS_CERT', `certificate verification failed: ${err.message}`, { cause: err }),
          )
        } else
          reject(
            new PxarError('ERR_PBS_HTTP', `connection to ${this.host}:${this.port} failed: ${err.message}`, {
              cause: err,
            }),
          )
      }
      socket.once('error', onError)
      socket.once('secureConnect', () => {
        if (pin !== undefined) {
          const fp = socket.getPeerCertificate().fingerprint256?.toLowerCase()
          if (fp !== pin) {
            socket.destroy()
            reject(
              new PxarError(
                'ERR_PBS_CERT',
                `certificate fingerprint mismatch (got ${fp ?? 'none'}, expected ${pin})`,
              ),
            )
            return
          }
        }
        socket.off('error', onError)
        socket.setNoDelay(true)
        socket.setKeepAlive(true, 120_000)
        resolve(socket)
      })
    })
  }

  async #login(renew: string | undefined): Promise<Ticket> {
    const body = JSON.stringify({ username: this.authId, password: renew ?? this.#password })
    const res = await this.#send(
      'POST',
      '/api2/json/access/ticket',
      { 'content-type': 'application/json' },
      body,
    )
    const data = parseData(res.body) as { ticket?: unknown; CSRFPreventionToken?: unknown } | null
    if (!data || typeof data.ticket !== 'string' || typeof data.CSRFPreventionToken !== 'string') {
      throw new PxarError('ERR_PBS_AUTH', 'login returned no ticket')
    }
    return { ticket: data.ticket, csrf: data.CSRFPreventionToken, at: Date.now() }
  }

  /** Authentication headers for a request (logs in / renews the ticket as needed). */
  async authHeaders(method: string): Promise<Record<string, string>> {
    if (isTokenAuthId(this.authId)) {
      return { authorization: `PBSAPIToken ${this.authId}:${encodeSecret(this.#password)}` }
    }
    const t = this.#ticket
    if (!t || Date.now() - t.at > 15 * 60_000) {
      this.#ticket = await this.#login(t && Date.now() - t.at < 7000_000 ? t.ticket : undefined).catch(
        (err) => (t ? this.#login(undefined) : Promise.reject(err)),
      )
    }
    const ticket = this.#ticket!
    const headers: Record<string, string> = {
      cookie: `PBSAuthCookie=${encodeURIComponent(ticket.ticket).replaceAll('%3A', ':')}`,
    }
    if (method !== 'GET' && method !== 'HEAD') headers.csrfpreventiontoken = ticket.csrf
    return headers
  }

  async #send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: string | Uint8Array,
    maxBytes: number = MAX_JSON_RESPONSE,
  ): Promise<{ status: number; body: Buffer }> {
    const socket = await this.connectTls()
    return new Promise((resolve, reject) => {
      const req = http.request({
        createConnection: () => socket,
        method,
        path,
        host: this.host,
        port: this.port,
        headers: {
          'user-agent': 'proxmox-backup-client/1.0',
          host: `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`,
          connection: 'close',
          ...headers,
          ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }),
        },
        timeout: this.#timeout,
      })
      req.on('timeout', () => req.destroy(new PxarError('ERR_PBS_HTTP', `${method} ${path}: timeout`)))
      req.on('error', (err) => {
        socket.destroy()
        reject(
          err instanceof PxarError
            ? err
            : new PxarError('ERR_PBS_HTTP', `${method} ${path}: ${err.message}`, { cause: err }),
        )
      })
      req.on('response', (res) => {
        const parts: Buffer[] = []
        let total = 0
        res.on('data', (d: Buffer) => {
          total += d.length
          if (total > maxBytes) {
            // a server must not make the client buffer without bound
            res.destroy()
            socket.destroy()
            reject(
              new PxarError('ERR_PBS_PROTOCOL', `${method} ${path}: response larger than ${maxBytes} bytes`),
            )
            return
          }
          parts.push(d)
        })
        res.on('error', reject)
        res.on('end', () => {
          socket.destroy()
          const status = res.statusCode ?? 0
          const data = Buffer.concat(parts)
          if (status < 200 || status >= 300) reject(new PbsHttpError(status, data.toString('utf8')))
          else resolve({ status, body: data })
        })
      })
      req.end(body)
    })
  }

  /**
   * A REST call under `/api2/json`: GET/PUT/DELETE parameters go into the query string, POST
   * parameters into a JSON body. Returns the response's `data`.
   *
   * @throws PbsHttpError (`ERR_PBS_HTTP`, `ERR_PBS_AUTH` for 401), PxarError `ERR_PBS_CERT`.
   */
  async request(method: string, path: string, params: QueryParams = {}): Promise<unknown> {
    const auth = await this.authHeaders(method)
    const full = `/api2/json${path}`
    if (method === 'POST') {
      const body = JSON.stringify(
        Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)),
      )
      return parseData(
        (await this.#send(method, full, { ...auth, 'content-type': 'application/json' }, body)).body,
      )
    }
    return parseData((await this.#send(method, `${full}${encodeQuery(params)}`, auth)).body)
  }

  /** GET shorthand of {@link PbsClient.request}. */
  get(path: string, params: QueryParams = {}): Promise<unknown> {
    return this.request('GET', path, params)
  }

  /** A raw download (octet-stream body) under `/api2/json`. */
  async download(path: string, params: QueryParams = {}): Promise<Uint8Array> {
    const auth = await this.authHeaders('GET')
    const res = await this.#send(
      'GET',
      `/api2/json${path}${encodeQuery(params)}`,
      auth,
      undefined,
      MAX_DOWNLOAD,
    )
    return new Uint8Array(res.body.buffer, res.body.byteOffset, res.body.byteLength)
  }

  /** A raw upload (octet-stream body, parameters in the query string) under `/api2/json`. */
  async upload(method: string, path: string, params: QueryParams, body: Uint8Array): Promise<unknown> {
    const auth = await this.authHeaders(method)
    const res = await this.#send(
      method,
      `/api2/json${path}${encodeQuery(params)}`,
      {
        ...auth,
        'content-type': 'application/octet-stream',
      },
      body,
    )
    return parseData(res.body)
  }

  /**
   * Upgrades a verified TLS connection to `protocol` (`proxmox-backup-protocol-v1` or
   * `proxmox-backup-reader-protocol-v1`) and starts HTTP/2 on it.
   *
   * @throws PbsHttpError when the server refuses the upgrade.
   */
  async upgrade(path: string, params: QueryParams, protocol: string): Promise<http2.ClientHttp2Session> {
    const auth = await this.authHeaders('GET')
    const socket = await this.connectTls()
    const upgraded = await new Promise<{ socket: import('node:net').Socket; head: Buffer }>(
      (resolve, reject) => {
        const req = http.request({
          createConnection: () => socket,
          method: 'GET',
          path: `/api2/json${path}${encodeQuery(params)}`,
          headers: {
            'user-agent': 'proxmox-backup-client/1.0',
            host: `${this.host}:${this.port}`,
            connection: 'upgrade',
            upgrade: protocol,
            ...auth,
          },
        })
        req.on('upgrade', (res, sock, head) => {
          if (res.statusCode !== 101 || String(res.headers.upgrade) !== protocol) {
            sock.destroy()
            reject(new PxarError('ERR_PBS_PROTOCOL', `unexpected upgrade response ${res.statusCode}`))
            return
          }
          resolve({ socket: sock, head })
        })
        req.on('response', (res) => {
          const parts: Buffer[] = []
          res.on('data', (d: Buffer) => parts.push(d))
          res.on('end', () => {
            socket.destroy()
            reject(new PbsHttpError(res.statusCode ?? 0, Buffer.concat(parts).toString('utf8')))
          })
        })
        req.on('error', (err) => {
          socket.destroy()
          reject(
            err instanceof PxarError
              ? err
              : new PxarError('ERR_PBS_HTTP', `upgrade failed: ${err.message}`, { cause: err }),
          )
        })
        req.end()
      },
    )
    if (upgraded.head.length > 0) upgraded.socket.unshift(upgraded.head)
    const session = http2.connect(
      `https://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`,
      {
        createConnection: () => upgraded.socket as unknown as import('node:stream').Duplex,
        settings: H2_CLIENT_SETTINGS,
        // Node's default cap (10 MB) is far below what the windows let the server send; over it,
        // new streams fail with ENHANCE_YOUR_CALM. The request concurrency bounds the real use.
        maxSessionMemory: 256,
      },
    )
    await new Promise<void>((resolve, reject) => {
      session.once('connect', () => {
        session.off('error', reject)
        try {
          session.setLocalWindowSize(2 ** 31 - 2)
        } catch {
          // ignore: only a throughput tweak
        }
        resolve()
      })
      session.once('error', reject)
    })
    session.on('error', () => {})
    return session
  }
}

/** Parses `{"data": …}` (an empty body is null). */
export function parseData(body: Uint8Array): unknown {
  if (body.length === 0) return null
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'))
  } catch {
    throw new PxarError('ERR_PBS_PROTOCOL', 'response is not JSON')
  }
  if (typeof json !== 'object' || json === null || !('data' in json)) {
    throw new PxarError('ERR_PBS_PROTOCOL', "response has no 'data' member")
  }
  return (json as { data: unknown }).data
}
