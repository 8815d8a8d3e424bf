/**
 * The server's TLS identity: a self-signed certificate created on first start (ECDSA P-256 via
 * WebCrypto and @peculiar/x509) and stored as `proxy.pem`/`proxy.key` in the certificate
 * directory, like PBS's `/etc/proxmox-backup/proxy.{pem,key}`.
 */
import { X509Certificate as NodeX509Certificate, webcrypto } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'

type X509Module = typeof import('@peculiar/x509')
let x509Module: Promise<X509Module> | undefined

/**
 * @peculiar/x509 pulls in tsyringe, which insists on a `Reflect.getMetadata` polyfill at load
 * time. Install a minimal one (only when none exists) and load the library lazily after it.
 */
function loadX509(): Promise<X509Module> {
  const r = Reflect as unknown as Record<string, unknown>
  if (typeof r.getMetadata !== 'function') {
    const store = new WeakMap<object, Map<unknown, unknown>>()
    const get = (target: object): Map<unknown, unknown> => {
      let m = store.get(target)
      if (!m) store.set(target, (m = new Map()))
      return m
    }
    r.defineMetadata = (key: unknown, value: unknown, target: object) => get(target).set(key, value)
    r.getMetadata = (key: unknown, target: object) => store.get(target)?.get(key)
    r.getOwnMetadata = r.getMetadata
    r.hasMetadata = (key: unknown, target: object) => store.get(target)?.has(key) ?? false
    r.metadata = (key: unknown, value: unknown) => (target: object) => get(target).set(key, value)
  }
  x509Module ??= import('@peculiar/x509')
  return x509Module
}

/** A certificate and its key, PEM encoded, with the PBS-style fingerprint. */
export interface ServerCertificate {
  readonly certPem: string
  readonly keyPem: string
  /** SHA-256 of the DER certificate as lowercase colon-separated hex (what `PBS_FINGERPRINT` takes). */
  readonly fingerprint: string
}

/** Options of {@link loadOrCreateCertificate}. */
export interface CertificateOptions {
  /** Extra DNS names / IP addresses for the subjectAltName (localhost and 127.0.0.1 are always in). */
  readonly altNames?: readonly string[]
}

/** Fingerprint of a PEM certificate in PBS form (`aa:bb:…`, 95 characters). */
export function certificateFingerprint(certPem: string): string {
  return new NodeX509Certificate(certPem).fingerprint256.toLowerCase()
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64')
  const lines = b64.match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`
}

/**
 * Creates a self-signed certificate (ECDSA P-256, SHA-256, valid 10 years) for this host.
 *
 * @example
 * ```ts
 * const { certPem, keyPem, fingerprint } = await createSelfSignedCertificate()
 * ```
 */
export async function createSelfSignedCertificate(
  options: CertificateOptions = {},
): Promise<ServerCertificate> {
  const x509 = await loadX509()
  const crypto = webcrypto as unknown as Parameters<
    typeof x509.X509CertificateGenerator.createSelfSigned
  >[1] &
    typeof webcrypto
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
  const host = hostname()
  const names: { type: 'dns' | 'ip'; value: string }[] = [
    { type: 'dns', value: 'localhost' },
    { type: 'ip', value: '127.0.0.1' },
    { type: 'ip', value: '::1' },
  ]
  if (host && host !== 'localhost') names.push({ type: 'dns', value: host })
  for (const n of options.altNames ?? []) {
    names.push({ type: /^[0-9.]+$|:/.test(n) ? 'ip' : 'dns', value: n })
  }
  const now = new Date()
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(8)))
        .toString('hex')
        .replace(/^[89a-f]/, '1'),
      name: `CN=${host || 'localhost'}, O=pxar backup server`,
      notBefore: new Date(now.getTime() - 60_000),
      notAfter: new Date(now.getTime() + 10 * 365 * 86400_000),
      signingAlgorithm: alg,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(names),
      ],
    },
    crypto,
  )
  const certPem = `${cert.toString('pem').trim()}\n`
  const keyPem = pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey))
  return { certPem, keyPem, fingerprint: certificateFingerprint(certPem) }
}

/**
 * Loads `proxy.pem`/`proxy.key` from `dir`, or creates a self-signed pair there (key mode 0600).
 *
 * @example
 * ```ts
 * const cert = await loadOrCreateCertificate('/var/lib/pxar-server')
 * console.log(`fingerprint: ${cert.fingerprint}`)
 * ```
 */
export async function loadOrCreateCertificate(
  dir: string,
  options: CertificateOptions = {},
): Promise<ServerCertificate & { readonly created: boolean }> {
  const certPath = join(dir, 'proxy.pem')
  const keyPath = join(dir, 'proxy.key')
  try {
    const [certPem, keyPem] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')])
    return { certPem, keyPem, fingerprint: certificateFingerprint(certPem), created: false }
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err
  }
  const created = await createSelfSignedCertificate(options)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await writeFile(keyPath, created.keyPem, { mode: 0o600 })
  await writeFile(certPath, created.certPem, { mode: 0o644 })
  return { ...created, created: true }
}
