/**
 * What every command action gets: the output (from the global options) and a way to set the
 * exit code.
 */
import type { Command } from 'commander'
import { type GlobalOptions, Output } from './output.ts'

/** Per-invocation state shared by the commands. */
export class Context {
  exitCode = 0
  #output: Output | undefined
  readonly streams: ConstructorParameters<typeof Output>[1]

  constructor(streams: ConstructorParameters<typeof Output>[1] = {}) {
    this.streams = streams
  }

  /** The output configured by the global options of `cmd`. */
  output(cmd: Command): Output {
    const o = cmd.optsWithGlobals() as Partial<GlobalOptions>
    this.#output = new Output(
      { outputFormat: o.outputFormat ?? 'text', quiet: o.quiet === true, verbose: o.verbose === true },
      this.streams,
    )
    return this.#output
  }

  /** The last output created (for error reporting). */
  get lastOutput(): Output | undefined {
    return this.#output
  }
}

/**
 * Wraps an action: commander passes `(...args, options, command)`; the body gets the output, the
 * positional arguments, the command's own options and the command.
 */
export function action<O>(
  ctx: Context,
  body: (
    out: Output,
    args: readonly (string | string[] | undefined)[],
    options: O,
    cmd: Command,
  ) => Promise<void>,
): (...args: unknown[]) => Promise<void> {
  return async (...all: unknown[]) => {
    const cmd = all[all.length - 1] as Command
    const options = all[all.length - 2] as O
    const args = all.slice(0, -2) as (string | string[] | undefined)[]
    await body(ctx.output(cmd), args, options, cmd)
  }
}
