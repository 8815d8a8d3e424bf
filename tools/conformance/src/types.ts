/** A mismatch between our output and a vector's expectation. */
export class CheckFailure extends Error {
  override name = 'CheckFailure'
}

/** One case folder of a pxar vector directory. */
export interface PxarCase {
  /** Absolute path of the case folder. */
  readonly dir: string
  /** Folder name. */
  readonly name: string
  /** File names in the folder. */
  readonly files: readonly string[]
  /** Parsed `case.json`, when present. */
  readonly meta: Readonly<Record<string, unknown>> | undefined
}

export type PxarVariant = 'v1' | 'v2'

/** One entry of a PBS vector directory's `index.json`. */
export interface PbsCase {
  /** Absolute path of the vector directory (paths in the case are relative to it). */
  readonly root: string
  readonly category: string
  readonly command: readonly string[]
  readonly inputs: readonly string[]
  readonly outputs: readonly string[]
  readonly expected: string
  readonly expect_error: boolean
  /** The remaining fields of the case object (password, kdf, avg, gen, …). */
  readonly raw: Readonly<Record<string, unknown>>
}

export function fail(message: string): never {
  throw new CheckFailure(message)
}
