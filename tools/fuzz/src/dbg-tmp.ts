import { readFileSync } from 'node:fs'
import { runInput } from './runner.ts'
import { targetByName } from './target-list.ts'

const t = targetByName(process.argv[2]!)
await t.setup?.('')
for (const f of process.argv.slice(3)) {
  const t0 = Date.now()
  console.log(f.slice(-20), await runInput(t, new Uint8Array(readFileSync(f))), Date.now() - t0)
}
await t.teardown?.()
