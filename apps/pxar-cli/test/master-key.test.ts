import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createKeyConfig,
  decodeBlob,
  decryptKeyConfig,
  generateKey,
  generateMasterKeyPair,
  rsaDecryptKeyConfig,
  serializeKeyConfig,
} from '@pxar/datastore'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { findMasterPubkey, rsaEncryptedKeyBlob } from '../src/commands/key.ts'

let dir: string
let pair: Awaited<ReturnType<typeof generateMasterKeyPair>>
const saved = { ...process.env }

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pxar-master-'))
  pair = await generateMasterKeyPair({ password: 'master pass', bits: 4096 })
  await writeFile(join(dir, 'master-public.pem'), pair.publicPem)
  await writeFile(join(dir, 'not-a-key.pem'), 'hello\n')
}, 60_000)

afterEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
  Object.assign(process.env, saved)
})

describe('master public key for backups', () => {
  it('is found from the option, the environment or the default path, in that order', async () => {
    process.env.XDG_CONFIG_HOME = join(dir, 'config')
    delete process.env.PBS_MASTER_PUBKEY
    delete process.env.PBS_MASTER_PUBKEY_FILE
    delete process.env.PBS_MASTER_PUBKEY_FD
    expect(await findMasterPubkey()).toBeUndefined()

    await mkdir(join(dir, 'config', 'proxmox-backup'), { recursive: true })
    await writeFile(join(dir, 'config', 'proxmox-backup', 'master-public.pem'), pair.publicPem)
    expect((await findMasterPubkey())?.path).toBe(join(dir, 'config', 'proxmox-backup', 'master-public.pem'))

    process.env.PBS_MASTER_PUBKEY_FILE = join(dir, 'master-public.pem')
    expect((await findMasterPubkey())?.path).toBe(join(dir, 'master-public.pem'))
    process.env.PBS_MASTER_PUBKEY = pair.publicPem
    expect((await findMasterPubkey())?.path).toBe('PBS_MASTER_PUBKEY')

    const explicit = await findMasterPubkey(join(dir, 'master-public.pem'))
    expect(explicit?.pem).toBe(pair.publicPem)
  })

  it('reports a missing or malformed key', async () => {
    await expect(findMasterPubkey(join(dir, 'missing.pem'))).rejects.toMatchObject({ code: 'ENOENT' })
    await expect(findMasterPubkey(join(dir, 'not-a-key.pem'))).rejects.toMatchObject({
      code: 'ERR_KEY_FORMAT',
    })
  })

  it('wraps the encryption key so that the master private key recovers it', async () => {
    const raw = generateKey()
    const kc = await createKeyConfig(raw, { kdf: 'none' })
    const keyPath = join(dir, 'key.json')
    await writeFile(keyPath, `${serializeKeyConfig(kc)}\n`)
    const key = await decryptKeyConfig(kc)
    const blob = await rsaEncryptedKeyBlob(keyPath, key, pair.publicPem)
    const recovered = rsaDecryptKeyConfig(decodeBlob(blob), pair.privatePem, { passphrase: 'master pass' })
    expect(recovered.created).toBe(kc.created)
    expect(Buffer.from((await decryptKeyConfig(recovered)).key)).toEqual(Buffer.from(raw))
  })
})
