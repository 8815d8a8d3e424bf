import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Authenticator, createTokenFile, isOwner, readTokenFile } from '../src/index.ts'

describe('Authenticator', () => {
  it('checks API tokens (space or = separator, percent-decoded secret)', () => {
    const auth = new Authenticator({ tokens: { 'root@pam!ci': 's3cr et' } })
    expect(auth.check({ authorization: 'PBSAPIToken root@pam!ci:s3cr%20et' }, 'POST')).toEqual({
      authId: 'root@pam!ci',
      ticket: false,
    })
    expect(auth.check({ authorization: 'PBSAPIToken=root@pam!ci:s3cr et' }, 'GET')?.authId).toBe(
      'root@pam!ci',
    )
    expect(auth.check({ authorization: 'PBSAPIToken root@pam!ci:wrong' }, 'GET')).toBeUndefined()
    expect(auth.check({ authorization: 'PBSAPIToken root@pam!other:s3cr et' }, 'GET')).toBeUndefined()
    expect(auth.check({ authorization: 'Basic cm9vdA==' }, 'GET')).toBeUndefined()
    expect(auth.check({}, 'GET')).toBeUndefined()
    expect(() => new Authenticator({ tokens: { 'root@pam': 'x' } })).toThrow(TypeError)
  })

  it('issues PBS-shaped tickets that expire, and CSRF tokens for non-GET requests', () => {
    let now = 1_700_000_000
    const auth = new Authenticator({ users: { 'alice@pbs': 'pw' }, now: () => now })
    expect(auth.login('alice@pbs', 'bad')).toBeUndefined()
    expect(auth.login('bob@pbs', 'pw')).toBeUndefined()
    const login = auth.login('alice@pbs', 'pw')!
    expect(login.ticket).toMatch(/^PBS:alice@pbs:6553F100::[A-Za-z0-9+/]+$/)
    const cookie = `PBSAuthCookie=${encodeURIComponent(login.ticket)}`
    expect(auth.check({ cookie }, 'GET')).toEqual({ authId: 'alice@pbs', ticket: true })
    expect(auth.check({ cookie }, 'POST')).toBeUndefined()
    expect(auth.check({ cookie, csrfpreventiontoken: login.CSRFPreventionToken }, 'POST')?.authId).toBe(
      'alice@pbs',
    )
    // tampered ticket
    expect(auth.check({ cookie: cookie.replace('alice', 'mallory') }, 'GET')).toBeUndefined()
    // renewal with the ticket as password
    expect(auth.login('alice@pbs', login.ticket)?.username).toBe('alice@pbs')
    now += 7201
    expect(auth.check({ cookie }, 'GET')).toBeUndefined()
    expect(auth.login('alice@pbs', login.ticket)).toBeUndefined()
  })

  it('applies the ownership rule (tokens of the owner user)', () => {
    expect(isOwner('a@pbs', 'a@pbs')).toBe(true)
    expect(isOwner('a@pbs', 'a@pbs!tok')).toBe(true)
    expect(isOwner('a@pbs!tok', 'a@pbs')).toBe(false)
    expect(isOwner('a@pbs!t1', 'a@pbs!t2')).toBe(false)
    expect(isOwner('b@pbs', 'a@pbs!tok')).toBe(false)
  })

  it('stores token secrets hashed in a 0600 token file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pxar-srv-'))
    try {
      const file = join(dir, 'tokens.json')
      const secret = await createTokenFile(file, 'root@pam!backup')
      expect(secret).toMatch(/^[0-9a-f-]{36}$/)
      expect(await readFile(file, 'utf8')).not.toContain(secret)
      expect((await stat(file)).mode & 0o777).toBe(0o600)
      const auth = new Authenticator({ tokenHashes: await readTokenFile(file) })
      expect(auth.check({ authorization: `PBSAPIToken root@pam!backup:${secret}` }, 'GET')?.authId).toBe(
        'root@pam!backup',
      )
      await expect(createTokenFile(file, 'root@pam')).rejects.toThrow(TypeError)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
