import { describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import { checkPbsRealSnapshot, listPbsRealSnapshots } from '../src/pbs-real.ts'

describe('datastore written by proxmox-backup-client', () => {
  const snapshots = listPbsRealSnapshots(vectorsDir('pbs-real'))
  it('finds the three snapshots', () => {
    expect(snapshots.map((s) => s.path)).toEqual([
      'host/enc/2023-11-14T22:15:00Z',
      'host/plain/2023-11-14T22:13:20Z',
      'host/plain/2023-11-14T23:13:20Z',
    ])
  })
  for (const s of snapshots) {
    it(`${s.path}: manifest, index csums, archive stream and entries, catalog`, async () => {
      const archives = await checkPbsRealSnapshot(s)
      expect(archives.map((a) => a.name).sort()).toEqual(['catalog.pcat1', 'root.pxar'])
    })
  }
})
