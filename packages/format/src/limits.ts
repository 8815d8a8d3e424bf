/** Size limits pxar checks on encode and decode (upstream `format::MAX_*`). */

/** Longest file name in bytes (FILENAME content is the name + NUL). */
export const MAX_FILENAME_LEN = 4096
/** Longest symlink target or hardlink path in bytes (content adds a NUL). */
export const MAX_PATH_LEN = 4096
/** Largest XATTR (name + NUL + value) or FCAPS content: 64 KiB value + 255-byte name. */
export const MAX_XATTR_LEN: number = 65536 + 255
