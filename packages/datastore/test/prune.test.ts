import { describe, expect, it } from 'vitest'
import { formatBackupTime, parseBackupTime } from '../src/backup-dir.ts'
import { computePruneInfo, type KeepOptions } from '../src/prune.ts'

interface Snap {
  time: number
  finished: boolean
  protected: boolean
  name: string
}
function snaps(names: string[], prot: string[] = [], unfinished: string[] = []): Snap[] {
  return names.map((name) => ({
    name,
    time: parseBackupTime(name)!,
    finished: !unfinished.includes(name),
    protected: prot.includes(name),
  }))
}
function run(list: Snap[], keep: KeepOptions) {
  const info = computePruneInfo(list, keep, { timeZone: 'utc' })
  return {
    keep: info.filter((i) => i.mark !== 'remove').map((i) => i.snapshot.name),
    remove: info.filter((i) => i.mark === 'remove').map((i) => i.snapshot.name),
  }
}

describe('prune (upstream tests/prune.rs cases)', () => {
  it('P1 protected', () => {
    const l = snaps(
      ['2019-11-15T09:39:15Z', '2019-11-15T10:39:15Z', '2019-11-15T10:49:15Z', '2019-11-15T10:59:15Z'],
      ['2019-11-15T09:39:15Z', '2019-11-15T10:59:15Z'],
    )
    expect(run(l, { keepLast: 1 }).remove).toEqual(['2019-11-15T10:39:15Z'])
    expect(run(l, { keepHourly: 1 }).remove).toEqual(['2019-11-15T10:39:15Z'])
  })
  it('P2 hourly', () => {
    const l = snaps(
      ['09:39:15', '10:49:15', '10:59:15', '11:39:15', '11:49:15', '11:59:15'].map((t) => `2019-11-15T${t}Z`),
    )
    expect(run(l, { keepHourly: 3 }).remove).toEqual(
      ['10:49:15', '11:39:15', '11:49:15'].map((t) => `2019-11-15T${t}Z`),
    )
    expect(run(l, { keepHourly: 2 }).keep).toEqual(['10:59:15', '11:59:15'].map((t) => `2019-11-15T${t}Z`))
  })
  it('P3 simple2', () => {
    const days = [
      '2018-11-15',
      '2019-11-15',
      '2019-11-21',
      '2019-11-22',
      '2019-11-29',
      '2019-12-01',
      '2019-12-02',
      '2019-12-03',
      '2019-12-04',
    ]
    const l = snaps(days.map((d) => `${d}T11:59:15Z`))
    const k = (o: KeepOptions) => run(l, o).keep.map((n) => n.slice(0, 10))
    expect(k({ keepDaily: 1 })).toEqual(['2019-12-04'])
    expect(k({ keepLast: 1, keepDaily: 1 })).toEqual(['2019-12-03', '2019-12-04'])
    expect(k({ keepDaily: 1, keepWeekly: 1 })).toEqual(['2019-12-01', '2019-12-04'])
    expect(k({ keepDaily: 1, keepWeekly: 1, keepMonthly: 1 })).toEqual([
      '2019-11-22',
      '2019-12-01',
      '2019-12-04',
    ])
    expect(k({ keepMonthly: 1, keepYearly: 1 })).toEqual(['2018-11-15', '2019-12-04'])
  })
  it('P4 simple', () => {
    const l = snaps([
      '2019-12-02T11:59:15Z',
      '2019-12-03T11:59:15Z',
      '2019-12-04T11:59:15Z',
      '2019-12-04T12:59:15Z',
    ])
    const r = (o: KeepOptions) =>
      run(l, o).remove.map((n) => (n.startsWith('2019-12-04') ? n.slice(5, 13) : n.slice(5, 10)))
    expect(r({ keepLast: 4 })).toEqual([])
    expect(r({ keepLast: 3 })).toEqual(['12-02'])
    expect(r({ keepLast: 2 })).toEqual(['12-02', '12-03'])
    expect(r({ keepLast: 1 })).toEqual(['12-02', '12-03', '12-04T11'])
    expect(r({ keepLast: 0 })).toEqual(['12-02', '12-03', '12-04T11', '12-04T12'])
    expect(r({ keepLast: 2, keepDaily: 2 })).toEqual([])
    expect(r({ keepDaily: 3 })).toEqual(['12-04T11'])
    expect(r({ keepDaily: 2 })).toEqual(['12-02', '12-04T11'])
    expect(r({ keepWeekly: 5 })).toEqual(['12-02', '12-03', '12-04T11'])
    expect(r({ keepDaily: 1, keepWeekly: 5 })).toEqual(['12-02', '12-03', '12-04T11'])
    expect(r({ keepMonthly: 6 })).toEqual(['12-02', '12-03', '12-04T11'])
    expect(r({ keepYearly: 7 })).toEqual(['12-02', '12-03', '12-04T11'])
    expect(r({ keepWeekly: 5, keepMonthly: 6, keepYearly: 7 })).toEqual(['12-02', '12-03', '12-04T11'])
  })
  it('keeps only the newest unfinished snapshot, and only if newer than all finished ones', () => {
    const l = snaps(
      ['2020-01-01T00:00:00Z', '2020-01-02T00:00:00Z', '2020-01-03T00:00:00Z'],
      [],
      ['2020-01-01T00:00:00Z', '2020-01-03T00:00:00Z'],
    )
    const info = computePruneInfo(l, { keepLast: 5 }, { timeZone: 'utc' })
    expect(info.map((i) => i.mark)).toEqual(['remove', 'keep', 'keep-partial'])
  })
  it('formats and parses snapshot times', () => {
    expect(formatBackupTime(1593179765)).toBe('2020-06-26T13:56:05Z')
    expect(parseBackupTime('2020-06-26T13:56:05Z')).toBe(1593179765)
    expect(parseBackupTime('2020-02-30T00:00:00Z')).toBeUndefined()
  })
})
