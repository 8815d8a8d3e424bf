import { lstatSync, readdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { listAttributesSync } from '@napi-rs/xattr'
import { BufferSink, Encoder } from '@pxar/codec'
import { dirMetadata, fifoMetadata, fileMetadata, socketMetadata } from '@pxar/format'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type RestoreOptions, restoreArchive } from '../src/index.ts'

let base: string
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'pxar-restore-filters-'))
})
afterEach(async () => {
  await rm(base, { recursive: true, force: true })
})

/** A file with a user xattr and an ACL entry, a FIFO and a socket. */
function archive(): AsyncIterable<Uint8Array> {
  const sink = new BufferSink()
  const enc = new Encoder(sink, dirMetadata(0o755).mtime(1_700_000_000).build())
  enc.addFile(
    'file',
    fileMetadata(0o640).xattr('user.note', 'kept').aclUser(4321, 4).aclGroupObj(4).build(),
    Buffer.from('data'),
  )
  enc.addFifo('pipe', fifoMetadata(0o600).build())
  enc.addSocket('sock', socketMetadata(0o755).build())
  enc.finish()
  enc.close()
  const bytes = sink.takeBytes()
  return (async function* () {
    yield bytes
  })()
}

async function restore(options: RestoreOptions): Promise<{ names: string[]; xattrs: string[] }> {
  const target = join(base, `t${Math.random().toString(36).slice(2)}`)
  await restoreArchive({ archive: archive() }, target, options)
  const names = readdirSync(target).sort()
  const xattrs = listAttributesSync(join(target, 'file')).sort()
  return { names, xattrs }
}

describe('restore filters', () => {
  it('restores everything by default', async () => {
    const r = await restore({})
    expect(r.names).toEqual(['file', 'pipe', 'sock'])
    expect(r.xattrs).toEqual(['system.posix_acl_access', 'user.note'])
  })

  it('leaves out FIFOs and sockets when asked', async () => {
    expect((await restore({ fifos: false })).names).toEqual(['file', 'sock'])
    expect((await restore({ sockets: false })).names).toEqual(['file', 'pipe'])
    expect((await restore({ fifos: false, sockets: false })).names).toEqual(['file'])
  })

  it('leaves out ACLs or xattrs separately; xattrs: false alone leaves out all three', async () => {
    expect((await restore({ acls: false })).xattrs).toEqual(['user.note'])
    expect((await restore({ xattrs: false, acls: true })).xattrs).toEqual(['system.posix_acl_access'])
    expect((await restore({ xattrs: false })).xattrs).toEqual([])
    const st = lstatSync(join(base, readdirSync(base)[0]!, 'file'))
    expect(st.mode & 0o777).toBe(0o640)
  })

  it('reports each selected entry', async () => {
    const seen: string[] = []
    await restoreArchive({ archive: archive() }, join(base, 'e'), {
      onEntry: (p) => seen.push(p),
      fifos: false,
    })
    expect(seen).toEqual(['file', 'pipe', 'sock'])
    const some: string[] = []
    await restoreArchive({ archive: archive() }, join(base, 'f'), {
      match: ['file'],
      onEntry: (p) => some.push(p),
    })
    expect(some).toEqual(['file'])
  })
})
