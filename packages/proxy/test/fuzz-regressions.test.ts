/** Inputs found by the fuzzer (tools/fuzz) that once escaped as untyped errors. */
import { mkdtemp, rm } from 'node:fs/promises'
import http2 from 'node:http2'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isPxarError } from '@pxar/format'
import { describe, expect, it } from 'vitest'
import { entryFromWire, listingFromWire, metadataFromWire, startAgent } from '../src/index.ts'

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return isPxarError(err) ? err.code : `untyped ${(err as Error).name}`
  }
  return undefined
}

describe('fuzz regressions', () => {
  it('malformed wire messages are PxarErrors with ERR_PBS_PROTOCOL', () => {
    expect(codeOf(() => entryFromWire({ kind: 'door' }))).toBe('ERR_PBS_PROTOCOL')
    expect(codeOf(() => listingFromWire({ entries: [], skipped: 5 }))).toBe('ERR_PBS_PROTOCOL')
    expect(codeOf(() => metadataFromWire(null))).toBe('ERR_PBS_PROTOCOL')
    const meta = {
      mode: 0o100644,
      flags: 0,
      uid: 2 ** 32,
      gid: 0,
      mtime: [0, 0],
      xattrs: [],
      acl: { users: [], groups: [], groupObj: null, default: null, defaultUsers: [], defaultGroups: [] },
      fcaps: null,
      quotaProjectId: null,
    }
    expect(codeOf(() => metadataFromWire(meta))).toBe('ERR_PBS_PROTOCOL')
  })
})

describe('agent request paths (fuzz regressions)', () => {
  it('a :path like // (once an Invalid URL TypeError, answered 500) is a typed 404', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pxar-agent-path-'))
    const token = 'agent-path-token-0123456789'
    const agent = await startAgent({ roots: { data: dir }, token, certDir: join(dir, 'cert') })
    const session = http2.connect(agent.url, { rejectUnauthorized: false })
    session.on('error', () => {})
    try {
      for (const path of ['//', '///', '/\\']) {
        const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = session.request({ ':method': 'GET', ':path': path, authorization: `Bearer ${token}` })
          let status = 0
          let body = ''
          req.on('response', (h) => {
            status = Number(h[':status'])
          })
          req.setEncoding('utf8')
          req.on('data', (d: string) => {
            body += d
          })
          req.on('end', () => resolve({ status, body }))
          req.on('error', reject)
          req.end()
        })
        expect(answer.status).toBe(404)
        expect(JSON.parse(answer.body).code).toBe('ERR_PXAR_NOT_FOUND')
      }
    } finally {
      session.close()
      await agent.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
