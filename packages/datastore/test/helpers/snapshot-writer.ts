// Child process for the killed-writer test: starts a snapshot and writes a dynamic index of
// fresh chunks forever, without ever finishing (the parent kills it).
import { createHash } from 'node:crypto'
import { Datastore, DynamicIndexFileWriter, encodeBlob } from '../../src/index.ts'

const ds = await Datastore.open(process.argv[2]!)
const w = await ds.beginSnapshot(
  { ns: [], type: 'host', id: 'killed', time: 1700000000 },
  { owner: 'root@pam' },
)
await w.addBlob('conf.blob', encodeBlob(new TextEncoder().encode('x=1')))
const idx = await DynamicIndexFileWriter.create(w.filePath('root.pxar.didx'))
process.stdout.write('ready\n')
for (let s = 1; ; s++) {
  const data = new Uint8Array(1024 * 1024).map((_, i) => (i * s) & 0xff)
  data[0] = s & 0xff
  data[1] = (s >> 8) & 0xff
  const digest = createHash('sha256').update(data).digest()
  await ds.chunkStore.insert(digest, encodeBlob(data, { compress: true }))
  idx.addChunk(data.length, digest)
}
