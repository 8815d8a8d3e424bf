/**
 * What a backup writes to. Shaped after the PBS backup protocol (one session per snapshot;
 * dynamic/fixed index writers fed with chunk uploads and `(digest, offset)` appends; blob uploads;
 * previous-snapshot downloads that register known chunks; the client-built manifest uploaded as
 * `index.json.blob` before `finish`), so that a PBS HTTP/2 client and a local datastore can both
 * implement it. Implementations need not import this package: the interfaces are structural.
 */

/** A snapshot as the store names it (matches `BackupDir` of `@pxar/datastore`). */
export interface SnapshotRef {
  /** Namespace components (empty for the root namespace). */
  readonly ns: readonly string[]
  /** `host`, `ct` or `vm`. */
  readonly type: 'host' | 'ct' | 'vm'
  readonly id: string
  /** Backup time, epoch seconds. */
  readonly time: number
}

/** Options of {@link RemoteStore.beginBackup}. */
export interface BeginBackupOptions {
  /** The snapshot to create; its time must be newer than the group's last snapshot. */
  readonly snapshot: SnapshotRef
  /** Owner recorded for a new group (stores may ignore it or take it from the credentials). */
  readonly owner?: string
}

/**
 * A place that stores snapshots: a local datastore ({@link LocalStore}), a Proxmox Backup Server.
 */
export interface RemoteStore {
  /**
   * Starts writing a new snapshot. The snapshot stays invisible until
   * {@link BackupSession.finish} succeeds; a session that is aborted (or dies) leaves nothing.
   */
  beginBackup(options: BeginBackupOptions): Promise<BackupSession>
}

/** Writes one dynamic (`.didx`) or fixed (`.fidx`) index, like a PBS index writer (`wid`). */
export interface IndexUpload {
  /**
   * Stores a chunk the store does not know yet: `blob` is the encoded DataBlob, `size` the
   * plaintext length. Must resolve before an {@link IndexUpload.append} references the digest.
   */
  uploadChunk(digest: Uint8Array, size: number, blob: Uint8Array): Promise<void>
  /**
   * Appends chunks by digest and **start** offset, in stream order (dynamic) or any order
   * (fixed). Each digest must have been uploaded in this session or registered as known by
   * {@link BackupSession.downloadPrevious}.
   */
  append(digests: readonly Uint8Array[], offsets: readonly number[]): Promise<void>
  /**
   * Finalizes the index. `csum` is the index checksum the client computed (dynamic:
   * `SHA-256(Σ end_le64 ‖ digest)`, fixed: `SHA-256(Σ digest)`); the store checks it.
   */
  close(summary: {
    readonly chunkCount: number
    readonly size: number
    readonly csum: Uint8Array
  }): Promise<void>
}

/**
 * One backup of one snapshot. Call order: downloads and index/blob uploads in any interleaving,
 * then `uploadBlob('index.json.blob', manifest)` and {@link BackupSession.finish}; on failure
 * {@link BackupSession.abort}.
 */
export interface BackupSession {
  /** The snapshot being written. */
  readonly snapshot: SnapshotRef
  /** Backup time of the group's newest finished snapshot, if any (`GET /previous_backup_time`). */
  previousBackupTime(): Promise<number | undefined>
  /**
   * A raw file (`index.json.blob`, `*.didx`, `*.fidx`, `*.blob`) of the previous snapshot, or
   * undefined when there is no previous snapshot or no such file. Downloading an index registers
   * all of its chunks as known to this session (`GET /previous`).
   */
  downloadPrevious(name: string): Promise<Uint8Array | undefined>
  /**
   * An encoded chunk of the datastore by digest (for reading the previous snapshot's archives in
   * metadata mode; a PBS client serves it from a reader session on the previous snapshot).
   */
  readChunk(digest: Uint8Array): Promise<Uint8Array>
  /**
   * Optional fast existence check (a local store can look into its chunk store). True means the
   * chunk may be appended without upload in this session.
   */
  hasChunk?(digest: Uint8Array): Promise<boolean>
  /** Opens a dynamic index writer for `name` (ends in `.didx`). */
  createDynamicIndex(name: string): Promise<IndexUpload>
  /** Opens a fixed index writer for `name` (ends in `.fidx`) of an image of `size` bytes. */
  createFixedIndex(name: string, size: number, chunkSize?: number): Promise<IndexUpload>
  /** Stores an encoded DataBlob as `name` (ends in `.blob`; `index.json.blob` is the manifest). */
  uploadBlob(name: string, blob: Uint8Array): Promise<void>
  /** Completes the snapshot (the manifest must have been uploaded; every index closed). */
  finish(): Promise<void>
  /** Abandons the snapshot and removes what was written. Idempotent. */
  abort(): Promise<void>
}
