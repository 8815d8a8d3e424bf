/**
 * `conformance pxar <DIR>` / `conformance pbs <DIR>`: runs every case of a vector directory,
 * prints `PASS name` or `FAIL name: reason` per case and `N passed, M failed` last.
 * Exit status: 0 all passed, 1 a case failed, 2 the directory could not be read.
 */
import { type CaseResult, listPbsCases, listPxarCases, runPbsCase, runPxarCase } from './run.ts'

async function main(argv: string[]): Promise<number> {
  const [suite, dir] = argv
  if ((suite !== 'pxar' && suite !== 'pbs') || !dir) {
    process.stderr.write('usage: conformance pxar|pbs <DIR>\n')
    return 2
  }
  let passed = 0
  let failed = 0
  const report = (r: CaseResult) => {
    if (r.ok) passed++
    else failed++
    process.stdout.write(r.ok ? `PASS ${r.name}\n` : `FAIL ${r.name}: ${r.reason}\n`)
  }
  try {
    if (suite === 'pxar') for (const c of listPxarCases(dir)) report(await runPxarCase(c))
    else for (const c of listPbsCases(dir)) report(await runPbsCase(c))
  } catch (err) {
    process.stdout.write(`${passed} passed, ${failed + 1} failed\n`)
    process.stderr.write(`conformance: cannot read ${dir}: ${err instanceof Error ? err.message : err}\n`)
    return 2
  }
  process.stdout.write(`${passed} passed, ${failed} failed\n`)
  return failed === 0 ? 0 : 1
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    process.stderr.write(`conformance: ${err instanceof Error ? (err.stack ?? err.message) : err}\n`)
    process.exitCode = 2
  },
)
