import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { decryptKeyConfig, parseKeyConfig } from '@pxar/datastore'
import { beforeAll, describe, expect, it } from 'vitest'
import { baseEnv, run, runInPty, tempHome } from './helpers.ts'

let home: string
let env: Record<string, string>
beforeAll(async () => {
  home = await tempHome()
  env = baseEnv(home)
})

describe('keygen', () => {
  it('prompts for the passphrase twice on a terminal, without echo, and writes a 0600 key at the default path', async () => {
    const r = await runInPty(
      ['keygen', '--kdf', 'pbkdf2', '--hint', 'the usual'],
      ['s3cret pass', 's3cret pass'],
      { env },
    )
    expect(r.code, r.output).toBe(0)
    expect(r.output).not.toContain('s3cret')
    const path = join(home, '.config', 'proxmox-backup', 'encryption-key.json')
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    const kc = parseKeyConfig(await readFile(path, 'utf8'))
    expect(kc.kdf?.type).toBe('pbkdf2')
    expect(kc.hint).toBe('the usual')
    const key = await decryptKeyConfig(kc, { password: 's3cret pass' })
    expect(key.key).toHaveLength(32)
    expect(r.output).toContain('fingerprint:')
  })

  it('refuses to overwrite an existing key', async () => {
    const r = await run(['keygen'], { env: { ...env, PBS_ENCRYPTION_PASSWORD: 'whatever1' } })
    expect(r.code).toBe(1)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toContain('already exists')
  })

  it('rejects mismatching passphrases on a terminal', async () => {
    const r = await runInPty(['keygen', join(home, 'mismatch.json')], ['first pass', 'second pass'], { env })
    expect(r.code).toBe(1)
    expect(r.output).toContain('do not match')
  })

  it('takes the passphrase from PBS_ENCRYPTION_PASSWORD_FILE and prints JSON key info', async () => {
    const pwFile = join(home, 'pw.txt')
    await writeFile(pwFile, 'from a file\nignored second line\n')
    const path = join(home, 'k1.json')
    const r = await run(['keygen', path, '--output-format', 'json'], {
      env: { ...env, PBS_ENCRYPTION_PASSWORD_FILE: pwFile },
    })
    expect(r.code, r.stderr).toBe(0)
    const info = JSON.parse(r.stdout) as Record<string, unknown>
    expect(info).toMatchObject({ path, kdf: 'scrypt' })
    expect(info.fingerprint).toMatch(/^([0-9a-f]{2}:){31}[0-9a-f]{2}$/)
    await decryptKeyConfig(parseKeyConfig(await readFile(path, 'utf8')), { password: 'from a file' })

    const show = await run(['key', 'show', path, '--output-format', 'json'], { env })
    expect(show.code).toBe(0)
    expect(JSON.parse(show.stdout)).toMatchObject({ path, kdf: 'scrypt', fingerprint: info.fingerprint })
  })

  it('without a terminal or environment variable it says how to pass the passphrase', async () => {
    const r = await run(['keygen', join(home, 'k2.json')], { env })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('PBS_ENCRYPTION_PASSWORD')
  })

  it('kdf none writes an unprotected key; --hint with it is a usage error', async () => {
    const path = join(home, 'plain.json')
    const r = await run(['keygen', path, '--kdf', 'none'], { env })
    expect(r.code).toBe(0)
    expect(parseKeyConfig(await readFile(path, 'utf8')).kdf).toBeNull()
    const bad = await run(['keygen', join(home, 'x.json'), '--kdf', 'none', '--hint', 'h'], { env })
    expect(bad.code).toBe(2)
  })
})

describe('key', () => {
  it('change-passphrase keeps the key and fingerprint', async () => {
    const path = join(home, 'change.json')
    expect((await run(['keygen', path], { env: { ...env, PBS_ENCRYPTION_PASSWORD: 'old pass' } })).code).toBe(
      0,
    )
    const before = await decryptKeyConfig(parseKeyConfig(await readFile(path, 'utf8')), {
      password: 'old pass',
    })
    const r = await runInPty(['key', 'change-passphrase', path], ['old pass', 'new pass', 'new pass'], {
      env,
    })
    expect(r.code, r.output).toBe(0)
    const after = await decryptKeyConfig(parseKeyConfig(await readFile(path, 'utf8')), {
      password: 'new pass',
    })
    expect(Buffer.from(after.key).equals(Buffer.from(before.key))).toBe(true)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    const wrong = await run(['key', 'change-passphrase', path], {
      env: { ...env, PBS_ENCRYPTION_PASSWORD: 'old pass', PXAR_NEW_ENCRYPTION_PASSWORD: 'x' },
    })
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toContain('Unable to decrypt key')
  })

  it('paperkey prints the key between markers', async () => {
    const path = join(home, 'plain.json')
    const r = await run(['key', 'paperkey', path, '--subject', 'my key'], { env })
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('Subject: my key')
    expect(r.stdout).toContain('-----BEGIN PROXMOX BACKUP KEY-----')
    expect(r.stdout).toContain('-----END PROXMOX BACKUP KEY-----')
  })

  it('create-master-key and import-master-pubkey', async () => {
    const dir = join(home, 'master')
    const r = await run(
      ['key', 'create-master-key', '--output-dir', dir, '--bits', '2048', '--output-format', 'json'],
      {
        env: { ...env, PXAR_NEW_ENCRYPTION_PASSWORD: 'master pass' },
      },
    )
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ bits: 2048 })
    expect((await stat(join(dir, 'master-private.pem'))).mode & 0o777).toBe(0o600)
    const again = await run(['key', 'create-master-key', '--output-dir', dir, '--bits', '2048'], {
      env: { ...env, PXAR_NEW_ENCRYPTION_PASSWORD: 'master pass' },
    })
    expect(again.code).toBe(1)
    const imp = await run(['key', 'import-master-pubkey', join(dir, 'master-public.pem')], { env })
    expect(imp.code, imp.stderr).toBe(0)
    expect(await readFile(join(home, '.config', 'proxmox-backup', 'master-public.pem'), 'utf8')).toBe(
      await readFile(join(dir, 'master-public.pem'), 'utf8'),
    )
    const show = await run(['key', 'show-master-pubkey', '--output-format', 'json'], { env })
    expect(JSON.parse(show.stdout)).toMatchObject({ bits: 2048, exponent: 65537 })
    const bad = await run(['key', 'import-master-pubkey', join(dir, 'master-private.pem')], { env })
    expect(bad.code).toBe(1)
    const paper = await run(['key', 'paperkey', join(dir, 'master-private.pem')], { env })
    expect(paper.code).toBe(0)
    expect(paper.stdout).toMatch(/^ 0: -----BEGIN ENCRYPTED PRIVATE KEY-----/)
  })
})
