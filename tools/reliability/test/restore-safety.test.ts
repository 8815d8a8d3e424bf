/**
 * Restore safety: every hostile archive of the corpus is extracted with restoreFile, from a
 * datastore snapshot with restoreSnapshot, and with `pxar-cli extract`. Hostile entries are
 * refused (typed error) or contained, and a sentinel directory beside the target, plus the
 * directory holding both, stay exactly as they were.
 */
import {
  link,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type BackupDir,
  chunkStoreSink,
  Datastore,
  DynamicIndexFileWriter,
  storeDynamic,
} from '../../../packages/datastore/src/index.ts'
import { isPxarError } from '../../../packages/format/src/index.ts'
import { type RestoreOptions, restoreFile, restoreSnapshot } from '../../../packages/proxy/src/index.ts'
import { type HostileArchive, hostileArchives, hostileSplitArchives } from '../src/index.ts'
import { cli, makeSentinel, tempDir, treeState } from './helpers.ts'

let base: string
let outside: string
let corpus: HostileArchive[]
let outsideState: string[]

beforeAll(async () => {
  base = await tempDir('restore')
  outside = join(base, 'outside')
  await makeSentinel(outside)
  outsideState = await treeState(outside)
  corpus = hostileArchives(outside)
  await mkdir(join(base, 'archives'))
  for (const a of corpus) await writeFile(join(base, 'archives', `${a.name}.pxar`), a.bytes)
})
afterAll(async () => {
  await rm(base, { recursive: true, force: true })
})

/** Checks that nothing outside `target` changed: the sentinel tree and the names beside it. */
async function expectUntouched(parent: string, expectedNames: string[]): Promise<void> {
  expect(await treeState(outside)).toEqual(outsideState)
  expect((await readdir(parent)).sort()).toEqual(expectedNames.sort())
}

