/**
 * The HTTP/2 halves of the backup and reader protocols (PBS `src/api2/backup/mod.rs`,
 * `src/api2/reader/mod.rs`): after the `101 Switching Protocols`, the server runs an HTTP/2
 * server session on the upgraded TLS socket and answers these endpoints at the root path.
 */
import { readFile } from 'node:fs/promises'
import type http2 from 'node:http2'
import { join } from 'node:path'
import {
  type Datastore,
  DynamicIndex,
  FixedIndex,
  MAX_CHUNK_SIZE,
  MAX_ENCODED_BLOB_SIZE,
  type SnapshotInfo,
  toHex,
} from '@pxar/datastore'
import type { BackupSessionState } from './backup-session.ts'
import {
  badRequest,
  errorStatus,
  HEX_DIGEST,
  HttpError,
  Params,
  queryParams,
  readBody,
  SAFE_ID,
} from './http-util.ts'

/** HTTP/2 settings of PBS's server side (hyper): 32 MiB windows, 4 MiB frames. */
export const H2_SETTINGS: http2.Settings = {
  initialWindowSize: 32 * 1024 * 1024,
  maxFrameSize: 4 * 1024 * 1024,
  // bounds the memory of concurrent uploads: at most 64 bodies of up to 16 MiB each per session
  maxConcurrentStreams: 64,
}

const JSON_LIMIT = 64 * 1024

type Handler = (stream: http2.ServerHttp2Stream, params: Params, method: string) => Promise<unknown>

function respondJson(stream: http2.ServerHttp2Stream, data: unknown): void {
  if (stream.destroyed || stream.closed) return
  const body = JSON.stringify({ data: data === undefined ? null : data })
  stream.respond({ ':status': 200, 'content-type': 'application/json;charset=UTF-8' })
  stream.end(body)
}

function respondError(stream: http2.ServerHttp2Stream, err: unknown): void {
  if (stream.destroyed || stream.closed) return
  const { status, message } = errorStatus(err)
  try {
    if (!stream.headersSent) stream.respond({ ':status': status, 'content-type': 'text/plain;charset=UTF-8' })
    stream.end(message)
  } catch {
    stream.destroy()
  }
}

function respondBytes(stream: http2.ServerHttp2Stream, bytes: Uint8Array): void {
  if (stream.destroyed || stream.closed) return
  stream.respond({
    ':status': 200,
    'content-type': 'application/octet-stream',
    'content-length': bytes.length,
  })
  stream.end(bytes)
}

/** Marker: the handler answered itself. */
const RESPONDED = Symbol('responded')

function serve(
  session: http2.ServerHttp2Session,
  routes: Record<string, Handler>,
  onError?: (err: unknown) => void,
): void {
  session.on('stream', (stream, headers) => {
    const method = String(headers[':method'] ?? 'GET')
    const path = String(headers[':path'] ?? '/')
    const q = path.indexOf('?')
    const name = (q < 0 ? path : path.slice(0, q)).replace(/\/+$/, '') || '/'
    const handler = routes[`${method} ${name}`]
    stream.on('error', () => {})
    if (!handler) {
      stream.resume()
      respondError(stream, new HttpError(404, `Path '${name}' not found.`))
      return
    }
    handler(stream, Params.fromSearch(queryParams(path)), method).then(
      (data) => {
        if (data !== RESPONDED) respondJson(stream, data)
      },
      (err: unknown) => {
        onError?.(err)
        stream.resume()
        respondError(stream, err)
      },
    )
  })
  session.on('error', () => {})
}

function wid(p: Params): number {
  return p.int('wid', 1, 256)
}

async function jsonBody(stream: http2.ServerHttp2Stream): Promise<Params> {
  const body = await readBody(stream, JSON_LIMIT)
  let value: unknown
  try {
    value = body.length === 0 ? {} : JSON.parse(Buffer.from(body).toString('utf8'))
  } catch {
    throw badRequest('unable to parse JSON body')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw badRequest('expected a JSON object')
  return Params.fromObject(value as Record<string, unknown>)
}

function appendLists(p: Params): { digests: string[]; offsets: number[] } {
  const digests = p.raw('digest-list')
  const offsets = p.raw('offset-list')
  if (!Array.isArray(digests) || !digests.every((d) => typeof d === 'string' && HEX_DIGEST.test(d))) {
    throw badRequest("parameter verification failed - 'digest-list': expected array of digests")
  }
  if (
    !Array.isArray(offsets) ||
    !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)
  ) {
    throw badRequest("parameter verification failed - 'offset-list': expected array of offsets")
  }
  return { digests: digests as string[], offsets: offsets as number[] }
}

const BACKUP_SUBDIRS = [
  'blob',
  'dynamic_chunk',
  'dynamic_close',
  'dynamic_index',
  'finish',
  'fixed_chunk',
  'fixed_close',
  'fixed_index',
  'previous',
  'previous_backup_time',
  'speedtest',
]

