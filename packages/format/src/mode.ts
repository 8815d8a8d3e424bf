/** File type bits of `st_mode` (octal, as in `<sys/stat.h>`). */
export const S_IFMT = 0o170000
/** Directory. */
export const S_IFDIR = 0o040000
/** Regular file. */
export const S_IFREG = 0o100000
/** Symbolic link. */
export const S_IFLNK = 0o120000
/** Character device. */
export const S_IFCHR = 0o020000
/** Block device. */
export const S_IFBLK = 0o060000
/** FIFO (named pipe). */
export const S_IFIFO = 0o010000
/** Unix socket. */
export const S_IFSOCK = 0o140000
/** Permission, set-uid, set-gid and sticky bits. */
export const S_IMODE = 0o7777

/** The kinds of entry a pxar archive stores (hardlinks are a separate item, not a mode). */
export type FileType = 'directory' | 'file' | 'symlink' | 'char_device' | 'block_device' | 'fifo' | 'socket'

/** The file type of a mode, or `undefined` for an unknown `S_IFMT` value. */
export function fileTypeOfMode(mode: number): FileType | undefined {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return 'directory'
    case S_IFREG:
      return 'file'
    case S_IFLNK:
      return 'symlink'
    case S_IFCHR:
      return 'char_device'
    case S_IFBLK:
      return 'block_device'
    case S_IFIFO:
      return 'fifo'
    case S_IFSOCK:
      return 'socket'
    default:
      return undefined
  }
}

/** True for a directory mode. */
export function isDirectoryMode(mode: number): boolean {
  return (mode & S_IFMT) === S_IFDIR
}
/** True for a regular-file mode. */
export function isRegularFileMode(mode: number): boolean {
  return (mode & S_IFMT) === S_IFREG
}
/** True for a symlink mode. */
export function isSymlinkMode(mode: number): boolean {
  return (mode & S_IFMT) === S_IFLNK
}
/** True for a character or block device mode. */
export function isDeviceMode(mode: number): boolean {
  const t = mode & S_IFMT
  return t === S_IFCHR || t === S_IFBLK
}
/** True for a FIFO mode. */
export function isFifoMode(mode: number): boolean {
  return (mode & S_IFMT) === S_IFIFO
}
/** True for a socket mode. */
export function isSocketMode(mode: number): boolean {
  return (mode & S_IFMT) === S_IFSOCK
}
