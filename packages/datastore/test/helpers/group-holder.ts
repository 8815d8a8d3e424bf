// Child process for the cross-process lock test: starts a backup of host/held at the time given
// on the command line and keeps it open until killed.
import { Datastore } from '../../src/index.ts'

const ds = await Datastore.open(process.argv[2]!)
const w = await ds.beginSnapshot({ ns: [], type: 'host', id: 'held', time: Number(process.argv[3]) })
process.stdout.write(`ready ${w.previous?.time ?? 'none'}\n`)
setInterval(() => {}, 1 << 30)
