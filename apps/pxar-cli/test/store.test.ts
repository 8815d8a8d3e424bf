import { cp, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import { baseEnv, run, tempHome } from './helpers.ts'

const REAL = (): string => vectorsDir('pbs-real')
let store: string
let env: Record<string, string>

beforeEach(async () => {
  const home = await tempHome()
  env = baseEnv(home)
  store = join(home, 'store')
  // the commands modify the store (forget, prune, gc): work on a copy
  await cp(join(REAL(), 'datastore'), store, { recursive: true })
})

const expected = (name: string): Promise<string> => readFile(join(REAL(), 'expected', name), 'utf8')

describe('snapshots and files', () => {
  it('lists the snapshots as JSON with the documented fields', async () => {
    const r = await run(['snapshots', '--store', store, '--output-format', 'json'], { env })
    expect(r.code, r.stderr).toBe(0)
    const list = JSON.parse(r.stdout) as Record<string, unknown>[]
    expect(list.map((s) => s.snapshot)).toEqual([
      'host/enc/2023-11-14T22:15:00Z',
      'host/plain/2023-11-14T22:13:20Z',
      'host/plain/2023-11-14T23:13:20Z',
    ])
    expect(list[1]).toMatchObject({
      backupType: 'host',
      backupId: 'plain',
      backupTime: 1700000000,
      protected: false,
    })
    expect(list[1]!.files).toContain('root.pxar.didx')

    const one = await run(['snapshots', 'host/enc', '--store', store], { env })
    expect(one.stdout).toContain('host/enc/2023-11-14T22:15:00Z')
    expect(one.stdout).not.toContain('host/plain')
  })

  it('files lists the manifest (a group means its latest snapshot)', async () => {
    const r = await run(['files', 'host/plain', '--store', store, '--output-format', 'json'], { env })
    expect(r.code, r.stderr).toBe(0)
    const manifest = JSON.parse(await expected('host_plain_2023-11-14T23_13_20Z.index.json')) as {
      files: { filename: string; size: number; csum: string }[]
    }
    const out = JSON.parse(r.stdout) as {
      snapshot: string
      files: { filename: string; size: number; csum: string }[]
    }
    expect(out.snapshot).toBe('host/plain/2023-11-14T23:13:20Z')
    expect(out.files.map((f) => [f.filename, f.size, f.csum])).toEqual(
      manifest.files.map((f) => [f.filename, f.size, f.csum]),
    )
  })

  it('a missing store or snapshot: one line and a hint', async () => {
    const none = await run(['snapshots', '--store', join(store, 'nope')], { env })
    expect(none.code).toBe(1)
    expect(none.stderr.trim().split('\n')).toHaveLength(1)
    expect(none.stderr).toContain('no datastore at')
    const missing = await run(['files', 'host/plain/2020-01-01T00:00:00Z', '--store', store], { env })
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('pxar-cli snapshots')
    const bad = await run(['files', 'server/x/2020', '--store', store], { env })
    expect(bad.code).toBe(2)
  })

  it('the default store lives in the user data dir', async () => {
    const r = await run(['status'], { env })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(join(env.HOME!, '.local', 'share', 'pxar', 'datastore'))
  })
})

describe('catalog', () => {
  it('dump reproduces proxmox-backup-client catalog dump', async () => {
    for (const s of ['host/plain/2023-11-14T22:13:20Z', 'host/plain/2023-11-14T23:13:20Z']) {
      const r = await run(['catalog', 'dump', s, '--store', store], { env })
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toBe(await expected(`${s.replace(/[/:]/g, '_')}.catalog.txt`))
    }
  })

  it('dump of an encrypted backup needs the key and its passphrase', async () => {
    const s = 'host/enc/2023-11-14T22:15:00Z'
    const without = await run(['catalog', 'dump', s, '--store', store], { env })
    expect(without.code).toBe(1)
    expect(without.stderr).toContain('--keyfile')
    const password = (await readFile(join(REAL(), 'enc.key.password'), 'utf8')).trim()
    const r = await run(['catalog', 'dump', s, '--store', store, '--keyfile', join(REAL(), 'enc.key')], {
      env: { ...env, PBS_ENCRYPTION_PASSWORD: password },
    })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toBe(await expected('host_enc_2023-11-14T22_15_00Z.catalog.txt'))
    const wrong = await run(['catalog', 'dump', s, '--store', store, '--keyfile', join(REAL(), 'enc.key')], {
      env: { ...env, PBS_ENCRYPTION_PASSWORD: 'wrong password' },
    })
    expect(wrong.code).toBe(1)
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1)
  })

  it('find matches names or whole paths', async () => {
    const lines = (await expected('host_plain_2023-11-14T22_13_20Z.catalog.txt')).trim().split('\n')
    const confs = lines.filter((l) => /\.conf" /.test(l)).length
    const r = await run(['catalog', 'find', 'host/plain/2023-11-14T22:13:20Z', '*.conf', '--store', store], {
      env,
    })
    expect(r.code).toBe(0)
    const found = r.stdout.trim().split('\n')
    expect(found).toHaveLength(confs)
    expect(found.every((p) => p.endsWith('.conf'))).toBe(true)
    const j = await run(
      [
        'catalog',
        'find',
        'host/plain',
        '/root.pxar.didx/etc/**',
        '--store',
        store,
        '--output-format',
        'json',
      ],
      { env },
    )
    const items = JSON.parse(j.stdout) as { path: string; type: string }[]
    expect(items.length).toBeGreaterThan(confs)
    expect(items.every((i) => i.path.startsWith('/root.pxar.didx/etc/'))).toBe(true)
  })
})

describe('prune, forget, verify, gc, status', () => {
  it('prune --dry-run removes nothing; prune removes what it reports', async () => {
    const dry = await run(
      ['prune', 'host/plain', '--keep-last', '1', '--dry-run', '--store', store, '--output-format', 'json'],
      {
        env,
      },
    )
    expect(dry.code, dry.stderr).toBe(0)
    const plan = JSON.parse(dry.stdout) as {
      removed: number
      snapshots: { snapshot: string; mark: string }[]
    }
    expect(plan.removed).toBe(1)
    expect(plan.snapshots).toEqual([
      { snapshot: 'host/plain/2023-11-14T23:13:20Z', mark: 'keep' },
      { snapshot: 'host/plain/2023-11-14T22:13:20Z', mark: 'remove' },
    ])
    expect((await readdir(join(store, 'host', 'plain'))).filter((n) => n.startsWith('2023'))).toHaveLength(2)
    const real = await run(['prune', 'host/plain', '--keep-last', '1', '--store', store], { env })
    expect(real.code).toBe(0)
    expect((await readdir(join(store, 'host', 'plain'))).filter((n) => n.startsWith('2023'))).toEqual([
      '2023-11-14T23:13:20Z',
    ])
    const none = await run(['prune', 'host/plain', '--store', store], { env })
    expect(none.code).toBe(2)
    const neg = await run(['prune', 'host/plain', '--keep-last', '-1', '--store', store], { env })
    expect(neg.code).toBe(2)
  })

  it('forget removes one snapshot', async () => {
    const r = await run(['forget', 'host/enc/2023-11-14T22:15:00Z', '--store', store], { env })
    expect(r.code, r.stderr).toBe(0)
    const list = await run(['snapshots', '--store', store, '--output-format', 'json'], { env })
    expect((JSON.parse(list.stdout) as { snapshot: string }[]).map((s) => s.snapshot)).not.toContain(
      'host/enc/2023-11-14T22:15:00Z',
    )
  })

  it('verify: exit 0 when intact, exit 3 naming the damaged chunk', async () => {
    const ok = await run(['verify', '--store', store, '--output-format', 'json'], { env })
    expect(ok.code, ok.stderr).toBe(0)
    const res = JSON.parse(ok.stdout) as { ok: boolean; snapshots: { snapshot: string; ok: boolean }[] }
    expect(res.ok).toBe(true)
    expect(res.snapshots).toHaveLength(3)

    // damage one chunk of the plain snapshots
    const idx = await readFile(join(store, 'host', 'plain', '2023-11-14T22:13:20Z', 'catalog.pcat1.didx'))
    const digest = idx.subarray(4096 + 8, 4096 + 40).toString('hex')
    const chunk = join(store, '.chunks', digest.slice(0, 4), digest)
    const bytes = await readFile(chunk)
    bytes[bytes.length - 1]! ^= 0xff
    await writeFile(chunk, bytes)

    const bad = await run(['verify', 'host/plain', '--store', store, '--output-format', 'json'], { env })
    expect(bad.code).toBe(3)
    const out = JSON.parse(bad.stdout) as {
      ok: boolean
      failed: string[]
      snapshots: { damagedChunks: string[] }[]
    }
    expect(out.ok).toBe(false)
    expect(out.failed).toContain('host/plain/2023-11-14T22:13:20Z')
    expect(out.snapshots[0]!.damagedChunks).toContain(digest)
    const text = await run(['verify', 'host/plain/2023-11-14T22:13:20Z', '--store', store], { env })
    expect(text.code).toBe(3)
    expect(text.stdout).toContain('FAILED')
    expect(text.stdout).toContain(digest)
  })

  it('gc keeps referenced chunks and writes .gc-status; status reports it', async () => {
    const r = await run(['gc', '--store', store, '--output-format', 'json'], { env })
    expect(r.code, r.stderr).toBe(0)
    const st = JSON.parse(r.stdout) as Record<string, number>
    expect(st.indexFileCount).toBe(6)
    expect(st.removedChunks).toBe(0)
    expect(st.diskChunks).toBeGreaterThan(0)
    const s = await run(['status', '--store', store, '--output-format', 'json'], { env })
    expect(s.code, s.stderr).toBe(0)
    const status = JSON.parse(s.stdout) as Record<string, unknown>
    expect(status).toMatchObject({
      store,
      groups: 2,
      snapshots: 3,
      lastSnapshot: 'host/plain/2023-11-14T23:13:20Z',
    })
    expect(status.gc).toMatchObject({ 'disk-chunks': st.diskChunks })
    expect(typeof status.total).toBe('number')
  })
})
