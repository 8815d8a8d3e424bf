/**
 * Prune selection exactly as PBS `pbs-datastore/src/prune.rs` computes it.
 */
import { formatBackupTime } from './backup-dir.ts'

/** Keep options (all optional, kebab-case in PBS JSON). */
export interface KeepOptions {
  readonly keepLast?: number
  readonly keepHourly?: number
  readonly keepDaily?: number
  readonly keepWeekly?: number
  readonly keepMonthly?: number
  readonly keepYearly?: number
}

/** Prune decision for one snapshot. */
export type PruneMark = 'keep' | 'keep-partial' | 'protected' | 'remove'

/** What prune needs to know about a snapshot. */
export interface PruneCandidate {
  /** Backup time, epoch seconds. */
  readonly time: number
  /** Has a manifest (`index.json.blob`). */
  readonly finished: boolean
  readonly protected: boolean
}

/** Options of {@link computePruneInfo}. */
export interface PruneOptions {
  /**
   * Time zone of the hourly/daily/... selection keys. PBS uses the server's local time
   * (`'local'`, the default); `'utc'` gives reproducible results.
   */
  readonly timeZone?: 'local' | 'utc'
}

/** True if any keep option is set (PBS keeps everything when none is). */
export function keepsSomething(o: KeepOptions): boolean {
  return [o.keepLast, o.keepHourly, o.keepDaily, o.keepWeekly, o.keepMonthly, o.keepYearly].some(
    (v) => v !== undefined && v > 0,
  )
}

function parts(time: number, utc: boolean) {
  const d = new Date(time * 1000)
  return utc
    ? {
        y: d.getUTCFullYear(),
        m: d.getUTCMonth() + 1,
        d: d.getUTCDate(),
        h: d.getUTCHours(),
        wd: d.getUTCDay(),
      }
    : { y: d.getFullYear(), m: d.getMonth() + 1, d: d.getDate(), h: d.getHours(), wd: d.getDay() }
}

/** ISO 8601 week-based year and week (`%G/%V`). */
function isoWeek(y: number, m: number, d: number, wd: number): string {
  const day = Date.UTC(y, m - 1, d) / 86400000
  const thursday = day - ((wd + 6) % 7) + 3
  const year = new Date(thursday * 86400000).getUTCFullYear()
  const week = Math.floor((thursday - Date.UTC(year, 0, 1) / 86400000) / 7) + 1
  return `${year}/${String(week).padStart(2, '0')}`
}

const p2 = (n: number) => String(n).padStart(2, '0')

/**
 * Marks every snapshot of one group (any order in, same order out): unfinished ones first
 * (only the newest, and only if newer than every finished one, is `keep-partial`), then the
 * keep-last/hourly/daily/weekly/monthly/yearly passes newest→oldest; protected snapshots are
 * never removed; everything unmarked is removed.
 *
 * @throws RangeError on negative or non-integer keep counts.
 */
export function computePruneInfo<T extends PruneCandidate>(
  list: readonly T[],
  keep: KeepOptions,
  options: PruneOptions = {},
): { snapshot: T; mark: PruneMark }[] {
  const utc = options.timeZone === 'utc'
  const sorted = list.map((s, i) => ({ s, i })).sort((a, b) => b.s.time - a.s.time)
  const mark = new Map<number, PruneMark>()

  let keepUnfinished = true
  for (const { s, i } of sorted) {
    if (s.finished) keepUnfinished = false
    else {
      mark.set(i, keepUnfinished ? 'keep-partial' : 'remove')
      keepUnfinished = false
    }
  }

  const select = (n: number | undefined, key: (s: T) => string): void => {
    if (n === undefined) return
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('keep counts must be non-negative integers')
    const already = new Set<string>()
    for (const { s, i } of sorted) if (mark.get(i) === 'keep') already.add(key(s))
    const included = new Set<string>()
    for (const { s, i } of sorted) {
      if (mark.has(i)) continue
      if (s.protected) {
        mark.set(i, 'protected')
        continue
      }
      const k = key(s)
      if (already.has(k)) continue
      if (!included.has(k)) {
        if (included.size >= n) break
        included.add(k)
        mark.set(i, 'keep')
      } else mark.set(i, 'remove')
    }
  }

  select(keep.keepLast, (s) => formatBackupTime(s.time))
  select(keep.keepHourly, (s) => {
    const t = parts(s.time, utc)
    return `${t.y}/${p2(t.m)}/${p2(t.d)}/${p2(t.h)}`
  })
  select(keep.keepDaily, (s) => {
    const t = parts(s.time, utc)
    return `${t.y}/${p2(t.m)}/${p2(t.d)}`
  })
  select(keep.keepWeekly, (s) => {
    const t = parts(s.time, utc)
    return isoWeek(t.y, t.m, t.d, t.wd)
  })
  select(keep.keepMonthly, (s) => {
    const t = parts(s.time, utc)
    return `${t.y}/${p2(t.m)}`
  })
  select(keep.keepYearly, (s) => String(parts(s.time, utc).y))

  return list.map((snapshot, i) => ({
    snapshot,
    mark: snapshot.protected ? 'protected' : (mark.get(i) ?? 'remove'),
  }))
}
