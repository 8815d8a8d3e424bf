/**
 * `startServer`: a PBS-compatible HTTPS server over one local datastore. HTTP/1.1 REST API under
 * `/api2/json`, and the backup/reader protocols entered through `Upgrade:
 * proxmox-backup-protocol-v1` / `proxmox-backup-reader-protocol-v1` followed by HTTP/2 on the
 * same TLS connection (PBS `proxmox-backup-proxy`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import type { Socket } from 'node:net'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { type BackupDir, type BackupType, Datastore } from '@pxar/datastore'
import { Authenticator, type AuthResult, isOwner, readTokenFile } from './auth.ts'
import { BackupSessionState } from './backup-session.ts'
import {
  BACKUP_TYPE,
  badRequest,
  errorStatus,
  HttpError,
  namespaceParam,
  Params,
  queryParams,
  readBody,
  requestUrl,
  SAFE_ID,
} from './http-util.ts'
import { H2_SETTINGS, serveBackupSession, serveReaderSession } from './protocols.ts'
import { DATASTORE_ROUTES } from './rest.ts'
import { loadOrCreateCertificate } from './tls.ts'

/** Protocol name of the backup upgrade. */
export const BACKUP_PROTOCOL_ID = 'proxmox-backup-protocol-v1'
/** Protocol name of the reader upgrade. */
export const READER_PROTOCOL_ID = 'proxmox-backup-reader-protocol-v1'

/**
 * Default locations beside a datastore directory: `<store>/.pxar-server` holds the certificate
 * (`proxy.pem`, `proxy.key`) and the token file (`tokens.json`).
 *
 * @example
 * ```ts
 * const secret = await createTokenFile(serverPaths('/srv/store').tokenFile, 'root@pam!ci')
 * ```
 */
export function serverPaths(datastoreDir: string): { certDir: string; tokenFile: string } {
  const certDir = join(datastoreDir, '.pxar-server')
  return { certDir, tokenFile: join(certDir, 'tokens.json') }
}

/** HTTP/2 session memory cap in MB (Node's `maxSessionMemory`; its default is 10). */
const H2_MAX_SESSION_MEMORY_MB = 256

/** Options of {@link startServer}. */
export interface ServerOptions {
  /** Datastore directory (opened, or created with lazy prefix directories if it has no `.chunks`), or an open Datastore. */
  readonly datastore: string | Datastore
  /** Datastore name clients use in their repository (default `store`). */
  readonly name?: string
  /** `HOST:PORT` (`[v6]:PORT`), or an object; default 127.0.0.1 and port 8007 (0 = any free port). */
  readonly listen?: string | { readonly host?: string; readonly port?: number }
  /** API tokens: `user@realm!name` → secret. */
  readonly tokens?: Readonly<Record<string, string>>
  /**
   * A token file made with `createTokenFile`; default `<certDir>/tokens.json` (a missing file means
   * no tokens). It is read at start and again when an unknown token is presented, so tokens created
   * while the server runs work at once.
   */
  readonly tokenFile?: string
  /** Users for ticket logins: `user@realm` → password. */
  readonly users?: Readonly<Record<string, string>>
  /** Where `proxy.pem`/`proxy.key` live (created on first start). Default `<datastore>/.pxar-server`. */
  readonly certDir?: string
  /** Delay before answering 401 (PBS waits about 3 s). Default 3000. */
  readonly authFailureDelayMs?: number
}

/** Counters of a running server. */
export interface ServerStats {
  /** Chunk uploads accepted (all sessions). */
  chunkUploads: number
  /** Backup sessions finished successfully. */
  backupsFinished: number
  /** Backup sessions that ended without `finish` (snapshot removed). */
  backupsAborted: number
}

/** A running server, from {@link startServer}. */
export interface RunningServer {
  /** `https://host:port`. */
  readonly url: string
  readonly host: string
  readonly port: number
  /** Certificate fingerprint, lowercase colon-separated hex (for `PBS_FINGERPRINT`). */
  readonly fingerprint: string
  /** The datastore name. */
  readonly name: string
  readonly datastore: Datastore
  readonly stats: ServerStats
  /** Closes the listener and every connection (unfinished backups are removed). */
  stop(): Promise<void>
}

