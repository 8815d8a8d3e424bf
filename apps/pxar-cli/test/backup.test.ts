import { execFileSync } from 'node:child_process'
import { mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import { baseEnv, run, tempHome } from './helpers.ts'

let home: string
let env: Record<string, string>
let src: string

beforeAll(async () => {
  home = await tempHome()
  env = baseEnv(home)
  src = join(home, 'src')
  await mkdir(join(src, 'deep', 'er', 'est'), { recursive: true })
  await writeFile(join(src, 'empty'), '')
  await writeFile(join(src, 'hello.txt'), 'hello\n')
  await writeFile(join(src, 'deep', 'er', 'est', 'big.bin'), Buffer.alloc(5 << 20, 7))
  await writeFile(join(src, 'ünïcödé name'), 'x')
  await symlink('hello.txt', join(src, 'link'))
})

function diff(a: string, b: string): void {
  execFileSync('diff', ['-r', '--no-dereference', a, b])
}

describe('backup and restore on the default store', () => {
  it('backup prints the documented JSON; restore gives the same tree back', async () => {
    const r = await run(['backup', src, '--backup-id', 'web1', '--output-format', 'json'], { env })
    expect(r.code, r.stderr).toBe(0)
    const res = JSON.parse(r.stdout) as Record<string, unknown>
    expect(res.snapshot).toMatch(/^host\/web1\/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    expect(res.archives).toEqual(['root.pxar.didx', 'catalog.pcat1.didx'])
    expect(res).toMatchObject({ files: 4, reusedBytes: 0 })
    expect(res.bytes).toBe((5 << 20) + 6 + 1)
    expect(typeof res.durationMs).toBe('number')

    for (const archive of ['root.pxar.didx', 'root.pxar']) {
      const target = join(home, `restore-${archive}`)
      const rr = await run(['restore', res.snapshot as string, archive, target, '--output-format', 'json'], {
        env,
      })
      expect(rr.code, rr.stderr).toBe(0)
      expect(JSON.parse(rr.stdout)).toMatchObject({ files: 4 })
      diff(src, target)
      expect(await readlink(join(target, 'link'))).toBe('hello.txt')
    }
    // the catalog of the backup lists the files
    const cat = await run(['catalog', 'find', 'host/web1', '*.bin'], { env })
    expect(cat.stdout.trim()).toBe('/root.pxar.didx/deep/er/est/big.bin')
  })

  it('metadata mode reuses unchanged files on the second run', async () => {
    const first = await run(
      ['backup', src, '--backup-id', 'meta', '--mode', 'metadata', '--output-format', 'json'],
      { env },
    )
    expect(first.code, first.stderr).toBe(0)
    await new Promise((r) => setTimeout(r, 1100)) // a new backup time
    await writeFile(join(src, 'hello.txt'), 'hello again\n')
    const second = await run(
      ['backup', src, '--backup-id', 'meta', '--mode', 'metadata', '--output-format', 'json'],
      { env },
    )
    expect(second.code, second.stderr).toBe(0)
    const res = JSON.parse(second.stdout) as { archives: string[]; reusedBytes: number; snapshot: string }
    expect(res.archives).toEqual(['root.mpxar.didx', 'root.ppxar.didx'])
    expect(res.reusedBytes).toBeGreaterThanOrEqual(5 << 20)
    const target = join(home, 'restore-meta')
    const rr = await run(['restore', 'host/meta', 'root.mpxar.didx', target], { env })
    expect(rr.code, rr.stderr).toBe(0)
    diff(src, target)
    const v = await run(['verify', 'host/meta'], { env })
    expect(v.code, v.stdout).toBe(0)
  })

  it('backup errors: a missing source, a bad mode', async () => {
    const missing = await run(['backup', join(home, 'nope')], { env })
    expect(missing.code).toBe(1)
    expect(missing.stderr.trim().split('\n')).toHaveLength(1)
    expect(missing.stderr).toContain('does not exist')
    const bad = await run(['backup', src, '--mode', 'fast'], { env })
    expect(bad.code).toBe(2)
  })

  it('an encrypted backup needs the key to restore', async () => {
    const key = join(home, 'enc.json')
    expect((await run(['keygen', key, '--kdf', 'none'], { env })).code).toBe(0)
    const r = await run(['backup', src, '--backup-id', 'enc', '--keyfile', key, '--output-format', 'json'], {
      env,
    })
    expect(r.code, r.stderr).toBe(0)
    const without = await run(['restore', 'host/enc', 'root.pxar', join(home, 'enc-fail')], { env })
    expect(without.code).toBe(1)
    const target = join(home, 'enc-ok')
    const ok = await run(['restore', 'host/enc', 'root.pxar', target, '--keyfile', key], { env })
    expect(ok.code, ok.stderr).toBe(0)
    diff(src, target)
  })
})

describe('master key', () => {
  it('--master-pubkey-file stores the key wrapped for the master key in the snapshot', async () => {
    const { decodeBlob, decryptKeyConfig, generateMasterKeyPair, parseKeyConfig, rsaDecryptKeyConfig } =
      await import('@pxar/datastore')
    const pair = await generateMasterKeyPair({ password: 'master pass', bits: 4096 })
    const pub = join(home, 'master-public.pem')
    await writeFile(pub, pair.publicPem)
    const key = join(home, 'mk.json')
    expect((await run(['keygen', key, '--kdf', 'none'], { env })).code).toBe(0)
    const r = await run(
      [
        'backup',
        src,
        '--backup-id',
        'mk',
        '--keyfile',
        key,
        '--master-pubkey-file',
        pub,
        '--output-format',
        'json',
      ],
      { env },
    )
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as { snapshot: string; archives: string[] }
    expect(out.archives).toContain('rsa-encrypted.key.blob')
    const dir = join(home, '.local', 'share', 'pxar', 'datastore', out.snapshot)
    const wrapped = decodeBlob(await readFile(join(dir, 'rsa-encrypted.key.blob')))
    const recovered = rsaDecryptKeyConfig(wrapped, pair.privatePem, { passphrase: 'master pass' })
    const original = await decryptKeyConfig(parseKeyConfig(await readFile(key, 'utf8')))
    expect(Buffer.from((await decryptKeyConfig(recovered)).key)).toEqual(Buffer.from(original.key))
    // without a key there is nothing to wrap
    const bad = await run(['backup', src, '--backup-id', 'mk', '--master-pubkey-file', pub], { env })
    expect(bad.code).toBe(2)
  })
})

describe('extract', () => {
  it('extracts a local archive and refuses to overwrite without --overwrite', async () => {
    const dir = join(vectorsDir('pxar'), 'many-files-300')
    const target = join(home, 'extract')
    const r = await run(['extract', join(dir, 'archive.pxar'), target, '--output-format', 'json'], { env })
    expect(r.code, r.stderr).toBe(0)
    const listed = await run(['list', join(dir, 'archive.pxar')], { env })
    const files = listed.stdout.trim().split('\n').length - 1
    const count = async (d: string): Promise<number> => {
      let n = 0
      for (const e of await readdir(d, { withFileTypes: true }))
        n += 1 + (e.isDirectory() ? await count(join(d, e.name)) : 0)
      return n
    }
    expect(await count(target)).toBe(files)
    const again = await run(['extract', join(dir, 'archive.pxar'), target], { env })
    expect(again.code).toBe(1)
    expect(again.stderr.trim().split('\n')).toHaveLength(1)
    const over = await run(['extract', join(dir, 'archive.pxar'), target, '--overwrite'], { env })
    expect(over.code, over.stderr).toBe(0)

    const v2 = join(home, 'extract-v2')
    const s = await run(['extract', join(vectorsDir('pxar'), 'v2-split-many-files', 'archive.mpxar'), v2], {
      env,
    })
    expect(s.code, s.stderr).toBe(0)
    const v1 = join(home, 'extract-v1')
    expect(
      (await run(['extract', join(vectorsDir('pxar'), 'v2-split-many-files', 'archive.pxar'), v1], { env }))
        .code,
    ).toBe(0)
    diff(v1, v2)
    void readFile
  })
})
