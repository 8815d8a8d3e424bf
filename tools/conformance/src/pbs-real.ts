/**
 * Checks against a datastore written by the real proxmox-backup-client (layout of
 * `vectors/pbs-real`): every snapshot's manifest, archive stream and catalog must read back
 * exactly as `expected/` says.
 */
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { decode } from '@pxar/codec'
import {
  CatalogReader,
  ChunkStore,
  type CryptConfig,
  DynamicIndex,
  decodeBlob,
  decryptKeyConfig,
  IndexReadAt,
  manifestKeyFromIdKey,
  parseKeyConfig,
  parseManifest,
} from '@pxar/datastore'
import { contentFields, entryJson, expectEqual } from './pxar/pxar-json.ts'
import { fail } from './types.ts'

export interface PbsRealSnapshot {
  /** The vector directory (holds `datastore/`, `expected/`, optional `enc.key`). */
  readonly root: string
  /** `type/id/time` relative to the datastore. */
  readonly path: string
  /** Prefix of the expectation files: `path` with `/` and `:` replaced by `_`. */
  readonly expectedPrefix: string
}

/** Snapshots of `<root>/datastore` (type/id/time directories holding an `index.json.blob`). */
export function listPbsRealSnapshots(root: string): PbsRealSnapshot[] {
  const base = resolve(root)
  const store = join(base, 'datastore')
  const out: PbsRealSnapshot[] = []
  const dirs = (p: string) =>
    readdirSync(p)
      .filter((n) => !n.startsWith('.') && statSync(join(p, n)).isDirectory())
      .sort()
  for (const type of dirs(store)) {
    for (const id of dirs(join(store, type))) {
      for (const time of dirs(join(store, type, id))) {
        if (!existsSync(join(store, type, id, time, 'index.json.blob'))) continue
        const path = `${type}/${id}/${time}`
        out.push({ root: base, path, expectedPrefix: path.replace(/[/:]/g, '_') })
      }
    }
  }
  return out
}

async function loadKey(root: string): Promise<CryptConfig | undefined> {
  const keyPath = join(root, 'enc.key')
  if (!existsSync(keyPath)) return undefined
  const pwPath = join(root, 'enc.key.password')
  const password = existsSync(pwPath) ? readFileSync(pwPath, 'utf8').replace(/\r?\n$/, '') : undefined
  const { cryptConfig } = await decryptKeyConfig(parseKeyConfig(readFileSync(keyPath)), { password })
  return cryptConfig
}

function sameJson(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual)
  const e = JSON.stringify(expected)
  if (a !== e) fail(`${what} differs:\n  ours:     ${a.slice(0, 400)}\n  expected: ${e.slice(0, 400)}`)
}

/** Sorts object keys recursively so that key order does not matter in comparisons. */
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys)
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, x]) => [k, sortKeys(x)]),
    )
  return v
}

export interface PbsRealArchive {
  readonly name: string
  readonly reader: IndexReadAt
}

/**
 * Verifies one snapshot: manifest blob decodes (signature checked with the key when encrypted)
 * to the expected manifest; every index matches the manifest's csum and size; each archive's
 * stream hashes to the expected SHA-256 and decodes to the expected entries; the catalog dumps
 * to the expected lines.
 * Returns readers over the archives for further checks (pxar decoding).
 */
export async function checkPbsRealSnapshot(s: PbsRealSnapshot): Promise<PbsRealArchive[]> {
  const dir = join(s.root, 'datastore', s.path)
  const expected = (suffix: string) => join(s.root, 'expected', `${s.expectedPrefix}.${suffix}`)
  const store = await ChunkStore.open(join(s.root, 'datastore'))
  const key = await loadKey(s.root)

  const manifestBlob = readFileSync(join(dir, 'index.json.blob'))
  const manifestBytes = decodeBlob(manifestBlob)
  const manifestText = new TextDecoder().decode(manifestBytes)
  const encrypted = /"crypt-mode"\s*:\s*"encrypt"/.test(manifestText)
  if (encrypted && !key) fail('snapshot is encrypted but no enc.key is present')
  const crypt = encrypted ? key : undefined
  const manifest = parseManifest(manifestBytes, crypt ? { key: manifestKeyFromIdKey(crypt.idKey) } : {})
  if (existsSync(expected('index.json'))) {
    sameJson(
      sortKeys(JSON.parse(manifestText)),
      sortKeys(JSON.parse(readFileSync(expected('index.json'), 'utf8'))),
      'manifest',
    )
  }

  const archives: PbsRealArchive[] = []
  for (const file of manifest.files) {
    if (!file.filename.endsWith('.didx')) continue
    const index = DynamicIndex.parse(readFileSync(join(dir, file.filename)))
    const { csum, size } = index.computeCsum()
    if (Buffer.from(csum).toString('hex') !== file.csum)
      fail(`${file.filename}: index csum does not match the manifest`)
    if (size !== file.size) fail(`${file.filename}: size ${size} != manifest ${file.size}`)
    const reader = new IndexReadAt(index, store, {
      crypt: file.cryptMode === 'encrypt' ? crypt : undefined,
    })
    const name = file.filename.replace(/\.didx$/, '')
    archives.push({ name, reader })

    if (name.endsWith('.pxar') && existsSync(expected(`${name}.sha256`))) {
      const hash = createHash('sha256')
      for await (const piece of reader.stream()) hash.update(piece)
      const want = readFileSync(expected(`${name}.sha256`), 'utf8')
        .trim()
        .split(/\s+/)[0]
      if (hash.digest('hex') !== want) fail(`${name}: stream SHA-256 differs from expected`)
    }
    if (name.endsWith('.pxar') && existsSync(expected(`${name}.dump.json`))) {
      // Decode the archive straight from the chunks, streaming, as a restore would.
      const dump: Record<string, unknown>[] = []
      for await (const e of decode(reader.stream())) {
        const o = entryJson(e)
        if (e.kind === 'file') Object.assign(o, await contentFields(e.content, e.fileSize ?? 0))
        dump.push(o)
      }
      expectEqual(dump, JSON.parse(readFileSync(expected(`${name}.dump.json`), 'utf8')), `${name} dump`)
    }
    if (name === 'catalog.pcat1' && existsSync(expected('catalog.txt'))) {
      const parts: Uint8Array[] = []
      for await (const piece of reader.stream()) parts.push(piece)
      const lines = new CatalogReader(Buffer.concat(parts)).dump()
      const want = readFileSync(expected('catalog.txt'), 'utf8')
        .split('\n')
        .filter((l) => l !== '')
      sameJson(lines, want, 'catalog dump')
    }
  }
  return archives
}
