/**
 * Release checks, run by `pnpm test` after the test suite (and alone as `pnpm release:check`):
 *
 * 1. every publishable workspace package (not `private`) has the publishing fields
 *    (`exports` with `types`, `files`, `engines.node`, `publishConfig.access`, `license`,
 *    `repository`) and `publint --strict` finds nothing;
 * 2. `changeset status` can read every changeset;
 * 3. `pnpm publish --dry-run -r --no-git-checks` packs every package (nothing is uploaded; no
 *    registry login is needed, and failed registry look-ups are not retried, so it also passes
 *    offline).
 *
 * Packages must be built (`tsc -b`) first: publint checks the files `exports` points at.
 * Output is shown only for a failing step.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const ROOT = join(import.meta.dirname, '..')

interface Manifest {
  name?: string
  private?: boolean
  exports?: Record<string, unknown>
  files?: string[]
  engines?: { node?: string }
  publishConfig?: { access?: string }
  license?: string
  repository?: unknown
}

function packages(): { dir: string; manifest: Manifest }[] {
  const out: { dir: string; manifest: Manifest }[] = []
  for (const group of ['packages', 'apps']) {
    for (const name of readdirSync(join(ROOT, group)).sort()) {
      const dir = join(group, name)
      let manifest: Manifest
      try {
        manifest = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as Manifest
      } catch {
        continue
      }
      if (manifest.private !== true) out.push({ dir, manifest })
    }
  }
  return out
}

function fieldProblems(m: Manifest): string[] {
  const problems: string[] = []
  const main = m.exports?.['.'] as Record<string, unknown> | undefined
  if (!main || typeof main !== 'object' || typeof main.types !== 'string')
    problems.push('exports["."] needs a "types" condition')
  if (!Array.isArray(m.files) || m.files.length === 0) problems.push('"files" is missing')
  if (!m.engines?.node) problems.push('"engines.node" is missing')
  if (m.publishConfig?.access !== 'public') problems.push('"publishConfig.access" must be "public"')
  if (!m.license) problems.push('"license" is missing')
  if (!m.repository) problems.push('"repository" is missing')
  return problems
}

function step(title: string, cmd: string, args: string[], env: Record<string, string> = {}): boolean {
  const r = spawnSync(cmd, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  })
  const ok = r.status === 0
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${title}`)
  if (!ok) {
    process.stdout.write(r.stdout ?? '')
    process.stdout.write(r.stderr ?? '')
    if (r.error) console.log(String(r.error))
  }
  return ok
}

let ok = true
for (const { dir, manifest } of packages()) {
  const problems = fieldProblems(manifest)
  if (problems.length > 0) {
    ok = false
    console.log(`FAIL ${manifest.name ?? dir}: ${problems.join('; ')}`)
  }
  ok = step(`publint ${manifest.name ?? dir}`, 'pnpm', ['exec', 'publint', '--strict', dir]) && ok
}
ok = step('changeset status', 'pnpm', ['exec', 'changeset', 'status']) && ok
ok =
  step('pnpm publish --dry-run -r', 'pnpm', ['publish', '--dry-run', '-r', '--no-git-checks'], {
    npm_config_fetch_retries: '0',
    npm_config_fetch_timeout: '15000',
  }) && ok
if (!ok) {
  console.log('release check failed (see above)')
  process.exitCode = 1
}
