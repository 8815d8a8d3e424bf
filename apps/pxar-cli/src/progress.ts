/**
 * Progress display on stderr: a live line on a terminal, a plain line every few seconds
 * otherwise (`PXAR_PROGRESS_INTERVAL` seconds, default 10), nothing with --quiet or JSON
 * output to a non-terminal.
 */
import { formatBytes, formatDuration, type Output } from './output.ts'

/** Counters a long-running command reports. */
export interface ProgressState {
  entries: number
  bytes: number
  /** Total bytes when known (gives a percentage and an ETA). */
  totalBytes?: number | undefined
  /** Extra text shown after the counters. */
  detail?: string | undefined
}

/** Options of {@link Progress}. */
export interface ProgressOptions {
  readonly label: string
  readonly stream?: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean }
  readonly enabled?: boolean
  /** Seconds between plain lines when not on a terminal. */
  readonly intervalSeconds?: number
  /** Show the entry counter (default true; off for work counted in bytes only). */
  readonly entries?: boolean
}

/** A progress reporter; call {@link Progress.update} as work proceeds and {@link Progress.stop} at the end. */
export class Progress {
  readonly state: ProgressState = { entries: 0, bytes: 0 }
  readonly #label: string
  readonly #stream: { write(s: string): unknown; isTTY?: boolean }
  readonly #tty: boolean
  readonly #enabled: boolean
  readonly #entries: boolean
  readonly #start = performance.now()
  #timer: NodeJS.Timeout | undefined
  #drawn = false

  constructor(options: ProgressOptions) {
    this.#label = options.label
    this.#stream = options.stream ?? process.stderr
    this.#tty = this.#stream.isTTY === true
    this.#enabled = options.enabled ?? true
    this.#entries = options.entries ?? true
    if (!this.#enabled) return
    const envInterval = Number(process.env.PXAR_PROGRESS_INTERVAL)
    const seconds = options.intervalSeconds ?? (envInterval > 0 ? envInterval : 10)
    this.#timer = setInterval(() => this.#draw(), this.#tty ? 200 : seconds * 1000)
    this.#timer.unref()
  }

  /** Milliseconds since start. */
  get elapsedMs(): number {
    return performance.now() - this.#start
  }

  /** Updates the counters (drawn on the next tick). */
  update(change: Partial<ProgressState>): void {
    Object.assign(this.state, change)
  }

  /** The status text (without the label). */
  text(): string {
    const s = this.state
    const secs = this.elapsedMs / 1000
    const rate = secs > 0 ? s.bytes / secs : 0
    let t = this.#entries ? `${s.entries} entries, ${formatBytes(s.bytes)}` : formatBytes(s.bytes)
    if (s.totalBytes !== undefined && s.totalBytes > 0) {
      t += ` of ${formatBytes(s.totalBytes)} (${Math.min(100, (100 * s.bytes) / s.totalBytes).toFixed(0)}%)`
    }
    t += `, ${formatBytes(Math.round(rate))}/s`
    if (s.totalBytes !== undefined && rate > 0 && s.bytes < s.totalBytes) {
      t += `, ETA ${formatDuration(((s.totalBytes - s.bytes) / rate) * 1000)}`
    }
    if (s.detail) t += `, ${s.detail}`
    return t
  }

  #draw(): void {
    const line = `${this.#label}: ${this.text()}`
    if (this.#tty) {
      const width = (this.#stream as { columns?: number }).columns ?? 120
      this.#stream.write(`\r\x1b[K${line.slice(0, Math.max(20, width - 1))}`)
      this.#drawn = true
    } else {
      this.#stream.write(`${line}\n`)
    }
  }

  /** Stops the display and clears the live line. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = undefined
    if (this.#drawn) this.#stream.write('\r\x1b[K')
    this.#drawn = false
  }
}

/**
 * The progress display of a command: on stderr, off with `--quiet`, and off for JSON output
 * unless stderr is a terminal (scripts reading JSON get no chatter).
 */
export function progressFor(out: Output, label: string, options: { entries?: boolean } = {}): Progress {
  return new Progress({
    label,
    stream: out.stderr,
    enabled: !out.quiet && !(out.json && out.stderr.isTTY !== true),
    ...options,
  })
}
