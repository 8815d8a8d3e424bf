/**
 * Output of results (text or JSON on stdout) and of messages (stderr), honouring
 * `--output-format`, `--quiet` and `--verbose`.
 */
import type { Writable } from 'node:stream'
import { describeError } from './errors.ts'

/** Output formats of every command. */
export const OUTPUT_FORMATS = ['text', 'json', 'json-pretty'] as const
/** One of {@link OUTPUT_FORMATS}. */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number]

/** Options every command has. */
export interface GlobalOptions {
  readonly outputFormat: OutputFormat
  readonly quiet: boolean
  readonly verbose: boolean
}

/** JSON.stringify replacer: bigints as numbers when safe, else decimal strings; bytes as text. */
function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value.toString()
  }
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8')
  return value
}

/** Where results and messages go. */
export class Output {
  readonly format: OutputFormat
  readonly quiet: boolean
  readonly verbose: boolean
  readonly stdout: Writable & { isTTY?: boolean }
  readonly stderr: Writable & { isTTY?: boolean }

  constructor(
    options: GlobalOptions,
    streams: { stdout?: Writable & { isTTY?: boolean }; stderr?: Writable & { isTTY?: boolean } } = {},
  ) {
    this.format = options.outputFormat
    this.quiet = options.quiet
    this.verbose = options.verbose
    this.stdout = streams.stdout ?? process.stdout
    this.stderr = streams.stderr ?? process.stderr
  }

  /** True for `json` and `json-pretty`. */
  get json(): boolean {
    return this.format !== 'text'
  }

  /** Serializes a value in the selected JSON style. */
  stringify(value: unknown): string {
    return this.format === 'json-pretty'
      ? JSON.stringify(value, replacer, 2)
      : JSON.stringify(value, replacer)
  }

  /** Writes to stdout, waiting when the pipe is full. */
  async write(text: string): Promise<void> {
    if (!this.stdout.write(text)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.stdout.off('drain', done)
          this.stdout.off('error', done)
          this.stdout.off('close', done)
          resolve()
        }
        this.stdout.once('drain', done)
        this.stdout.once('error', done)
        this.stdout.once('close', done)
      })
    }
  }

  /** Prints a command's result: `value` as JSON, or the text lines `text()` gives. */
  async result(value: unknown, text: () => string | readonly string[]): Promise<void> {
    if (this.json) {
      await this.write(`${this.stringify(value)}\n`)
      return
    }
    const t = text()
    const lines = typeof t === 'string' ? [t] : t
    for (const line of lines) await this.write(`${line}\n`)
  }

  /** Streams a JSON array (or text lines) item by item: memory stays bounded for long listings. */
  list<T>(toJson: (item: T) => unknown, toText: (item: T) => string): ListWriter<T> {
    return new ListWriter(this, toJson, toText)
  }

  /** An informational message on stderr (text mode, not with --quiet). */
  info(message: string): void {
    if (!this.quiet && !this.json) this.stderr.write(`${message}\n`)
  }

  /** A warning on stderr (not with --quiet). */
  warn(message: string): void {
    if (!this.quiet)
      this.stderr.write(this.json ? `${JSON.stringify({ warning: message })}\n` : `warning: ${message}\n`)
  }

  /** Details shown with --verbose. */
  debug(message: string): void {
    if (this.verbose && !this.json) this.stderr.write(`${message}\n`)
  }

  /** Prints an error (one line; JSON object in JSON mode; stack with --verbose) to stderr. */
  error(err: unknown): number {
    const r = describeError(err)
    if (this.json) {
      const body: Record<string, unknown> = { code: r.code, message: r.message }
      if (r.hint) body.hint = r.hint
      this.stderr.write(`${this.stringify({ error: body })}\n`)
    } else {
      this.stderr.write(`pxar-cli: error: ${r.message}${r.hint ? ` (${r.hint})` : ''}\n`)
    }
    if (this.verbose && err instanceof Error && err.stack) this.stderr.write(`${err.stack}\n`)
    return r.exitCode
  }
}

/** See {@link Output.list}. */
export class ListWriter<T> {
  readonly #out: Output
  readonly #toJson: (item: T) => unknown
  readonly #toText: (item: T) => string
  #count = 0

  constructor(out: Output, toJson: (item: T) => unknown, toText: (item: T) => string) {
    this.#out = out
    this.#toJson = toJson
    this.#toText = toText
  }

  /** Items written so far. */
  get count(): number {
    return this.#count
  }

  async push(item: T): Promise<void> {
    const out = this.#out
    if (!out.json) {
      await out.write(`${this.#toText(item)}\n`)
    } else {
      const body = out.stringify(this.#toJson(item))
      const sep = this.#count === 0 ? '[' : ','
      await out.write(
        out.format === 'json-pretty' ? `${sep}\n  ${body.replace(/\n/g, '\n  ')}` : `${sep}${body}`,
      )
    }
    this.#count++
  }

  async close(): Promise<void> {
    if (!this.#out.json) return
    if (this.#count === 0) await this.#out.write('[]\n')
    else await this.#out.write(this.#out.format === 'json-pretty' ? '\n]\n' : ']\n')
  }
}

/** Human-readable byte count (IEC units). */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let v = n
  let u = -1
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[u]}`
}

/** `1m02s`-style duration. */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000)
  if (s < 60) return ms < 10_000 ? `${(ms / 1000).toFixed(2)}s` : `${s}s`
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const r = String(s % 60).padStart(2, '0')
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m${r}s` : `${m}m${r}s`
}

/** Formats a table of rows (text mode). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (r: readonly string[]): string =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  return [line(header), ...rows.map(line)]
}
