/**
 * Key management: `keygen`, `key create|show|change-passphrase|create-master-key|
 * import-master-pubkey|show-master-pubkey|paperkey`. Key files are interchangeable with
 * proxmox-backup-client's.
 */
import { createPublicKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import {
  changeKeyPassphrase,
  createKeyConfig,
  decryptKeyConfig,
  encodeRsaEncryptedKeyBlob,
  formatFingerprint,
  generateKey,
  generateMasterKeyPair,
  type KdfName,
  type KeyConfig,
  keyInfo,
  paperkeyText,
  parseKeyConfig,
  serializeKeyConfig,
  writeFileAtomic,
} from '@pxar/datastore'
import { type Command, Option } from 'commander'
import { action, type Context } from '../context.ts'
import { CliError } from '../errors.ts'
import { table } from '../output.ts'
import { NEW_PASSWORD_ENV, PASSWORD_ENV, passwordFromEnv, readPassword } from '../password.ts'
import { defaultKeyPath, defaultMasterPubkeyPath, userPath } from '../paths.ts'

const KDFS = ['scrypt', 'pbkdf2', 'none'] as const

function kdfOption(): Option {
  return new Option('--kdf <kdf>', 'key derivation function protecting the key')
    .choices(KDFS)
    .default('scrypt')
}

/** Reads and parses a key file. */
export async function loadKeyConfig(path: string): Promise<KeyConfig> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') {
      throw new CliError('ENOENT', `key file ${path} does not exist`, {
        hint: 'create one with `pxar-cli keygen` or pass the path of an existing key',
      })
    }
    throw err
  }
  return parseKeyConfig(text)
}

/** Reads a key file and decrypts it (passphrase from the environment or a prompt). */
export async function loadKey(path: string): Promise<Awaited<ReturnType<typeof decryptKeyConfig>>> {
  const kc = await loadKeyConfig(path)
  if (kc.kdf === null) return decryptKeyConfig(kc)
  const password = await readPassword({
    env: PASSWORD_ENV,
    prompt: 'Encryption Key Password: ',
    what: `passphrase for ${path}`,
  })
  return decryptKeyConfig(kc, { password })
}

/** Name of the blob a backup stores the RSA-wrapped encryption key in. */
export const RSA_KEY_BLOB_NAME = 'rsa-encrypted.key.blob'

/**
 * The master public key (PEM) a backup wraps its encryption key for, as proxmox-backup-client
 * finds it: `--master-pubkey-file`, else `PBS_MASTER_PUBKEY` (`_FILE`, `_FD`), else the default
 * `~/.config/proxmox-backup/master-public.pem` when it exists; undefined when there is none.
 */
export async function findMasterPubkey(option?: string): Promise<{ path: string; pem: string } | undefined> {
  const read = async (
    path: string,
    required: boolean,
  ): Promise<{ path: string; pem: string } | undefined> => {
    let pem: string
    try {
      pem = await readFile(path, 'utf8')
    } catch (err) {
      if (!required && (err as { code?: string }).code === 'ENOENT') return undefined
      if ((err as { code?: string }).code === 'ENOENT')
        throw new CliError('ENOENT', `master public key ${path} does not exist`, {
          hint: 'create one with `pxar-cli key create-master-key`',
        })
      throw err
    }
    describePublicKey(pem)
    return { path, pem }
  }
  if (option !== undefined) return read(userPath(option), true)
  const env = process.env
  if (env.PBS_MASTER_PUBKEY) {
    describePublicKey(env.PBS_MASTER_PUBKEY)
    return { path: 'PBS_MASTER_PUBKEY', pem: env.PBS_MASTER_PUBKEY }
  }
  if (env.PBS_MASTER_PUBKEY_FILE) return read(userPath(env.PBS_MASTER_PUBKEY_FILE), true)
  if (env.PBS_MASTER_PUBKEY_FD) {
    const fd = Number(env.PBS_MASTER_PUBKEY_FD)
    if (!Number.isSafeInteger(fd) || fd < 0)
      throw new CliError('ERR_PASSWORD_SOURCE', 'PBS_MASTER_PUBKEY_FD is not a file descriptor')
    const pem = readFileSync(fd, 'utf8')
    describePublicKey(pem)
    return { path: 'PBS_MASTER_PUBKEY_FD', pem }
  }
  return read(defaultMasterPubkeyPath(), false)
}

