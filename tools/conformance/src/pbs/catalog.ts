import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { CatalogReader, CatalogWriter, type JsonObject, type JsonValue, parseJson } from '@pxar/datastore'
import { fail, type PbsCase } from '../types.ts'

function str(v: JsonValue | undefined): string {
  if (typeof v !== 'string') fail(`expected a string, got ${String(v)}`)
  return v
}

function int(v: JsonValue | undefined): bigint {
  if (typeof v !== 'number' && typeof v !== 'bigint') fail(`expected an integer, got ${String(v)}`)
  return BigInt(v)
}

/** `catalog`: write the catalog from the ops list byte-exact, then read it back (dump + walk). */
export async function catalog(c: PbsCase): Promise<void> {
  const [opsFile] = c.inputs
  const [outFile] = c.outputs
  if (!opsFile || !outFile) fail('case needs an ops input and a catalog output')
  const ops = parseJson(readFileSync(join(c.root, opsFile), 'utf8')) as readonly JsonObject[]
  const w = new CatalogWriter()
  const parts: Uint8Array[] = []
  for (const op of ops) {
    const name = op.name_b64 !== undefined ? Buffer.from(str(op.name_b64), 'base64') : str(op.name ?? '')
    switch (op.op) {
      case 'start_directory':
        w.startDirectory(name)
        break
      case 'end_directory':
        w.endDirectory()
        break
      case 'add_file':
        w.addFile(name, int(op.size), int(op.mtime))
        break
      case 'add_symlink':
        w.addSymlink(name)
        break
      case 'add_hardlink':
        w.addHardlink(name)
        break
      case 'add_block_device':
        w.addBlockDevice(name)
        break
      case 'add_char_device':
        w.addCharDevice(name)
        break
      case 'add_fifo':
        w.addFifo(name)
        break
      case 'add_socket':
        w.addSocket(name)
        break
      default:
        fail(`unknown op ${String(op.op)}`)
    }
    parts.push(w.take())
  }
  parts.push(w.finish())
  const written = Buffer.concat(parts)
  const reference = readFileSync(join(c.root, outFile))
  if (!written.equals(reference)) fail(`written catalog differs from ${outFile}`)

  const exp = parseJson(readFileSync(join(c.root, c.expected), 'utf8')) as JsonObject
  const sha = createHash('sha256').update(written).digest('hex')
  if (sha !== exp.sha256) fail(`sha256 ${sha} != ${String(exp.sha256)}`)
  if (BigInt(written.length) !== int(exp.file_size)) fail('file_size differs')
  const r = new CatalogReader(reference)
  if (BigInt(r.root().start) !== int(exp.root_start)) fail('root_start differs')
  const dump = r.dump()
  const expDump = (exp.dump as readonly JsonValue[]).map(str)
  if (dump.join('\n') !== expDump.join('\n')) {
    fail(`dump differs:\n${dump.join('\n')}\n--- expected ---\n${expDump.join('\n')}`)
  }
  const expEntries = exp.entries as readonly JsonObject[]
  const got = [...r.walk()]
  if (got.length !== expEntries.length) fail(`${got.length} entries, expected ${expEntries.length}`)
  got.forEach(({ path, entry }, i) => {
    const e = expEntries[i]!
    const full = Buffer.concat([Buffer.from('/'), path])
    const where = `entry ${i} (${str(e.path)})`
    if (full.toString('base64') !== e.path_b64) fail(`${where}: path differs`)
    if (new TextDecoder().decode(full) !== e.path) fail(`${where}: lossy path differs`)
    if (entry.type !== e.type) fail(`${where}: type ${entry.type} != ${str(e.type)}`)
    if (entry.type === 'd' && BigInt(entry.start) !== int(e.start)) fail(`${where}: start differs`)
    if (entry.type === 'f' && (entry.size !== int(e.size) || entry.mtime !== int(e.mtime))) {
      fail(`${where}: size/mtime differ`)
    }
  })
}
