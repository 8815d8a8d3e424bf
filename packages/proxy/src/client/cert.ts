/** The agent's self-signed TLS certificate: generated once, kept in a directory, pinned by fingerprint. */
import { createHash, X509Certificate as NodeX509Certificate, webcrypto } from 'node:crypto'
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

type X509 = typeof import('@peculiar/x509')
let x509Loading: Promise<X509> | undefined

/**
 * Loads @peculiar/x509 lazily: its dependency tsyringe needs `Reflect.getMetadata` at load time,
 * so a minimal metadata store is installed first when the process has none.
 */
function loadX509(): Promise<X509> {
  const r = Reflect as unknown as Record<string, unknown>
  if (typeof r.getMetadata !== 'function') {
    const meta = new WeakMap<object, Map<unknown, unknown>>()
    const of = (target: object): Map<unknown, unknown> => {
      let m = meta.get(target)
      if (m === undefined) {
        m = new Map()
        meta.set(target, m)
      }
      return m
    }
    r.defineMetadata = (key: unknown, value: unknown, target: object): void => {
      of(target).set(key, value)
    }
    r.getMetadata = (key: unknown, target: object): unknown => meta.get(target)?.get(key)
    r.getOwnMetadata = r.getMetadata
    r.hasMetadata = (key: unknown, target: object): boolean => meta.get(target)?.has(key) ?? false
    r.metadata =
      (key: unknown, value: unknown) =>
      (target: object): void => {
        of(target).set(key, value)
      }
  }
  x509Loading ??= import('@peculiar/x509')
  return x509Loading
}

/** A PEM certificate and key with the certificate's SHA-256 fingerprint. */
export interface AgentCertificate {
  readonly cert: string
  readonly key: string
  /** SHA-256 of the DER certificate as lowercase colon-separated hex (the PBS fingerprint format). */
  readonly fingerprint: string
}

/** Formats bytes as lowercase colon-separated hex (`aa:bb:…`). */
export function colonHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':')
}

/** Normalizes a fingerprint (colon-hex or plain hex, any case) to lowercase hex without separators. */
export function normalizeFingerprint(fp: string): string {
  const hex = fp.replace(/:/g, '').toLowerCase()
  if (!/^[0-9a-f]{64}$/.test(hex))
    throw new TypeError('fingerprint must be a SHA-256 in hex (colon-separated or not)')
  return hex
}

/** The SHA-256 fingerprint of a PEM certificate, in colon-hex. */
export function certificateFingerprint(pem: string): string {
  return colonHex(createHash('sha256').update(new NodeX509Certificate(pem).raw).digest())
}

type SelfSignedParams = Parameters<X509['X509CertificateGenerator']['createSelfSigned']>[0]

function toPem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64')
  const lines = b64.match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`
}

/** Generates a self-signed ECDSA P-256 certificate valid for `names` (DNS names or IP addresses). */
export async function generateAgentCertificate(
  names: readonly string[] = ['localhost', '127.0.0.1', '::1'],
): Promise<AgentCertificate> {
  const x509 = await loadX509()
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
  const now = Date.now()
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
        .toString('hex')
        .replace(/^[89a-f]/, '1'),
      name: 'CN=pxar-agent',
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 10 * 365 * 86_400_000),
      keys: keys as unknown as SelfSignedParams['keys'],
      signingAlgorithm: alg,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(
          names.map((n) => ({ type: /^[0-9.]+$|:/.test(n) ? ('ip' as const) : ('dns' as const), value: n })),
        ),
      ],
    },
    webcrypto as unknown as Parameters<X509['X509CertificateGenerator']['createSelfSigned']>[1],
  )
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)
  const certPem = cert.toString('pem')
  return {
    cert: `${certPem.trimEnd()}\n`,
    key: toPem('PRIVATE KEY', pkcs8),
    fingerprint: certificateFingerprint(certPem),
  }
}

/**
 * Loads `agent.pem` / `agent.key` from `dir`, generating and storing them (key mode 0600) on first use.
 */
export async function loadOrCreateAgentCertificate(dir: string): Promise<AgentCertificate> {
  const certPath = join(dir, 'agent.pem')
  const keyPath = join(dir, 'agent.key')
  try {
    const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')])
    return { cert, key, fingerprint: certificateFingerprint(cert) }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const generated = await generateAgentCertificate()
  await writeFile(`${keyPath}.tmp`, generated.key, { mode: 0o600 })
  await chmod(`${keyPath}.tmp`, 0o600)
  await writeFile(`${certPath}.tmp`, generated.cert, { mode: 0o644 })
  await rename(`${keyPath}.tmp`, keyPath)
  await rename(`${certPath}.tmp`, certPath)
  return generated
}
