import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type RunningServer, startServer } from '../../server/src/index.ts'
import { PbsClient } from '../src/index.ts'

export const TOKEN_ID = 'root@pam!test'
export const TOKEN_SECRET = '6b1d7a8e-0c39-4b7b-9d3e-1f2a3b4c5d6e'
export const USER = 'alice@pbs'
export const PASSWORD = 'correct horse'

/** Deterministic mixed data: random runs, repeated text and zero runs. */
export function mixedData(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed >>> 0 || 1
  let pos = 0
  const text = new TextEncoder().encode('the quick brown fox jumps over the lazy dog\n')
  while (pos < size) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    const kind = x % 3
    const len = Math.min(size - pos, 4096 + (x % 65536))
    if (kind === 0) {
      for (let i = 0; i < len; i++) {
        x ^= x << 13
        x >>>= 0
        x ^= x >>> 17
        x ^= x << 5
        x >>>= 0
        out[pos + i] = x & 0xff
      }
    } else if (kind === 1) {
      for (let i = 0; i < len; i++) out[pos + i] = text[i % text.length]!
    }
    pos += len
  }
  return out
}

/** Splits bytes into pieces (as a file stream would deliver them). */
export function* pieces(data: Uint8Array, size = 256 * 1024): Generator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.slice(i, i + size)
}

export interface Fixture {
  dir: string
  server: RunningServer
  client(options?: { authId?: string; password?: string; fingerprint?: string | undefined }): PbsClient
  close(): Promise<void>
}

export async function startFixture(): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'pxar-pbs-'))
  const server = await startServer({
    datastore: join(dir, 'store'),
    listen: '127.0.0.1:0',
    tokens: { [TOKEN_ID]: TOKEN_SECRET },
    users: { [USER]: PASSWORD },
    certDir: join(dir, 'cert'),
    authFailureDelayMs: 0,
  })
  return {
    dir,
    server,
    client: (o = {}) =>
      new PbsClient({
        host: '127.0.0.1',
        port: server.port,
        authId: o.authId ?? TOKEN_ID,
        password: o.password ?? TOKEN_SECRET,
        ...('fingerprint' in o
          ? o.fingerprint === undefined
            ? {}
            : { fingerprint: o.fingerprint }
          : { fingerprint: server.fingerprint }),
      }),
    async close() {
      await server.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

export async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  let n = 0
  for await (const p of it) {
    parts.push(p)
    n += p.length
  }
  const out = new Uint8Array(n)
  let pos = 0
  for (const p of parts) {
    out.set(p, pos)
    pos += p.length
  }
  return out
}
