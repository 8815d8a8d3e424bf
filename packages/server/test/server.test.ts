import { X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { loadOrCreateCertificate, startServer } from '../src/index.ts'

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, path, headers, rejectUnauthorized: false }, (res) => {
        const parts: Buffer[] = []
        res.on('data', (d: Buffer) => parts.push(d))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }))
      })
      .on('error', reject)
  })
}

describe('certificate', () => {
  it('creates a self-signed certificate once and reuses it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pxar-cert-'))
    dirs.push(dir)
    const a = await loadOrCreateCertificate(dir)
    expect(a.created).toBe(true)
    expect(a.fingerprint).toMatch(/^([0-9a-f]{2}:){31}[0-9a-f]{2}$/)
    const cert = new X509Certificate(await readFile(join(dir, 'proxy.pem')))
    expect(cert.fingerprint256.toLowerCase()).toBe(a.fingerprint)
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1')
    expect(cert.checkHost('localhost')).toBe('localhost')
    const b = await loadOrCreateCertificate(dir)
    expect(b.created).toBe(false)
    expect(b.fingerprint).toBe(a.fingerprint)
  })
})

describe('startServer', () => {
  it('serves the REST API with a token and presents its certificate', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pxar-srv-'))
    dirs.push(dir)
    const server = await startServer({
      datastore: join(dir, 'ds'),
      listen: '127.0.0.1:0',
      tokens: { 'root@pam!t': 'secret' },
      authFailureDelayMs: 0,
      name: 'backup1',
    })
    try {
      expect(server.url).toBe(`https://127.0.0.1:${server.port}`)
      expect(server.fingerprint).toBe(
        (await loadOrCreateCertificate(join(dir, 'ds', '.pxar-server'))).fingerprint,
      )
      const auth = { authorization: 'PBSAPIToken root@pam!t:secret' }
      expect(JSON.parse((await get(server.port, '/api2/json/version', auth)).body).data.version).toBe('3.2')
      expect(JSON.parse((await get(server.port, '/api2/json/admin/datastore', auth)).body).data).toEqual([
        { store: 'backup1', comment: null },
      ])
      const status = JSON.parse(
        (await get(server.port, '/api2/json/admin/datastore/backup1/status', auth)).body,
      ).data
      expect(status.total).toBeGreaterThan(0)
      expect(
        JSON.parse((await get(server.port, '/api2/json/admin/datastore/backup1/namespace', auth)).body).data,
      ).toEqual([{ ns: '' }])
      expect((await get(server.port, '/api2/json/admin/datastore/other/groups', auth)).status).toBe(404)
      expect((await get(server.port, '/api2/json/nope', auth)).status).toBe(404)
      expect((await get(server.port, '/api2/json/version')).status).toBe(401)
    } finally {
      await server.stop()
    }
    await expect(startServer({ datastore: dir, name: 'x' })).rejects.toThrow(TypeError)
  })
})

describe('token file beside the datastore', () => {
  it('accepts tokens created while the server runs', async () => {
    const { createTokenFile, serverPaths } = await import('../src/index.ts')
    const dir = await mkdtemp(join(tmpdir(), 'pxar-srv-'))
    dirs.push(dir)
    const store = join(dir, 'ds')
    const first = await createTokenFile(serverPaths(store).tokenFile, 'root@pam!one')
    const server = await startServer({ datastore: store, listen: '127.0.0.1:0', authFailureDelayMs: 0 })
    try {
      const ok = (id: string, secret: string) =>
        get(server.port, '/api2/json/version', { authorization: `PBSAPIToken ${id}:${secret}` }).then(
          (r) => r.status,
        )
      expect(await ok('root@pam!one', first)).toBe(200)
      expect(await ok('root@pam!two', 'x')).toBe(401)
      await new Promise((r) => setTimeout(r, 1100))
      const second = await createTokenFile(serverPaths(store).tokenFile, 'root@pam!two')
      expect(await ok('root@pam!two', second)).toBe(200)
      expect(await ok('root@pam!one', first)).toBe(200)
    } finally {
      await server.stop()
    }
  })
})