function parseListen(listen: ServerOptions['listen']): { host: string; port: number } {
  if (listen === undefined) return { host: '127.0.0.1', port: 8007 }
  if (typeof listen !== 'string') return { host: listen.host ?? '127.0.0.1', port: listen.port ?? 8007 }
  const m = /^(?:\[([^\]]+)\]|([^:]*)):([0-9]+)$/.exec(listen)
  if (!m) throw new TypeError(`invalid listen address '${listen}' (expected HOST:PORT)`)
  const port = Number(m[3])
  if (port > 65535) throw new RangeError(`invalid port ${port}`)
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port }
}

async function openDatastore(ds: string | Datastore): Promise<Datastore> {
  if (typeof ds !== 'string') return ds
  try {
    return await Datastore.open(ds)
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_STORE_LAYOUT') throw err
    return Datastore.create(ds, { prefixDirs: 'lazy' })
  }
}

function writeRaw(socket: Duplex, status: number, message: string): void {
  const text = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    500: 'Internal Server Error',
  }[status]
  const body = Buffer.from(message)
  socket.end(
    `HTTP/1.1 ${status} ${text ?? 'Error'}\r\ncontent-type: text/plain;charset=UTF-8\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${message}`,
  )
}

/**
 * Starts the server.
 *
 * @throws TypeError/RangeError for bad options; errors from opening the datastore or listening.
 * @example
 * ```ts
 * const server = await startServer({ datastore: '/srv/store', listen: '127.0.0.1:8007', tokens: { 'root@pam!ci': secret } })
 * console.log(`fingerprint: ${server.fingerprint}`)
 * await server.stop()
 * ```
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const name = options.name ?? 'store'
  if (!SAFE_ID.test(name) || name.length < 3 || name.length > 32)
    throw new TypeError(`invalid datastore name '${name}'`)
  const { host, port } = parseListen(options.listen)
  const datastore = await openDatastore(options.datastore)
  const certDir = options.certDir ?? serverPaths(datastore.base).certDir
  const tokenFile = options.tokenFile ?? join(certDir, 'tokens.json')
  const cert = await loadOrCreateCertificate(certDir, { altNames: [host] })
  const auth = new Authenticator({
    ...(options.tokens ? { tokens: options.tokens } : {}),
    ...(options.users ? { users: options.users } : {}),
    tokenHashes: await readTokenFile(tokenFile),
  })
  const authDelay = options.authFailureDelayMs ?? 3000
  const stats: ServerStats = { chunkUploads: 0, backupsFinished: 0, backupsAborted: 0 }
  const sockets = new Set<Duplex>()
  const sessions = new Set<http2.ServerHttp2Session>()
  const pending = new Set<Promise<unknown>>()
  const track = <T>(p: Promise<T>): Promise<T> => {
    pending.add(p)
    void p.finally(() => pending.delete(p)).catch(() => {})
    return p
  }

  let lastReload = 0
  const authenticate = async (req: IncomingMessage): Promise<AuthResult> => {
    let result = auth.check(req.headers, req.method ?? 'GET')
    if (!result && /^PBSAPIToken/.test(req.headers.authorization ?? '') && Date.now() - lastReload > 1000) {
      lastReload = Date.now()
      auth.setTokenHashes(await readTokenFile(tokenFile).catch(() => ({})))
      result = auth.check(req.headers, req.method ?? 'GET')
    }
    if (result) return result
    if (authDelay > 0) await sleep(authDelay)
    throw new HttpError(401, 'authentication failed - invalid credentials')
  }

  const server = https.createServer({ cert: cert.certPem, key: cert.keyPem, minVersion: 'TLSv1.2' })
  server.on('connection', (socket: Socket) => {
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 120_000)
  })
  server.on('secureConnection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  server.on('tlsClientError', () => {})

  const handleRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = requestUrl(req.url)
    const method = req.method ?? 'GET'
    if (!url.pathname.startsWith('/api2/json/')) throw new HttpError(404, `Path '${url.pathname}' not found.`)
    const path = url.pathname.slice('/api2/json'.length).replace(/\/+$/, '')
    // authentication comes before anything of the request is read or parsed (except the login)
    const login = method === 'POST' && path === '/access/ticket'
    const who = login ? undefined : await authenticate(req)
    const query = queryParams(req.url ?? '')
    const upload = method === 'POST' && path.endsWith('/upload-backup-log')
    let params = Params.fromSearch(query)
    if (!upload && method !== 'GET' && method !== 'HEAD') {
      const body = await readBody(req, 64 * 1024 - 1)
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim()
      if (body.length > 0) {
        if (type === 'application/json') {
          let obj: unknown
          try {
            obj = JSON.parse(Buffer.from(body).toString('utf8'))
          } catch {
            throw badRequest('unable to parse JSON body')
          }
          if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
            throw badRequest('expected a JSON object')
          params = Params.fromObject(obj as Record<string, unknown>)
        } else if (type === '' || type === 'application/x-www-form-urlencoded') {
          const form = new URLSearchParams(Buffer.from(body).toString('utf8'))
          params = new Params((n) => form.get(n) ?? query.get(n) ?? undefined)
        } else {
          throw badRequest('unsupported content type')
        }
      }
    }
    if (login) {
      const user = params.string('username')
      const ticket = auth.login(user, params.string('password'))
      if (!ticket) {
        if (authDelay > 0) await sleep(authDelay)
        throw new HttpError(401, 'authentication failure')
      }
      return sendJson(res, ticket)
    }
    if (!who) throw new HttpError(401, 'authentication failed - invalid credentials')
    if (method === 'GET' && path === '/version')
      return sendJson(res, { version: '3.2', release: '4', repoid: 'pxar' })
    if (method === 'GET' && path === '/admin/datastore')
      return sendJson(res, [{ store: name, comment: null }])
    const m = /^\/admin\/datastore\/([^/]+)\/([a-z-]+)$/.exec(path)
    const route = m ? DATASTORE_ROUTES[`${method} ${m[2]}`] : undefined
    if (!m || !route) throw new HttpError(404, `Path '${url.pathname}' not found.`)
    if (m[1] !== name) throw new HttpError(404, `no such datastore '${m[1]}'`)
    const data = await route({
      ds: datastore,
      store: name,
      authId: who.authId,
      params,
      body: () => readBody(req, 16 * 1024 * 1024 + 64),
    })
    if (
      data &&
      typeof data === 'object' &&
      'raw' in data &&
      (data as { raw: unknown }).raw instanceof Uint8Array
    ) {
      const raw = (data as { raw: Uint8Array }).raw
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': raw.length })
      res.end(raw)
      return
    }
    sendJson(res, data)
  }

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void track(
      handleRequest(req, res).catch((err: unknown) => {
        const { status, message } = errorStatus(err)
        if (res.headersSent) {
          res.destroy()
          return
        }
        res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8' })
        res.end(message)
      }),
    )
  })

  const handleUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const url = requestUrl(req.url)
    const who = await authenticate(req)
    const p = Params.fromSearch(url.searchParams)
    const backup = url.pathname === '/api2/json/backup'
    if (!backup && url.pathname !== '/api2/json/reader')
      throw new HttpError(404, `Path '${url.pathname}' not found.`)
    if (req.httpVersionMajor !== 1) throw badRequest('protocol upgrade requires HTTP/1.x')
    const store = p.string('store', SAFE_ID)
    if (store !== name) throw new HttpError(404, `no such datastore '${store}'`)
    const protocol = req.headers.upgrade
    const expected = backup ? BACKUP_PROTOCOL_ID : READER_PROTOCOL_ID
    if (protocol !== expected) throw badRequest(`invalid protocol name '${protocol}'`)
    const dir: BackupDir = {
      ns: namespaceParam(p),
      type: p.string('backup-type', BACKUP_TYPE) as BackupType,
      id: p.string('backup-id', SAFE_ID),
      time: p.int('backup-time', 1),
    }
    if (!(await datastore.namespaceExists(dir.ns))) throw new HttpError(404, 'namespace not found')
    if (backup) {
      const benchmark = p.bool('benchmark', false)
      if (benchmark !== (dir.type === 'host' && dir.id === 'benchmark')) {
        throw badRequest(
          benchmark
            ? "unable to run benchmark without backup-id 'benchmark'"
            : "backup-id 'benchmark' is reserved",
        )
      }
      const owner = await datastore.getOwner(dir)
      if (owner !== undefined && !isOwner(who.authId, owner)) {
        throw new HttpError(403, `backup owner check failed (${who.authId} != ${owner})`)
      }
      const last = await datastore.lastSnapshot(dir)
      let previous = last
      if (last) {
        const m = await datastore.readManifest(last.dir).catch(() => undefined)
        const verify = m?.unprotected.verify_state
        if (
          verify &&
          typeof verify === 'object' &&
          !Array.isArray(verify) &&
          (verify as { state?: unknown }).state === 'failed'
        ) {
          previous = undefined
        }
      }
      let writer: Awaited<ReturnType<Datastore['beginSnapshot']>>
      try {
        writer = await datastore.beginSnapshot(dir, { owner: owner ?? who.authId })
      } catch (err) {
        const code = (err as { code?: string }).code
        if (
          code === 'ERR_SNAPSHOT_LOCKED' ||
          code === 'ERR_SNAPSHOT_EXISTS' ||
          code === 'ERR_SNAPSHOT_INVALID'
        ) {
          throw badRequest((err as Error).message)
        }
        throw err
      }
      const state = new BackupSessionState({
        datastore,
        dir,
        writer,
        previous,
        authId: who.authId,
        benchmark,
      })
      let ended = false
      const end = (): void => {
        if (ended) return
        ended = true
        void track(
          state.end().then(() => {
            if (state.finished) stats.backupsFinished++
            else stats.backupsAborted++
          }),
        )
      }
      socket.on('close', end)
      socket.on('error', () => {})
      // the client may have gone away while the snapshot was being created
      if (socket.destroyed) {
        end()
        return
      }
      upgradeToH2(socket, head, expected, (session) => {
        serveBackupSession(session, state, { onChunk: () => stats.chunkUploads++ })
        session.on('close', end)
      })
      return
    }
    let info: Awaited<ReturnType<Datastore['snapshotInfo']>>
    try {
      info = await datastore.snapshotInfo(dir)
    } catch {
      throw new HttpError(404, 'snapshot not found')
    }
    if (!info.finished) throw badRequest('unable to acquire shared snapshot lock - snapshot is not finished')
    const owner = await datastore.getOwner(dir)
    void owner
    socket.on('error', () => {})
    upgradeToH2(socket, head, expected, (session) => serveReaderSession(session, datastore, info))
  }

  const upgradeToH2 = (
    socket: Duplex,
    head: Buffer,
    protocol: string,
    ready: (session: http2.ServerHttp2Session) => void,
  ): void => {
    // Hand the socket to HTTP/2 only after the 101 has been written.
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: ${protocol}\r\n\r\n`,
      (err?: Error | null) => {
        if (err || socket.destroyed) {
          socket.destroy()
          return
        }
        if (head.length > 0) socket.unshift(head)
        // Node's default session memory cap (10 MB) is below what the 32 MiB windows let a client
        // have in flight; over the cap, new streams are refused with ENHANCE_YOUR_CALM. The windows
        // and the stream limit bound the real use.
        const session = http2.performServerHandshake(socket, {
          settings: H2_SETTINGS,
          maxSessionMemory: H2_MAX_SESSION_MEMORY_MB,
        })
        sessions.add(session)
        session.on('close', () => sessions.delete(session))
        session.on('connect', () => {
          try {
            session.setLocalWindowSize(32 * 1024 * 1024)
          } catch {
            // the session may already be gone
          }
        })
        ready(session)
      },
    )
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void track(
      handleUpgrade(req, socket, head).catch((err: unknown) => {
        const { status, message } = errorStatus(err)
        writeRaw(socket, status, message)
      }),
    )
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address()
  const actualPort = typeof address === 'object' && address ? address.port : port
  const urlHost = host.includes(':') ? `[${host}]` : host
  return {
    url: `https://${urlHost}:${actualPort}`,
    host,
    port: actualPort,
    fingerprint: cert.fingerprint,
    name,
    datastore,
    stats,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      for (const s of sessions) s.destroy()
      for (const s of sockets) s.destroy()
      await closed
      while (pending.size > 0) await Promise.allSettled([...pending])
    },
  }
}

function sendJson(res: ServerResponse, data: unknown): void {
  const body = JSON.stringify({ data: data === undefined ? null : data })
  res.writeHead(200, {
    'content-type': 'application/json;charset=UTF-8',
    'content-length': Buffer.byteLength(body),
  })
  res.end(body)
}