/** Serves the backup protocol on an HTTP/2 session. */
export function serveBackupSession(
  session: http2.ServerHttp2Session,
  state: BackupSessionState,
  hooks: { onChunk?: () => void } = {},
): void {
  const chunk =
    (kind: 'dynamic' | 'fixed'): Handler =>
    async (stream, p) => {
      const w = wid(p)
      const digest = p.string('digest', HEX_DIGEST)
      const size = p.int('size', 1, MAX_CHUNK_SIZE)
      const encodedSize = p.int('encoded-size', 13, MAX_ENCODED_BLOB_SIZE)
      const body = await readBody(stream, encodedSize, 'uploaded chunk is larger than announced.')
      await state.uploadChunk(kind, w, digest, size, encodedSize, body)
      hooks.onChunk?.()
      return digest
    }
  const append =
    (kind: 'dynamic' | 'fixed'): Handler =>
    (stream) =>
      state.serializeAppend(async () => {
        const p = await jsonBody(stream)
        const w = wid(p)
        const { digests, offsets } = appendLists(p)
        if (kind === 'dynamic') state.appendDynamic(w, digests, offsets)
        else state.appendFixed(w, digests, offsets)
        return null
      })
  const close =
    (kind: 'dynamic' | 'fixed'): Handler =>
    async (stream, p) => {
      stream.resume()
      const w = wid(p)
      const min = kind === 'dynamic' ? 1 : 0
      const chunkCount = p.int('chunk-count', min)
      const size = p.int('size', min)
      const csum = p.string('csum', HEX_DIGEST)
      // closing must see every append sent before it
      await state.serializeAppend(async () => {
        if (kind === 'dynamic') await state.closeDynamic(w, chunkCount, size, csum)
        else await state.closeFixed(w, chunkCount, size, csum)
      })
      return null
    }
  serve(session, {
    'GET /': async (s) => {
      s.resume()
      return BACKUP_SUBDIRS.map((subdir) => ({ subdir }))
    },
    'GET /previous_backup_time': async (s) => {
      s.resume()
      return state.previous ? state.previous.time : null
    },
    'GET /previous': async (s, p) => {
      s.resume()
      const name = p.string('archive-name', SAFE_ID)
      respondBytes(s, await state.downloadPrevious(name))
      return RESPONDED
    },
    'POST /blob': async (s, p) => {
      const name = p.string('file-name', SAFE_ID)
      if (!name.endsWith('.blob')) throw badRequest('wrong blob file extension')
      const encodedSize = p.int('encoded-size', 12, MAX_ENCODED_BLOB_SIZE)
      const body = await readBody(s, encodedSize, 'uploaded blob is larger than announced.')
      if (body.length !== encodedSize)
        throw badRequest(`got blob with unexpected length (${encodedSize} != ${body.length})`)
      await state.uploadBlob(name, body)
      return null
    },
    'POST /dynamic_index': async (s, p) => {
      s.resume()
      return state.createDynamicIndex(p.string('archive-name', SAFE_ID))
    },
    'POST /fixed_index': async (s, p) => {
      s.resume()
      const reuse = p.optString('reuse-csum', HEX_DIGEST)
      return state.createFixedIndex(p.string('archive-name', SAFE_ID), p.int('size', 1), reuse)
    },
    'POST /dynamic_chunk': chunk('dynamic'),
    'POST /fixed_chunk': chunk('fixed'),
    'PUT /dynamic_index': append('dynamic'),
    'PUT /fixed_index': append('fixed'),
    'POST /dynamic_close': close('dynamic'),
    'POST /fixed_close': close('fixed'),
    'POST /finish': async (s) => {
      s.resume()
      await state.serializeAppend(() => state.finish())
      return null
    },
    'POST /speedtest': async (s) => {
      for await (const _ of s) {
        // discard
      }
      return null
    },
  })
}

/** Serves the reader protocol for one finished snapshot on an HTTP/2 session. */
export function serveReaderSession(
  session: http2.ServerHttp2Session,
  datastore: Datastore,
  snapshot: SnapshotInfo,
): void {
  const allowed = new Set<string>()
  serve(session, {
    'GET /': async (s) => {
      s.resume()
      return ['chunk', 'download', 'speedtest'].map((subdir) => ({ subdir }))
    },
    'GET /download': async (s, p) => {
      s.resume()
      const name = p.string('file-name', SAFE_ID)
      let bytes: Uint8Array
      try {
        bytes = await readFile(join(snapshot.path, name))
      } catch (err) {
        if ((err as { code?: string }).code === 'ENOENT')
          throw new HttpError(404, `open file '${name}' failed - not found`)
        throw err
      }
      if (name.endsWith('.didx')) {
        const index = DynamicIndex.parse(bytes)
        for (let i = 0; i < index.count; i++) allowed.add(toHex(index.digest(i)))
      } else if (name.endsWith('.fidx')) {
        const index = FixedIndex.parse(bytes)
        for (let i = 0; i < index.count; i++) allowed.add(toHex(index.digest(i)))
      }
      respondBytes(s, bytes)
      return RESPONDED
    },
    'GET /chunk': async (s, p) => {
      s.resume()
      const digest = p.string('digest', HEX_DIGEST)
      if (!allowed.has(digest)) throw new HttpError(401, `download chunk ${digest} not allowed`)
      let bytes: Uint8Array
      try {
        bytes = await datastore.chunkStore.read(digest)
      } catch (err) {
        throw badRequest(`reading file ${digest} failed: ${(err as Error).message}`)
      }
      respondBytes(s, bytes)
      return RESPONDED
    },
    'GET /speedtest': async (s) => {
      s.resume()
      respondBytes(s, new Uint8Array(1024 * 1024).fill(0x41))
      return RESPONDED
    },
  })
}

export { MAX_ENCODED_BLOB_SIZE }