/**
 * The `rsa-encrypted.key.blob` for the key file at `keyPath` (already decrypted as `key`),
 * wrapped for the master public key `pem`: restorable with the master private key when the key
 * file is lost (`proxmox-backup-client key restore-master…`-style recovery).
 */
export async function rsaEncryptedKeyBlob(
  keyPath: string,
  key: { readonly key: Uint8Array },
  pem: string,
): Promise<Uint8Array> {
  const kc = await loadKeyConfig(keyPath)
  return encodeRsaEncryptedKeyBlob(key.key, pem, { created: kc.created })
}

/** Writes a new file with mode 0600, refusing to overwrite; creates the parent directory (0700). */
async function writeNewSecret(path: string, content: string, what: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  try {
    await writeFile(path, content, { flag: 'wx', mode: 0o600 })
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST') {
      throw new CliError('EEXIST', `${what} ${path} already exists`, {
        hint: 'refusing to overwrite it: remove it first or choose another path',
      })
    }
    throw err
  }
}

function keyInfoJson(path: string, kc: KeyConfig): Record<string, unknown> {
  const info = keyInfo(kc)
  return { path, ...info }
}

async function newPassword(kdf: string, what: string): Promise<string | undefined> {
  if (kdf === 'none') return undefined
  // a new key: PXAR_NEW_ENCRYPTION_PASSWORD, else PBS_ENCRYPTION_PASSWORD, else the terminal
  const fromNew = passwordFromEnv(NEW_PASSWORD_ENV)
  if (fromNew !== undefined) return fromNew
  return readPassword({ env: PASSWORD_ENV, prompt: 'Encryption Key Password: ', confirm: true, what })
}

async function keygen(
  ctx: Context,
  out: ReturnType<Context['output']>,
  pathArg: string | undefined,
  opts: { kdf: KdfName; hint?: string },
): Promise<void> {
  void ctx
  const path = pathArg ? userPath(pathArg) : defaultKeyPath()
  if (opts.kdf === 'none' && opts.hint !== undefined) {
    throw new CliError('ERR_USAGE', '--hint needs a password-protected key (--kdf scrypt or pbkdf2)', {
      exitCode: 2,
    })
  }
  // fail before prompting if the file exists
  if (
    await readFile(path).then(
      () => true,
      () => false,
    )
  ) {
    throw new CliError('EEXIST', `key file ${path} already exists`, {
      hint: 'refusing to overwrite it: remove it first or choose another path',
    })
  }
  const password = await newPassword(opts.kdf, `passphrase for the new key ${path}`)
  const kc = await createKeyConfig(generateKey(), {
    kdf: opts.kdf,
    ...(password !== undefined ? { password } : {}),
    ...(opts.hint !== undefined ? { hint: opts.hint } : {}),
  })
  await writeNewSecret(path, `${serializeKeyConfig(kc)}\n`, 'key file')
  const fp = kc.fingerprint ? formatFingerprint(kc.fingerprint) : ''
  await out.result(keyInfoJson(path, kc), () => [`created ${path}`, `fingerprint: ${fp}`])
}

