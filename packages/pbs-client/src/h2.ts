/** Requests on an upgraded HTTP/2 session (backup and reader protocols). */
import http2 from 'node:http2'
import { PxarError } from '@pxar/format'
import { encodeQuery, PbsHttpError, parseData, type QueryParams } from './client.ts'

/** Options of {@link h2Request}. */
export interface H2RequestOptions {
  readonly body?: Uint8Array | string
  readonly contentType?: string
  /** Abort with this signal. */
  readonly signal?: AbortSignal | undefined
  /** Largest response body accepted (default 1 GiB); a bigger one fails with `ERR_PBS_PROTOCOL`. */
  readonly maxBytes?: number | undefined
}

/** Default of {@link H2RequestOptions.maxBytes}: index files of archives of many TiB fit. */
const MAX_RESPONSE = 1024 * 1024 * 1024
const http2Cancel = http2.constants.NGHTTP2_CANCEL

/**
 * One request on an HTTP/2 session; resolves with the raw response body of a 2xx response.
 *
 * @throws PbsHttpError for other statuses; PxarError `ERR_PBS_PROTOCOL` when the session fails.
 */
export function h2Raw(
  session: http2.ClientHttp2Session,
  method: string,
  path: string,
  params: QueryParams,
  options: H2RequestOptions = {},
): Promise<Uint8Array<ArrayBuffer>> {
  return new Promise((resolveOuter, rejectOuter) => {
    let settled = false
    const resolve = (v: Uint8Array<ArrayBuffer>): void => {
      settled = true
      resolveOuter(v)
    }
    const reject = (err: unknown): void => {
      if (settled) return
      settled = true
      rejectOuter(err)
    }
    if (session.closed || session.destroyed) {
      reject(new PxarError('ERR_PBS_PROTOCOL', 'session is closed'))
      return
    }
    let req: http2.ClientHttp2Stream
    try {
      req = session.request(
        {
          ':method': method,
          ':path': `${path}${encodeQuery(params)}`,
          ...(options.contentType ? { 'content-type': options.contentType } : {}),
        },
        { endStream: options.body === undefined, ...(options.signal ? { signal: options.signal } : {}) },
      )
    } catch (err) {
      reject(new PxarError('ERR_PBS_PROTOCOL', `request failed: ${(err as Error).message}`, { cause: err }))
      return
    }
    let status = 0
    const parts: Buffer[] = []
    let total = 0
    req.on('response', (headers) => {
      status = Number(headers[':status'] ?? 0)
    })
    const maxBytes = options.maxBytes ?? MAX_RESPONSE
    req.on('data', (d: Buffer) => {
      if (settled) return
      total += d.length
      if (total > maxBytes) {
        // a server must not make the client buffer without bound
        parts.length = 0
        req.close(http2Cancel)
        reject(new PxarError('ERR_PBS_PROTOCOL', `${method} ${path}: response larger than ${maxBytes} bytes`))
        return
      }
      parts.push(d)
    })
    req.on('error', (err) =>
      reject(
        err instanceof PxarError
          ? err
          : new PxarError('ERR_PBS_PROTOCOL', `${method} ${path}: ${err.message}`, { cause: err }),
      ),
    )
    req.on('end', () => {
      const body = new Uint8Array(total)
      let pos = 0
      for (const p of parts) {
        body.set(p, pos)
        pos += p.length
      }
      if (status >= 200 && status < 300) resolve(body)
      else reject(new PbsHttpError(status, Buffer.from(body).toString('utf8')))
    })
    req.on('close', () => {
      if (status === 0)
        reject(new PxarError('ERR_PBS_PROTOCOL', `${method} ${path}: stream closed without response`))
    })
    if (options.body !== undefined) req.end(options.body)
  })
}

/** Like {@link h2Raw}, returning the JSON response's `data`. */
export async function h2Json(
  session: http2.ClientHttp2Session,
  method: string,
  path: string,
  params: QueryParams = {},
  options: H2RequestOptions = {},
): Promise<unknown> {
  return parseData(await h2Raw(session, method, path, params, options))
}
