/** Small helpers shared by the REST API and the HTTP/2 protocol handlers. */

/** An error answered with an HTTP status and its message as plain text (as PBS does). */
export class HttpError extends Error {
  override name = 'HttpError'
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

/** 400 with a message. */
export function badRequest(message: string): HttpError {
  return new HttpError(400, message)
}

/** Maps any thrown value to a status and message. */
export function errorStatus(err: unknown): { status: number; message: string } {
  if (err instanceof HttpError) return { status: err.status, message: err.message }
  const code = (err as { code?: string } | undefined)?.code
  const message = err instanceof Error ? err.message : String(err)
  if (code === 'ERR_SNAPSHOT_NOT_FOUND') return { status: 404, message }
  return { status: 400, message }
}

/**
 * Reads a whole request body, refusing more than `limit` bytes. On overflow the rest of the body
 * is drained (not destroyed), so the error can still be answered on the same stream.
 */
export function readBody(
  body: NodeJS.ReadableStream,
  limit: number,
  tooLarge: string = 'request body too large',
): Promise<Uint8Array<ArrayBuffer>> {
  return new Promise((resolve, reject) => {
    const parts: Uint8Array[] = []
    let total = 0
    let failed = false
    body.on('data', (piece: Uint8Array) => {
      if (failed) return
      total += piece.length
      if (total > limit) {
        failed = true
        parts.length = 0
        reject(badRequest(tooLarge))
        return
      }
      parts.push(piece)
    })
    body.on('error', (err: Error) => {
      if (!failed) reject(err)
      failed = true
    })
    body.on('end', () => {
      if (failed) return
      const out = new Uint8Array(total)
      let pos = 0
      for (const p of parts) {
        out.set(p, pos)
        pos += p.length
      }
      resolve(out)
    })
    body.resume()
  })
}

/**
 * A request target as a URL. The origin is prefixed (not passed as a base), so that `//x` stays a
 * path instead of naming an authority; a target URL parsing still refuses is a 400.
 */
export function requestUrl(target: string | undefined): URL {
  const t = target ?? '/'
  try {
    return new URL(`https://localhost${t.startsWith('/') ? '' : '/'}${t}`)
  } catch {
    throw badRequest('malformed request path')
  }
}

/** Query parameters of a path (`/x?a=1&b=2`). */
export function queryParams(path: string): URLSearchParams {
  const q = path.indexOf('?')
  return new URLSearchParams(q < 0 ? '' : path.slice(q + 1))
}

/** Typed access to request parameters with PBS-like validation messages. */
export class Params {
  readonly #get: (name: string) => unknown
  constructor(get: (name: string) => unknown) {
    this.#get = get
  }
  static fromSearch(search: URLSearchParams): Params {
    return new Params((n) => search.get(n) ?? undefined)
  }
  static fromObject(obj: Record<string, unknown>): Params {
    return new Params((n) => obj[n])
  }
  has(name: string): boolean {
    const v = this.#get(name)
    return v !== undefined && v !== null
  }
  raw(name: string): unknown {
    return this.#get(name)
  }
  string(name: string, re?: RegExp): string {
    const v = this.#get(name)
    if (v === undefined || v === null)
      throw badRequest(`parameter verification failed - '${name}': parameter is missing`)
    if (typeof v !== 'string') throw badRequest(`parameter verification failed - '${name}': expected string`)
    if (re && !re.test(v))
      throw badRequest(`parameter verification failed - '${name}': value does not match the regex pattern`)
    return v
  }
  optString(name: string, re?: RegExp): string | undefined {
    return this.has(name) ? this.string(name, re) : undefined
  }
  int(name: string, min: number, max: number = Number.MAX_SAFE_INTEGER): number {
    const v = this.#get(name)
    if (v === undefined || v === null)
      throw badRequest(`parameter verification failed - '${name}': parameter is missing`)
    const n =
      typeof v === 'number' ? v : typeof v === 'string' && /^-?[0-9]+$/.test(v) ? Number(v) : Number.NaN
    if (!Number.isSafeInteger(n))
      throw badRequest(`parameter verification failed - '${name}': expected integer`)
    if (n < min)
      throw badRequest(`parameter verification failed - '${name}': value must have a minimum value of ${min}`)
    if (n > max)
      throw badRequest(`parameter verification failed - '${name}': value must have a maximum value of ${max}`)
    return n
  }
  optInt(name: string, min: number, max?: number): number | undefined {
    return this.has(name) ? this.int(name, min, max) : undefined
  }
  bool(name: string, dflt: boolean): boolean {
    const v = this.#get(name)
    if (v === undefined || v === null) return dflt
    if (typeof v === 'boolean') return v
    if (v === 'true' || v === '1' || v === 'yes' || v === 'on') return true
    if (v === 'false' || v === '0' || v === 'no' || v === 'off') return false
    throw badRequest(`parameter verification failed - '${name}': expected boolean`)
  }
}

/** The PBS safe-id pattern. */
export const SAFE_ID: RegExp = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/
/** A 64-digit lowercase hex digest. */
export const HEX_DIGEST: RegExp = /^[a-f0-9]{64}$/
/** Backup types. */
export const BACKUP_TYPE: RegExp = /^(vm|ct|host)$/
/** Namespace text (components joined with `/`). */
export const NAMESPACE: RegExp = /^(?:[A-Za-z0-9_][A-Za-z0-9._-]*\/){0,7}[A-Za-z0-9_][A-Za-z0-9._-]*$/

/** Parses the `ns` parameter into components (empty for the root). */
export function namespaceParam(p: Params, name = 'ns'): string[] {
  const ns = p.optString(name)
  if (ns === undefined || ns === '') return []
  if (!NAMESPACE.test(ns) || ns.length > 256)
    throw badRequest(`parameter verification failed - '${name}': invalid namespace`)
  return ns.split('/')
}
