/** Every fuzz target, by name. */
import { NET_TARGETS } from './net-targets.ts'
import { PARSER_TARGETS, type Target } from './targets.ts'

export type { Target } from './targets.ts'

/** Every target, in run order. */
export const TARGETS: readonly Target[] = [...PARSER_TARGETS, ...NET_TARGETS]

/** The target called `name`. */
export function targetByName(name: string): Target {
  const t = TARGETS.find((x) => x.name === name)
  if (!t)
    throw new RangeError(`unknown fuzz target '${name}' (known: ${TARGETS.map((x) => x.name).join(', ')})`)
  return t
}
