/**
 * Entries as the decoder and the accessor report them.
 */
import { EMPTY_ACL, type Metadata, type U64Value } from '@pxar/format'

/**
 * What an entry is. `version` and `prelude` are the two pseudo-entries at the start of a v2
 * archive (as in upstream's decoder); everything else is a file system object.
 */
export type EntryKind =
  | 'version'
  | 'prelude'
  | 'directory'
  | 'file'
  | 'symlink'
  | 'hardlink'
  | 'char_device'
  | 'block_device'
  | 'fifo'
  | 'socket'

/** Device numbers of a character or block device. */
export interface DeviceNumbers {
  readonly major: U64Value
  readonly minor: U64Value
}

/** One decoded archive entry. */
export interface Entry {
  readonly kind: EntryKind
  /** Full path bytes, `/`-separated; the root (and version/prelude) is `/`. */
  readonly path: Uint8Array
  /** {@link Entry.path} for display (invalid UTF-8 is replaced by U+FFFD). */
  readonly pathString: string
  /** Last path component; empty for the root. */
  readonly name: Uint8Array
  /** Metadata; all-zero for hardlinks, version and prelude (they carry none). */
  readonly metadata: Metadata
  /** Absolute offset of the entry's FILENAME header; `undefined` for the root. */
  readonly filenameOffset: number | undefined
  /** Absolute offset of the first item after FILENAME (ENTRY or HARDLINK header). */
  readonly entryOffset: number
  /** File or prelude size in bytes. */
  readonly fileSize?: number | undefined
  /** File: metadata-stream position right after the PAYLOAD (v1) or PAYLOAD_REF (v2) header. */
  readonly archiveOffset?: number | undefined
  /** v2 file: offset of the PAYLOAD header in the payload (.ppxar) stream. */
  readonly payloadOffset?: number | undefined
  /** Symlink target or hardlink target path (as stored; informational for hardlinks). */
  readonly linkTarget?: Uint8Array | undefined
  /** Hardlink: raw backwards offset from this FILENAME header to the target's. */
  readonly linkOffset?: number | undefined
  /** Devices: major and minor numbers. */
  readonly device?: DeviceNumbers | undefined
  /** `version` pseudo-entry: the format version (2). */
  readonly version?: number | undefined
}

/** Metadata reported for items that have none (hardlinks, version, prelude). */
export const ZERO_METADATA: Metadata = Object.freeze({
  stat: Object.freeze({ mode: 0, flags: 0, uid: 0, gid: 0, mtime: Object.freeze({ secs: 0, nanos: 0 }) }),
  xattrs: Object.freeze([]) as Metadata['xattrs'],
  acl: EMPTY_ACL,
  fcaps: undefined,
  quotaProjectId: undefined,
})
