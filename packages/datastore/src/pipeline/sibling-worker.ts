import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'

/**
 * Starts the worker module `<name>.js` beside the calling module `moduleUrl` (pass
 * `import.meta.url`). When the caller runs from TypeScript sources (tests, `tsx`), the sibling
 * `<name>.ts` is loaded through tsx's loader API, which must then be installed.
 *
 * @example
 * ```ts
 * const worker = startSiblingWorker(import.meta.url, 'encode-worker', { compress: true })
 * ```
 */
export function startSiblingWorker(moduleUrl: string, name: string, workerData: unknown): Worker {
  if (moduleUrl.endsWith('.ts')) {
    const entry = new URL(`./${name}.ts`, moduleUrl).href
    const api = resolveTsxApi(moduleUrl)
    const code = `import(${JSON.stringify(api)}).then((m) => m.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(moduleUrl)}))`
    return new Worker(code, { eval: true, workerData })
  }
  return new Worker(new URL(`./${name}.js`, moduleUrl), { workerData })
}

/** URL of tsx's ESM loader API as seen from `from` (bare specifier if it cannot be located). */
function resolveTsxApi(from: string): string {
  try {
    const resolve = (import.meta as { resolve?: (specifier: string) => string }).resolve
    if (typeof resolve === 'function') return resolve('tsx/esm/api')
  } catch {
    // Not resolvable this way; try the package manifest below.
  }
  try {
    const require = createRequire(from)
    const manifestPath = require.resolve('tsx/package.json')
    const manifest = require(manifestPath) as { exports?: Record<string, { import?: { default?: string } }> }
    const target = manifest.exports?.['./esm/api']?.import?.default
    if (target) return new URL(target, pathToFileURL(manifestPath)).href
  } catch {
    // Fall through.
  }
  return 'tsx/esm/api'
}
