/**
 * Authentication as PBS does it (`proxmox-auth-api`): API tokens
 * (`Authorization: PBSAPIToken <user@realm!name>:<secret>`) and tickets from
 * `POST /access/ticket` (`Cookie: PBSAuthCookie=<ticket>` plus `CSRFPreventionToken` on
 * non-GET requests).
 *
 * Tickets have the PBS shape `PBS:<userid>:<8 hex epoch>::<base64 signature>`; the signature is
 * an HMAC-SHA256 with a per-process secret (PBS signs with its auth key, which clients treat as
 * opaque), so tickets do not survive a server restart.
 */
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'

/** Ticket lifetime (PBS `TICKET_LIFETIME`). */
export const TICKET_LIFETIME = 7200
const TICKET_SKEW = 300

const USER_ID = /^[^\s:/\p{Cc}]+@[A-Za-z0-9_][A-Za-z0-9._-]*$/u
const TOKEN_ID = /^([^\s:/\p{Cc}]+@[A-Za-z0-9_][A-Za-z0-9._-]*)!([A-Za-z0-9_][A-Za-z0-9._-]*)$/u

/** True for `user@realm`. */
export function isUserId(s: string): boolean {
  return USER_ID.test(s)
}
/** True for `user@realm!token`. */
export function isTokenId(s: string): boolean {
  return TOKEN_ID.test(s)
}
/** The user of an auth id (`user@realm!tok` → `user@realm`). */
export function authIdUser(authId: string): string {
  const i = authId.indexOf('!')
  return i < 0 ? authId : authId.slice(0, i)
}

/**
 * PBS ownership rule: `authId` may use a group owned by `owner` if they are equal, or if the
 * owner is a token of `authId`'s user.
 */
export function isOwner(authId: string, owner: string): boolean {
  return authId === owner || (owner.includes('!') && !authId.includes('!') && authIdUser(owner) === authId)
}

function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex')
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** Options of {@link Authenticator}. */
export interface AuthenticatorOptions {
  /** API tokens: auth id (`user@realm!name`) → secret. */
  readonly tokens?: Readonly<Record<string, string>>
  /** API tokens as stored by {@link createTokenFile} (auth id → SHA-256 hex of the secret). */
  readonly tokenHashes?: Readonly<Record<string, string>>
  /** Users for ticket logins: user id (`user@realm`) → password. */
  readonly users?: Readonly<Record<string, string>>
  /** Clock (epoch seconds), for tests. */
  readonly now?: () => number
}

/** Result of a successful authentication. */
export interface AuthResult {
  readonly authId: string
  /** Authenticated by ticket (CSRF token then needed for non-GET requests). */
  readonly ticket: boolean
}

/** Checks credentials and issues tickets. */
export class Authenticator {
  readonly #tokens = new Map<string, string>()
  readonly #users: Map<string, string>
  readonly #secret = randomBytes(32)
  readonly #now: () => number

