/** A real temp tree with every entry kind, xattrs, ACLs and capabilities, for the client tests. */
import { execFileSync } from 'node:child_process'
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setAttributeSync } from '@napi-rs/xattr'

export interface Fixture {
  readonly root: string
  readonly outside: string
  cleanup(): Promise<void>
}

export async function makeFixture(): Promise<Fixture> {
  const base = mkdtempSync(join(tmpdir(), 'pxar-client-'))
  const root = join(base, 'root')
  const outside = join(base, 'outside')
  mkdirSync(root)
  mkdirSync(outside)
  writeFileSync(join(outside, 'secret'), 'do not serve')
  writeFileSync(join(root, 'a.txt'), 'hello world\n')
  writeFileSync(join(root, 'big.bin'), Buffer.alloc(3 * 1024 * 1024 + 17, 0x5a))
  linkSync(join(root, 'a.txt'), join(root, 'hardlink'))
  symlinkSync('a.txt', join(root, 'link'))
  symlinkSync(outside, join(root, 'escape'))
  mkdirSync(join(root, 'dir'))
  writeFileSync(join(root, 'dir', 'nested'), 'n')
  writeFileSync(Buffer.concat([Buffer.from(`${root}/`), Buffer.from([0x62, 0xff, 0x66])]), 'x')
  writeFileSync(join(root, 'dir', 'Zed'), '')
  execFileSync('mkfifo', [join(root, 'fifo')])
  execFileSync('mknod', [join(root, 'chardev'), 'c', '1', '3'])
  execFileSync('mknod', [join(root, 'blockdev'), 'b', '259', '70000'])
  const server: Server = createServer()
  await new Promise<void>((resolve) => server.listen(join(root, 'sock'), resolve))
  setAttributeSync(join(root, 'a.txt'), 'user.comment', 'a value')
  setAttributeSync(join(root, 'a.txt'), 'user.bin', Buffer.from([0, 1, 2, 255]))
  // setfacl/getfacl come from the `acl` package, setcap from `libcap2-bin` (see scripts/bootstrap.sh)
  execFileSync('setfacl', ['-m', 'u:1234:rw,g:555:r,m:rwx', join(root, 'a.txt')])
  execFileSync('setfacl', ['-m', 'u:42:r', join(root, 'dir', 'nested')])
  execFileSync('setfacl', ['-d', '-m', 'u:1000:rwx,g:100:rx', join(root, 'dir')])
  execFileSync('setfacl', ['-m', 'u:7:rw', join(root, 'fifo')])
  writeFileSync(join(root, 'capbin'), 'not really a binary')
  execFileSync('setcap', ['cap_net_raw+ep', join(root, 'capbin')])
  return {
    root,
    outside,
    cleanup: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()))
      rmSync(base, { recursive: true, force: true })
    },
  }
}
