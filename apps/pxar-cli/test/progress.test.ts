import { afterEach, describe, expect, it, vi } from 'vitest'
import { Output } from '../src/output.ts'
import { Progress, progressFor } from '../src/progress.ts'

function sink(isTTY: boolean): { write(s: string): boolean; isTTY: boolean; text: string } {
  const s = {
    isTTY,
    text: '',
    write(t: string): boolean {
      s.text += t
      return true
    },
  }
  return s
}

afterEach(() => {
  vi.useRealTimers()
})

describe('progress', () => {
  it('draws one live line on a terminal (entries, bytes, throughput, percentage and ETA) and clears it', () => {
    vi.useFakeTimers()
    const stream = sink(true)
    const p = new Progress({ label: 'extract', stream })
    p.update({ entries: 12, bytes: 1 << 20, totalBytes: 4 << 20 })
    vi.advanceTimersByTime(1000)
    expect(stream.text.startsWith('\r\x1b[Kextract: 12 entries, 1.00 MiB of 4.00 MiB (25%), ')).toBe(true)
    expect(stream.text).toMatch(/\/s, ETA \d/)
    expect(stream.text).not.toContain('\n')
    p.stop()
    expect(stream.text.endsWith('\r\x1b[K')).toBe(true)
  })

  it('prints plain lines at the interval when not on a terminal', () => {
    vi.useFakeTimers()
    const stream = sink(false)
    const p = new Progress({ label: 'create', stream, intervalSeconds: 5 })
    p.update({ entries: 3, bytes: 2048 })
    vi.advanceTimersByTime(4999)
    expect(stream.text).toBe('')
    vi.advanceTimersByTime(1)
    expect(stream.text).toMatch(/^create: 3 entries, 2\.00 KiB, [\d.]+ \S+\/s\n$/)
    vi.advanceTimersByTime(5000)
    expect(stream.text.split('\n')).toHaveLength(3)
    p.stop()
    expect(stream.text).not.toContain('\r')
  })

  it('is silent with --quiet, and with JSON output unless stderr is a terminal', () => {
    vi.useFakeTimers()
    for (const [format, quiet, tty, shown] of [
      ['text', false, false, true],
      ['text', true, true, false],
      ['json', false, false, false],
      ['json', false, true, true],
    ] as const) {
      const stderr = sink(tty)
      const out = new Output(
        { outputFormat: format, quiet, verbose: false },
        { stderr: stderr as unknown as NodeJS.WriteStream },
      )
      const p = progressFor(out, 'x')
      p.update({ entries: 1, bytes: 1 })
      vi.advanceTimersByTime(60_000)
      p.stop()
      expect(stderr.text.length > 0, `${format} quiet=${quiet} tty=${tty}`).toBe(shown)
    }
  })

  it('can leave out the entry counter', () => {
    const p = new Progress({ label: 'x', stream: sink(false), enabled: false, entries: false })
    p.update({ bytes: 10 })
    expect(p.text()).toMatch(/^10 B, /)
  })
})
