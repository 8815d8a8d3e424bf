/**
 * Generates src/constants.ts: every PXAR_* item type is the filename hash (SipHash-2-4 with
 * pxar's key) of a `__PROXMOX_FORMAT_…__` tag, as in upstream's examples/mk-format-hashes.rs.
 *
 * Run: pnpm exec tsx packages/format/scripts/gen-constants.ts
 * (test/constants.test.ts re-derives every value and checks the file is up to date.)
 */
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CONSTANT_TAGS, renderConstants } from './constants-source.ts'

const out = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'constants.ts')
writeFileSync(out, renderConstants(CONSTANT_TAGS))
// keep the generated file in the repository's formatting
execFileSync('pnpm', ['exec', 'biome', 'format', '--write', out], { stdio: 'inherit' })
console.log(`wrote ${out} (${CONSTANT_TAGS.length} constants)`)
