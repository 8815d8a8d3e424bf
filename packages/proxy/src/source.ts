/**
 * The contract between the two halves of a pull-mode backup: a *source* (the backed-up machine's
 * filesystem, served in-process or by an agent over the network) and the backup engine that walks
 * it. Paths are raw bytes relative to the source root (`''` is the root itself, components joined
 * with `/`), because file names are bytes, not text.
 */
import type { Metadata } from '@pxar/format'

/** What an entry is, as the backup needs to know it. */
export type SourceKind = 'file' | 'directory' | 'symlink' | 'block-device' | 'char-device' | 'fifo' | 'socket'

/** One filesystem entry with everything the archive records about it (one round trip per directory). */
export interface SourceEntry {
  /** Entry name (raw bytes; empty for the root). */
  readonly name: Uint8Array
  readonly kind: SourceKind
  /** Full metadata: stat (mode incl. type bits, flags, uid, gid, mtime ns), xattrs, ACLs, fcaps, quota project id. */
  readonly metadata: Metadata
  /** File size in bytes (files only; 0 otherwise). */
  readonly size: number
  /** Device and inode numbers (decimal strings: they may exceed 2^53) for hardlink detection. */
  readonly dev: string
  readonly ino: string
  readonly nlink: number
  /** Symlink target (symlinks only). */
  readonly linkTarget?: Uint8Array
  /** Device numbers (block/char devices only). */
  readonly rdev?: { readonly major: number; readonly minor: number }
}

/** An entry that could not be read and was skipped (vanished, permission denied, …). */
export interface SourceSkip {
  /** Path relative to the source root. */
  readonly path: Uint8Array
  /** errno code, e.g. `ENOENT`, `EACCES`. */
  readonly code: string
  readonly message: string
}

/** Options of {@link FileSystemSource.listDir}. */
export interface ListDirOptions {
  /** Collect xattrs (default true). */
  readonly xattrs?: boolean
  /** Collect POSIX ACLs (default true). */
  readonly acls?: boolean
  /** Collect file capabilities (default true). */
  readonly fcaps?: boolean
}

/** The result of listing one directory. */
export interface DirListing {
  /** Entries sorted bytewise by name, as pxar requires; `.`/`..` never appear. */
  readonly entries: readonly SourceEntry[]
  /** Children that could not be read; they are not in `entries`. */
  readonly skipped: readonly SourceSkip[]
}

/**
 * A filesystem to back up. Implemented over the local filesystem (`LocalClient`), and by the
 * agent transport's client side over the network. Every path is relative to the source's root and
 * an implementation must refuse to leave it (`..`, absolute paths, symlinks are never followed).
 */
export interface FileSystemSource {
  /** The root entry (a directory). */
  stat(path: Uint8Array, options?: ListDirOptions): Promise<SourceEntry>
  /** All children of a directory, with their full metadata. */
  listDir(path: Uint8Array, options?: ListDirOptions): Promise<DirListing>
  /**
   * Streams a file's content from `start` (default 0) up to `end` (default its size), in pieces;
   * never the whole file at once.
   */
  readFile(path: Uint8Array, start?: number, end?: number): AsyncIterable<Uint8Array>
  /** Releases connections or handles. */
  close(): Promise<void>
}