/** Everything restored below `target` stays inside: links are links, hardlinks join inside files. */
async function expectContained(target: string, devicesAllowed = false): Promise<void> {
  const sentinel = await stat(join(outside, 'sentinel'))
  expect(sentinel.nlink).toBe(1)
  const walk = async (d: string): Promise<void> => {
    for (const name of await readdir(d)) {
      expect(name).not.toMatch(/^\.\.?$|\//)
      const p = join(d, name)
      const st = await lstat(p)
      if (st.isDirectory()) await walk(p)
      else if (st.isFile()) expect(st.ino).not.toBe(sentinel.ino)
      else if (st.isSymbolicLink()) await readlink(p)
      else if (!devicesAllowed) expect(st.isCharacterDevice() || st.isBlockDevice()).toBe(false)
    }
  }
  await walk(target)
}

function optionsOf(a: HostileArchive, warnings: string[]): RestoreOptions {
  return {
    ...(a.options?.overwrite ? { overwrite: true } : {}),
    ...(a.options?.devices !== undefined ? { devices: a.options.devices } : {}),
    onWarning: (p, m) => warnings.push(`${p}: ${m}`),
  }
}

async function checkOutcome(
  a: HostileArchive,
  run: () => Promise<unknown>,
  target: string,
  parent: string,
  names: string[],
): Promise<void> {
  const err = await run().then(
    () => undefined,
    (e: unknown) => e,
  )
  if (a.expect === 'refuse') {
    expect(err, `${a.name}: ${a.description}`).toSatisfy(isPxarError)
    expect((err as { code: string }).code, a.name).toBe(a.code)
  } else {
    expect(err, `${a.name}: ${a.description}`).toBeUndefined()
    await expectContained(target)
  }
  await expectUntouched(parent, names)
}

describe('restore of hostile archives', () => {
  it('restoreFile refuses or contains every case and never writes outside the target', async () => {
    for (const a of corpus) {
      const parent = join(base, 'file', a.name)
      const target = join(parent, 'target')
      await mkdir(parent, { recursive: true })
      const warnings: string[] = []
      await checkOutcome(
        a,
        () => restoreFile(join(base, 'archives', `${a.name}.pxar`), target, optionsOf(a, warnings)),
        target,
        parent,
        ['target'],
      )
      if (a.name === 'char-device') {
        expect(warnings.join('\n')).toMatch(/device node skipped/)
        expect(await readFile(join(target, 'after'), 'utf8')).toBe('ok')
        await expect(lstat(join(target, 'mem'))).rejects.toMatchObject({ code: 'ENOENT' })
      }
      if (a.name === 'hardlink-dotdot-target') {
        // the link joins the archive's own file, whatever its stored path says
        const f = await stat(join(target, 'f'))
        expect((await stat(join(target, 'h'))).ino).toBe(f.ino)
      }
      if (a.name === 'symlink-absolute-target') {
        expect(await readlink(join(target, 'abs'))).toBe(join(outside, 'sentinel'))
      }
    }
  })

  it('a huge size claim fails fast without allocating it', async () => {
    const before = process.memoryUsage().rss
    for (const name of [
      'huge-payload',
      'huge-payload-tib',
      'huge-payload-u64',
      'huge-filename',
      'huge-symlink',
    ]) {
      const t = join(base, 'huge', name)
      const err = await restoreFile(join(base, 'archives', `${name}.pxar`), t).catch((e: unknown) => e)
      expect(err, name).toSatisfy(isPxarError)
      expect((err as { code: string }).code, name).toMatch(/^ERR_PXAR_(TRUNCATED|SIZE|BAD_HEADER|BAD_NAME)$/)
    }
    // generous bound: nothing near the claimed sizes was allocated
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 1024 * 1024)
  })

  it('restoreSnapshot (chunked in a datastore) behaves the same', async () => {
    const ds = await Datastore.create(join(base, 'store'), { prefixDirs: 'lazy' })
    const dirs = new Map<string, BackupDir>()
    let time = 1_700_000_000
    for (const a of corpus) {
      const dir: BackupDir = { ns: [], type: 'host', id: 'hostile', time: time++ }
      const w = await ds.beginSnapshot(dir)
      const idx = await DynamicIndexFileWriter.create(w.filePath('root.pxar.didx'))
      const r = await storeDynamic([a.bytes], {
        sink: chunkStoreSink(ds.chunkStore),
        index: idx,
        collectEntries: false,
        avgSize: 64 * 1024,
        workers: 0,
      })
      await idx.close()
      await w.addIndex('root.pxar.didx', r)
      await w.finish()
      dirs.set(a.name, dir)
    }
    for (const a of corpus) {
      const parent = join(base, 'snap', a.name)
      const target = join(parent, 'target')
      await mkdir(parent, { recursive: true })
      await checkOutcome(
        a,
        () => restoreSnapshot(ds, dirs.get(a.name)!, 'root.pxar', target, optionsOf(a, [])),
        target,
        parent,
        ['target'],
      )
    }
  })

  it('pxar-cli extract fails (exit 1, one-line error) or contains every case', async () => {
    for (const a of corpus) {
      const parent = join(base, 'cli', a.name)
      const target = join(parent, 'target')
      await mkdir(parent, { recursive: true })
      const args = ['extract', join(base, 'archives', `${a.name}.pxar`), target]
      if (a.options?.overwrite) args.push('--overwrite')
      const r = await cli(args)
      if (a.expect === 'refuse') {
        expect(r.code, `${a.name}: ${r.stderr}`).toBe(1)
        expect(r.stderr).toMatch(/ERR_|error/i)
      } else {
        expect(r.code, `${a.name}: ${r.stderr}`).toBe(0)
        // the CLI creates device nodes when run as root (as PBS does), never otherwise
        await expectContained(target, process.getuid?.() === 0)
      }
      await expectUntouched(parent, ['target'])
    }
  })

  it('overwriting never writes through a planted hardlink or symlink to an outside file', async () => {
    const a = corpus.find((c) => c.name === 'duplicate-files')!
    // the first file of that archive is named f1
    for (const plant of ['hardlink', 'symlink'] as const) {
      const target = join(base, `planted-${plant}`, 'target')
      await mkdir(target, { recursive: true })
      if (plant === 'hardlink') await link(join(outside, 'sentinel'), join(target, 'f1'))
      else await symlink(join(outside, 'sentinel'), join(target, 'f1'))
      const err = await restoreFile(join(base, 'archives', `${a.name}.pxar`), target, {
        overwrite: true,
        allowExistingDirs: true,
      }).catch((e: unknown) => e)
      // the archive itself is refused (duplicate), but only after f1 was replaced, not written through
      expect(err).toSatisfy(isPxarError)
      expect(await readFile(join(target, 'f1'), 'utf8')).toBe('one')
      expect((await lstat(join(target, 'f1'))).isFile()).toBe(true)
      expect((await lstat(join(outside, 'sentinel'))).nlink).toBe(1)
      expect(await treeState(outside)).toEqual(outsideState)
    }
  })

  it('split archives with lying payload references are refused (restoreFile and pxar-cli extract)', async () => {
    for (const a of hostileSplitArchives()) {
      const dir = join(base, 'split', a.name)
      await mkdir(dir, { recursive: true })
      await writeFile(join(dir, 'x.mpxar'), a.metadata)
      await writeFile(join(dir, 'x.ppxar'), a.payload)
      const err = await restoreFile(join(dir, 'x.mpxar'), join(dir, 'target')).catch((e: unknown) => e)
      expect(err, a.name).toSatisfy(isPxarError)
      expect((err as { code: string }).code, a.name).toBe(a.code)
      const r = await cli([
        '--output-format',
        'json',
        'extract',
        join(dir, 'x.mpxar'),
        join(dir, 'cli-target'),
      ])
      expect(r.code, a.name).toBe(1)
      expect(JSON.parse(r.stderr.trim().split('\n').pop()!)).toMatchObject({ error: { code: a.code } })
      expect((await readdir(dir)).sort()).toEqual(['cli-target', 'target', 'x.mpxar', 'x.ppxar'])
    }
    expect(await treeState(outside)).toEqual(outsideState)
  })

  it('restoring over a target whose subdirectory is a planted symlink never writes through it', async () => {
    // the target exists and already holds a symlink named like a directory of the archive
    const a = corpus.find((c) => c.name === 'duplicate-dirs')!
    const parent = join(base, 'planted')
    const target = join(parent, 'target')
    await mkdir(target, { recursive: true })
    await symlink(outside, join(target, 'd1'))
    for (const options of [{ allowExistingDirs: true }, { allowExistingDirs: true, overwrite: true }]) {
      const err = await restoreFile(join(base, 'archives', `${a.name}.pxar`), target, options).catch(
        (e: unknown) => e,
      )
      expect(err).toSatisfy(isPxarError)
      expect(await treeState(outside)).toEqual(outsideState)
    }
  })
})