/** Registers `keygen` and the `key` command group. */
export function registerKeyCommands(program: Command, ctx: Context): void {
  program
    .command('keygen')
    .description('create a new encryption key file (default: ~/.config/proxmox-backup/encryption-key.json)')
    .argument('[path]', 'where to write the key file')
    .addOption(kdfOption())
    .option('--hint <text>', 'password hint stored in the key file')
    .action(
      action(ctx, (out, [path], opts: { kdf: KdfName; hint?: string }) =>
        keygen(ctx, out, path as string, opts),
      ),
    )

  const key = program.command('key').description('manage encryption keys and master keys')

  key
    .command('create')
    .description('create a new encryption key file (same as `keygen`)')
    .argument('[path]', 'where to write the key file')
    .addOption(kdfOption())
    .option('--hint <text>', 'password hint stored in the key file')
    .action(
      action(ctx, (out, [path], opts: { kdf: KdfName; hint?: string }) =>
        keygen(ctx, out, path as string, opts),
      ),
    )

  key
    .command('show')
    .description('show a key file: kdf, creation/modification time, fingerprint, hint (no passphrase needed)')
    .argument('[path]', 'key file (default: the default key)')
    .action(
      action(ctx, async (out, [p]) => {
        const path = p ? userPath(p as string) : defaultKeyPath()
        const kc = await loadKeyConfig(path)
        const info = keyInfoJson(path, kc)
        const iso = (t: number): string => new Date(t * 1000).toISOString().replace('.000Z', 'Z')
        await out.result(info, () =>
          table(
            ['field', 'value'],
            [
              ['path', path],
              ['kdf', kc.kdf?.type ?? 'none'],
              ['created', iso(info.created as number)],
              ['modified', iso(info.modified as number)],
              ['fingerprint', (info.fingerprint as string | undefined) ?? '-'],
              ['hint', kc.hint ?? '-'],
            ],
          ),
        )
      }),
    )

  key
    .command('change-passphrase')
    .description('re-encrypt a key file under a new passphrase (the key itself stays the same)')
    .argument('[path]', 'key file (default: the default key)')
    .addOption(kdfOption())
    .option('--hint <text>', 'new password hint')
    .action(
      action(ctx, async (out, [p], opts: { kdf: KdfName; hint?: string }) => {
        const path = p ? userPath(p as string) : defaultKeyPath()
        const kc = await loadKeyConfig(path)
        let password: string | undefined
        if (kc.kdf !== null) {
          password = await readPassword({
            env: PASSWORD_ENV,
            prompt: 'Encryption Key Password: ',
            what: `current passphrase of ${path}`,
          })
          await decryptKeyConfig(kc, { password })
        }
        let next: string | undefined
        if (opts.kdf !== 'none') {
          next = await readPassword({
            env: NEW_PASSWORD_ENV,
            prompt: 'New Password: ',
            confirm: true,
            what: `new passphrase for ${path}`,
          })
        }
        const updated = await changeKeyPassphrase(kc, {
          ...(password !== undefined ? { password } : {}),
          ...(next !== undefined ? { newPassword: next } : {}),
          kdf: opts.kdf,
          ...(opts.hint !== undefined ? { hint: opts.hint } : {}),
        })
        // 0600 from the start: the temporary file must not be readable by others either
        await writeFileAtomic(path, `${serializeKeyConfig(updated)}\n`, { mode: 0o600 })
        await chmod(path, 0o600)
        await out.result(keyInfoJson(path, updated), () => `changed the passphrase of ${path}`)
      }),
    )

  key
    .command('create-master-key')
    .description('create an RSA master key pair (master-public.pem, master-private.pem) in a directory')
    .option('--output-dir <dir>', 'where to write the two PEM files', '.')
    .option('--bits <n>', 'RSA modulus size', '4096')
    .action(
      action(ctx, async (out, _args, opts: { outputDir: string; bits: string }) => {
        const bits = Number(opts.bits)
        if (!Number.isSafeInteger(bits) || bits < 2048 || bits > 16384) {
          throw new CliError(
            'ERR_USAGE',
            `--bits must be an integer between 2048 and 16384, not ${opts.bits}`,
            {
              exitCode: 2,
            },
          )
        }
        const dir = userPath(opts.outputDir)
        const pub = join(dir, 'master-public.pem')
        const priv = join(dir, 'master-private.pem')
        for (const f of [pub, priv]) {
          if (
            await readFile(f).then(
              () => true,
              () => false,
            )
          )
            throw new CliError('EEXIST', `${f} already exists`, {
              hint: 'remove it first or pass --output-dir',
            })
        }
        const password = await readPassword({
          env: NEW_PASSWORD_ENV,
          prompt: 'Master Key Password: ',
          confirm: true,
          what: 'passphrase for the master private key',
        })
        if (password.length < 5)
          throw new CliError('ERR_KEY_PASSWORD', 'the passphrase must have at least 5 characters')
        out.info(`generating a ${bits}-bit RSA key pair…`)
        const pair = await generateMasterKeyPair({ password, bits })
        await writeNewSecret(priv, pair.privatePem, 'private key')
        await mkdir(dir, { recursive: true })
        await writeFile(pub, pair.publicPem, { flag: 'wx', mode: 0o644 })
        await out.result({ publicKey: pub, privateKey: priv, bits }, () => [
          `wrote ${pub}`,
          `wrote ${priv} (keep it safe and offline; print it with \`pxar-cli key paperkey ${priv}\`)`,
        ])
      }),
    )

  key
    .command('import-master-pubkey')
    .description(
      'install an RSA master public key (PEM) as the default ~/.config/proxmox-backup/master-public.pem',
    )
    .argument('<path>', 'PEM file with the public key')
    .action(
      action(ctx, async (out, [p]) => {
        const src = userPath(p as string)
        const pem = await readFile(src, 'utf8')
        const info = describePublicKey(pem)
        const dest = defaultMasterPubkeyPath()
        await mkdir(dirname(dest), { recursive: true, mode: 0o700 })
        await writeFile(dest, pem, { mode: 0o644 })
        await out.result({ path: dest, ...info }, () => `imported ${src} as ${dest} (${info.bits}-bit RSA)`)
      }),
    )

  key
    .command('show-master-pubkey')
    .description('show the RSA master public key (default: ~/.config/proxmox-backup/master-public.pem)')
    .argument('[path]', 'PEM file with the public key')
    .action(
      action(ctx, async (out, [p]) => {
        const path = p ? userPath(p as string) : defaultMasterPubkeyPath()
        const info = describePublicKey(await readFile(path, 'utf8'))
        await out.result({ path, ...info }, () =>
          table(
            ['field', 'value'],
            [
              ['path', path],
              ['bits', String(info.bits)],
              ['exponent', String(info.exponent)],
            ],
          ),
        )
      }),
    )

  key
    .command('paperkey')
    .description('print a key file or master private key as text for paper backup')
    .argument('[path]', 'key file or PEM private key (default: the default key)')
    .option('--subject <text>', 'subject line printed first')
    .action(
      action(ctx, async (out, [p], opts: { subject?: string }) => {
        const path = p ? userPath(p as string) : defaultKeyPath()
        const text = paperkeyText(
          await readFile(path, 'utf8'),
          opts.subject !== undefined ? { subject: opts.subject } : {},
        )
        await out.result({ path, text }, () => text.replace(/\n$/, ''))
      }),
    )
}

function describePublicKey(pem: string): { bits: number; exponent: number } {
  if (!pem.includes('-----BEGIN PUBLIC KEY-----')) {
    throw new CliError('ERR_KEY_FORMAT', 'not a PEM public key ("-----BEGIN PUBLIC KEY-----" missing)', {
      hint: 'pass the master-public.pem written by `key create-master-key`',
    })
  }
  let key: ReturnType<typeof createPublicKey>
  try {
    key = createPublicKey(pem)
  } catch (cause) {
    throw new CliError('ERR_KEY_FORMAT', 'invalid PEM public key', { cause })
  }
  const d = key.asymmetricKeyDetails
  if (key.asymmetricKeyType !== 'rsa' || !d?.modulusLength)
    throw new CliError('ERR_KEY_FORMAT', 'not an RSA public key')
  return { bits: d.modulusLength, exponent: Number(d.publicExponent ?? 65537n) }
}
