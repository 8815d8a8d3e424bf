/**
 * Linux errno values the filesystem answers with. {@link PxarFilesystem} methods return them
 * negated (`-ERRNO.ENOENT`), as FUSE expects.
 */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  EBADF: 9,
  EACCES: 13,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  EROFS: 30,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENODATA: 61,
} as const

/** A name of {@link ERRNO}. */
export type ErrnoName = keyof typeof ERRNO
