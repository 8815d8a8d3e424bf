/** Requests found by the fuzzer (tools/fuzz) that once escaped as untyped errors. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningServer, startServer } from '../src/index.ts'

let dir: string
let server: RunningServer
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pxar-server-fuzzreg-'))
  server = await startServer({
    datastore: join(dir, 'ds'),
    listen: '127.0.0.1:0',
    tokens: { 'root@pam!t': 'secret' },
    authFailureDelayMs: 0,
  })
})
afterAll(async () => {
  await server?.stop()
  await rm(dir, { recursive: true, force: true })
})

async function raw(request: string): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port: server.port, rejectUnauthorized: false })
  await new Promise((r) => socket.once('secureConnect', r))
  const parts: Buffer[] = []
  socket.on('data', (d: Buffer) => parts.push(d))
  await new Promise((r) => {
    socket.on('close', r)
    socket.end(request)
  })
  return Buffer.concat(parts).toString()
}

describe('fuzz regressions', () => {
  it('a request target like // is a path (404), not an Invalid URL error', async () => {
    for (const target of ['//', '//api2/json/version']) {
      const answer = await raw(
        `GET ${target} HTTP/1.1\r\nhost: localhost\r\nauthorization: PBSAPIToken root@pam!t:secret\r\nconnection: close\r\n\r\n`,
      )
      expect(answer).toMatch(/^HTTP\/1.1 404 /)
      expect(answer).not.toMatch(/Invalid URL/)
    }
    const upgrade = await raw(
      'GET //api2/json/backup?store=store HTTP/1.1\r\nhost: localhost\r\nconnection: upgrade\r\n' +
        'upgrade: proxmox-backup-protocol-v1\r\nauthorization: PBSAPIToken root@pam!t:secret\r\n\r\n',
    )
    expect(upgrade).toMatch(/^HTTP\/1.1 404 /)
  })
})
