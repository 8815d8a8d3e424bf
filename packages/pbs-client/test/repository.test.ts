import { describe, expect, it } from 'vitest'
import {
  encodeQuery,
  formatRepository,
  normalizeFingerprint,
  parseRepository,
  repositoryFromEnv,
} from '../src/index.ts'

describe('parseRepository', () => {
  it.each([
    ['store1', { authId: 'root@pam', host: 'localhost', port: 8007, store: 'store1' }],
    ['pbs.example.com:store1', { authId: 'root@pam', host: 'pbs.example.com', port: 8007, store: 'store1' }],
    ['pbs:8008:store1', { authId: 'root@pam', host: 'pbs', port: 8008, store: 'store1' }],
    ['backup@pbs@10.0.0.1:ds', { authId: 'backup@pbs', host: '10.0.0.1', port: 8007, store: 'ds' }],
    ['root@pam!ci@[fe80::1]:8007:ds', { authId: 'root@pam!ci', host: 'fe80::1', port: 8007, store: 'ds' }],
    ['a.b@ldap!tok-1@h:1:s_1', { authId: 'a.b@ldap!tok-1', host: 'h', port: 1, store: 's_1' }],
  ])('%s', (text, expected) => {
    const r = parseRepository(text)
    expect(r).toEqual(expected)
    expect(parseRepository(formatRepository(r))).toEqual(r)
  })

  it.each([
    '',
    'host:',
    'root@pam@host:-ds',
    'noRealm@host:ds'.replace('@host', '!x@host'),
    'h:99999:ds',
    'h:ds/x',
  ])('refuses %j', (text) => {
    expect(() => parseRepository(text)).toThrow(expect.objectContaining({ code: 'ERR_PBS_REPOSITORY' }))
  })
})

describe('environment and helpers', () => {
  it('reads PBS_REPOSITORY, PBS_PASSWORD and PBS_FINGERPRINT', () => {
    expect(
      repositoryFromEnv({ PBS_REPOSITORY: 'u@pbs@h:ds', PBS_PASSWORD: 'pw', PBS_FINGERPRINT: 'AA:BB' }),
    ).toEqual({
      repository: { authId: 'u@pbs', host: 'h', port: 8007, store: 'ds' },
      password: 'pw',
      fingerprint: 'AA:BB',
    })
    expect(repositoryFromEnv({})).toEqual({})
  })

  it('normalizes fingerprints', () => {
    const fp = 'AB'.repeat(32)
    expect(normalizeFingerprint(fp)).toBe(Array(32).fill('ab').join(':'))
    expect(normalizeFingerprint(Array(32).fill('Ab').join(':'))).toBe(Array(32).fill('ab').join(':'))
    expect(() => normalizeFingerprint('ab:cd')).toThrow(expect.objectContaining({ code: 'ERR_PBS_CERT' }))
  })

  it('encodes query parameters like the official client', () => {
    expect(encodeQuery({ a: 1, b: true, c: undefined, d: ['x', 'y z'], ns: 'a/b' })).toBe(
      '?a=1&b=true&d=x&d=y+z&ns=a%2Fb',
    )
    expect(encodeQuery({})).toBe('')
  })
})