  constructor(options: AuthenticatorOptions = {}) {
    for (const [id, secret] of Object.entries(options.tokens ?? {})) {
      if (!isTokenId(id)) throw new TypeError(`invalid token id '${id}'`)
      this.#tokens.set(id, sha256Hex(secret))
    }
    for (const [id, hash] of Object.entries(options.tokenHashes ?? {})) {
      if (!isTokenId(id)) throw new TypeError(`invalid token id '${id}'`)
      this.#tokens.set(id, hash.toLowerCase())
    }
    this.#users = new Map(Object.entries(options.users ?? {}))
    for (const id of this.#users.keys()) if (!isUserId(id)) throw new TypeError(`invalid user id '${id}'`)
    this.#now = options.now ?? (() => Math.floor(Date.now() / 1000))
  }

  /** Adds or replaces tokens by their stored SHA-256 hashes (e.g. after re-reading a token file). */
  setTokenHashes(hashes: Readonly<Record<string, string>>): void {
    for (const [id, hash] of Object.entries(hashes)) {
      if (isTokenId(id)) this.#tokens.set(id, hash.toLowerCase())
    }
  }

  #sign(data: string): string {
    return createHmac('sha256', this.#secret).update(data).digest('base64').replace(/=+$/, '')
  }

  /** A new ticket for `userid` (`PBS:<userid>:<HEX epoch>::<signature>`). */
  createTicket(userid: string): string {
    const data = `PBS:${userid}:${this.#now().toString(16).toUpperCase().padStart(8, '0')}`
    return `${data}::${this.#sign(data)}`
  }

  /** The user id of a valid ticket, or undefined. */
  verifyTicket(ticket: string): string | undefined {
    const m = /^(PBS:([^:]+):([0-9A-F]{8}))::([A-Za-z0-9+/]+)$/.exec(ticket)
    if (!m) return undefined
    if (!safeEqual(this.#sign(m[1]!), m[4]!)) return undefined
    const age = this.#now() - Number.parseInt(m[3]!, 16)
    if (age < -TICKET_SKEW || age > TICKET_LIFETIME) return undefined
    return m[2]
  }

  /** CSRF token bound to a user (`<HEX epoch>:<signature>`). */
  createCsrfToken(userid: string): string {
    const ts = this.#now().toString(16).toUpperCase().padStart(8, '0')
    return `${ts}:${this.#sign(`${ts}:${userid}`)}`
  }

  /** True when `token` is a valid CSRF token of `userid`. */
  verifyCsrfToken(userid: string, token: string): boolean {
    const m = /^([0-9A-F]{8}):([A-Za-z0-9+/]+)$/.exec(token)
    if (!m) return false
    const age = this.#now() - Number.parseInt(m[1]!, 16)
    return age >= -TICKET_SKEW && age <= TICKET_LIFETIME && safeEqual(this.#sign(`${m[1]}:${userid}`), m[2]!)
  }

  /**
   * `POST /access/ticket`: a password (or a still valid ticket of the same user, for renewal)
   * gives a new ticket. Returns undefined when the credentials are wrong.
   */
  login(
    username: string,
    password: string,
  ): { username: string; ticket: string; CSRFPreventionToken: string } | undefined {
    const expected = this.#users.get(username)
    const ok =
      (expected !== undefined && safeEqual(expected, password)) ||
      (password.startsWith('PBS:') && this.verifyTicket(password) === username && this.#users.has(username))
    if (!ok) return undefined
    return {
      username,
      ticket: this.createTicket(username),
      CSRFPreventionToken: this.createCsrfToken(username),
    }
  }

  /**
   * Authenticates request headers: an `Authorization: PBSAPIToken` header, or the ticket cookie
   * (with the CSRF header for methods other than GET/HEAD). Returns undefined when nothing valid
   * was presented.
   */
  check(
    headers: Readonly<Record<string, string | string[] | undefined>>,
    method: string,
  ): AuthResult | undefined {
    const authz = headers.authorization
    if (typeof authz === 'string' && authz.length > 0) {
      const m = /^PBSAPIToken[ =](.*)$/s.exec(authz)
      if (!m) return undefined
      const value = m[1]!
      const colon = value.indexOf(':')
      if (colon < 0) return undefined
      const id = value.slice(0, colon)
      let secret: string
      try {
        secret = decodeURIComponent(value.slice(colon + 1))
      } catch {
        return undefined
      }
      const hash = this.#tokens.get(id)
      if (hash === undefined || !safeEqual(hash, sha256Hex(secret))) return undefined
      return { authId: id, ticket: false }
    }
    const cookie = headers.cookie
    const cookies = Array.isArray(cookie) ? cookie.join('; ') : (cookie ?? '')
    for (const part of cookies.split(';')) {
      const eq = part.indexOf('=')
      if (eq < 0 || part.slice(0, eq).trim() !== 'PBSAuthCookie') continue
      let ticket: string
      try {
        ticket = decodeURIComponent(part.slice(eq + 1).trim())
      } catch {
        return undefined
      }
      const user = this.verifyTicket(ticket)
      if (!user || !this.#users.has(user)) return undefined
      if (method !== 'GET' && method !== 'HEAD') {
        const csrf = headers.csrfpreventiontoken
        if (typeof csrf !== 'string' || !this.verifyCsrfToken(user, csrf)) return undefined
      }
      return { authId: user, ticket: true }
    }
    return undefined
  }
}

/** Reads a token file written by {@link createTokenFile} (missing file → no tokens). */
export async function readTokenFile(path: string): Promise<Record<string, string>> {
  try {
    const json = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>
    const out: Record<string, string> = {}
    for (const [id, v] of Object.entries(json)) {
      if (typeof v === 'string' && /^[0-9a-f]{64}$/.test(v)) out[id] = v
    }
    return out
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return {}
    throw err
  }
}

/**
 * Adds (or replaces) an API token in a token file and returns its new secret (a UUID, like
 * PBS). The file keeps only SHA-256 hashes of the secrets; it is written with mode 0600.
 *
 * @throws TypeError for an auth id that is not `user@realm!name`.
 * @example
 * ```ts
 * const secret = await createTokenFile('/srv/pbs/tokens.json', 'root@pam!backup')
 * ```
 */
export async function createTokenFile(path: string, authId: string): Promise<string> {
  if (!isTokenId(authId)) throw new TypeError(`invalid token id '${authId}' (expected user@realm!name)`)
  const tokens = await readTokenFile(path)
  const secret = randomUUID()
  tokens[authId] = sha256Hex(secret)
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const tmp = `${path}.tmp_${randomBytes(4).toString('hex')}`
  await writeFile(tmp, `${JSON.stringify(tokens, null, 2)}\n`, { mode: 0o600 })
  await chmod(tmp, 0o600)
  await rename(tmp, path)
  return secret
}
