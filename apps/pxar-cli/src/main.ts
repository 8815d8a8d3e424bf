#!/usr/bin/env node
/**
 * The `pxar-cli` executable.
 */
import { runCli } from './cli.ts'

process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  // `pxar-cli list … | head`: the reader went away; stop quietly
  if (err.code === 'EPIPE') process.exit(0)
  throw err
})

process.exitCode = await runCli(process.argv.slice(2))
