import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningServer, startServer } from '../src/index.ts'

let dir: string
let server: RunningServer
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pxar-hostile-'))
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

/** Sends an upgrade request, waits for the 101, then writes `after` on the raw socket. */
async function upgradeThenSend(id: string, after: Buffer): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port: server.port, rejectUnauthorized: false })
  await new Promise((r) => socket.once('secureConnect', r))
  socket.write(
    `GET /api2/json/backup?store=store&backup-type=host&backup-id=${id}&backup-time=100 HTTP/1.1\r\n` +
      'host: localhost\r\nconnection: upgrade\r\nupgrade: proxmox-backup-protocol-v1\r\n' +
      'authorization: PBSAPIToken root@pam!t:secret\r\n\r\n',
  )
  const head = await new Promise<string>((resolve) =>
    socket.once('data', (d: Buffer) => resolve(d.toString())),
  )
  socket.write(after)
  await new Promise((r) => setTimeout(r, 50))
  socket.destroy()
  return head
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10))
}

describe('hostile clients', () => {
  it('garbage instead of the HTTP/2 preface ends the session and removes the snapshot', async () => {
    const before = server.stats.backupsAborted
    const head = await upgradeThenSend('junk', Buffer.from('this is not HTTP/2 at all\r\n\r\n'.repeat(100)))
    expect(head).toMatch(/^HTTP\/1.1 101 /)
    await until(() => server.stats.backupsAborted > before)
    expect(server.stats.backupsAborted).toBe(before + 1)
    expect(await readdir(join(dir, 'ds', 'host', 'junk'))).toEqual(['owner'])
  })

  it('a preface followed by random frames does not crash the server', async () => {
    const before = server.stats.backupsAborted
    const junk = Buffer.alloc(4096)
    for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919 + 13) & 0xff
    await upgradeThenSend('frames', Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), junk]))
    await until(() => server.stats.backupsAborted > before)
    expect(server.stats.backupsAborted).toBe(before + 1)
  })

  it('refuses malformed upgrade parameters with 400', async () => {
    const socket = tls.connect({ host: '127.0.0.1', port: server.port, rejectUnauthorized: false })
    await new Promise((r) => socket.once('secureConnect', r))
    socket.write(
      'GET /api2/json/backup?store=store&backup-type=nas&backup-id=x&backup-time=0 HTTP/1.1\r\n' +
        'host: localhost\r\nconnection: upgrade\r\nupgrade: proxmox-backup-protocol-v1\r\n' +
        'authorization: PBSAPIToken root@pam!t:secret\r\n\r\n',
    )
    const head = await new Promise<string>((resolve) =>
      socket.once('data', (d: Buffer) => resolve(d.toString())),
    )
    socket.destroy()
    expect(head).toMatch(/^HTTP\/1.1 400 /)
  })
})
