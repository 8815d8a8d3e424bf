/** An in-memory FileSystemSource for engine tests, counting file reads. */
import {
  blockDeviceMetadata,
  charDeviceMetadata,
  dirMetadata,
  fifoMetadata,
  fileMetadata,
  type Metadata,
  socketMetadata,
  symlinkMetadata,
} from '@pxar/format'
import type { DirListing, FileSystemSource, SourceEntry, SourceKind } from '../../src/source.ts'

export type MemNode =
  | { kind: 'file'; data: Uint8Array; meta?: Metadata; ino?: string; nlink?: number }
  | { kind: 'directory'; children: Map<string, MemNode>; meta?: Metadata; dev?: string }
  | { kind: 'symlink'; target: string; meta?: Metadata }
  | { kind: 'char-device' | 'block-device'; major: number; minor: number; meta?: Metadata }
  | { kind: 'fifo' | 'socket'; meta?: Metadata }

const te = new TextEncoder()
const td = new TextDecoder()
let inoCounter = 1000

export function dir(entries: Record<string, MemNode>, meta?: Metadata): MemNode {
  return { kind: 'directory', children: new Map(Object.entries(entries)), ...(meta ? { meta } : {}) }
}
export function file(data: Uint8Array | string, meta?: Metadata): MemNode {
  return { kind: 'file', data: typeof data === 'string' ? te.encode(data) : data, ...(meta ? { meta } : {}) }
}

function defaultMeta(n: MemNode): Metadata {
  switch (n.kind) {
    case 'file':
      return fileMetadata(0o644).mtime(1_700_000_000, 5).build()
    case 'directory':
      return dirMetadata(0o755).mtime(1_700_000_000).build()
    case 'symlink':
      return symlinkMetadata().mtime(1_700_000_000).build()
    case 'char-device':
      return charDeviceMetadata().build()
    case 'block-device':
      return blockDeviceMetadata().build()
    case 'fifo':
      return fifoMetadata().build()
    case 'socket':
      return socketMetadata().build()
  }
}

export class MemorySource implements FileSystemSource {
  readonly root: MemNode
  /** Bytes read per path. */
  readonly reads = new Map<string, number>()
  readonly #inos = new WeakMap<MemNode, string>()

  constructor(root: MemNode) {
    this.root = root
  }

  #ino(n: MemNode): string {
    if (n.kind === 'file' && n.ino) return n.ino
    let i = this.#inos.get(n)
    if (!i) {
      i = String(inoCounter++)
      this.#inos.set(n, i)
    }
    return i
  }

  #node(path: Uint8Array): { node: MemNode; dev: string } {
    let node = this.root
    let dev = '1'
    if (path.length === 0) return { node, dev }
    for (const c of td.decode(path).split('/')) {
      if (node.kind !== 'directory') throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' })
      const next = node.children.get(c)
      if (!next) throw Object.assign(new Error('no such entry'), { code: 'ENOENT' })
      node = next
      if (node.kind === 'directory' && node.dev) dev = node.dev
    }
    return { node, dev }
  }

  #entry(name: string, node: MemNode, dev: string): SourceEntry {
    const kind: SourceKind = node.kind
    return {
      name: te.encode(name),
      kind,
      metadata: node.meta ?? defaultMeta(node),
      size: node.kind === 'file' ? node.data.length : 0,
      dev: node.kind === 'directory' && node.dev ? node.dev : dev,
      ino: this.#ino(node),
      nlink: node.kind === 'file' ? (node.nlink ?? 1) : 1,
      ...(node.kind === 'symlink' ? { linkTarget: te.encode(node.target) } : {}),
      ...(node.kind === 'char-device' || node.kind === 'block-device'
        ? { rdev: { major: node.major, minor: node.minor } }
        : {}),
    }
  }

  async stat(path: Uint8Array): Promise<SourceEntry> {
    const { node, dev } = this.#node(path)
    const parts = td.decode(path).split('/')
    return this.#entry(path.length === 0 ? '' : (parts[parts.length - 1] as string), node, dev)
  }

  async listDir(path: Uint8Array): Promise<DirListing> {
    const { node, dev } = this.#node(path)
    if (node.kind !== 'directory') throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' })
    const names = [...node.children.keys()].sort((a, b) => Buffer.compare(te.encode(a), te.encode(b)))
    return { entries: names.map((n) => this.#entry(n, node.children.get(n) as MemNode, dev)), skipped: [] }
  }

  async *readFile(path: Uint8Array, start = 0, end?: number): AsyncIterable<Uint8Array> {
    const { node } = this.#node(path)
    if (node.kind !== 'file') throw Object.assign(new Error('not a file'), { code: 'EISDIR' })
    const stop = Math.min(end ?? node.data.length, node.data.length)
    const key = td.decode(path)
    for (let p = start; p < stop; p += 64 * 1024) {
      const piece = node.data.slice(p, Math.min(stop, p + 64 * 1024))
      this.reads.set(key, (this.reads.get(key) ?? 0) + piece.length)
      yield piece
    }
  }

  async close(): Promise<void> {}
}
