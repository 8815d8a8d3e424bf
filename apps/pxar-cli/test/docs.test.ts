import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CLI_DOCS_DIR, renderCliDocs, staleCliDocs } from '../../../scripts/gen-cli-docs.ts'
import { REPO_ROOT } from '../../../scripts/vectors.ts'

describe('docs/cli', () => {
  it('has a page per command, up to date with --help', () => {
    const stale = staleCliDocs(REPO_ROOT)
    expect(
      stale,
      `${CLI_DOCS_DIR} is out of date with \`pxar-cli --help\` (${stale.join(', ')}): run \`pnpm docs:cli\` and commit docs/cli`,
    ).toEqual([])
  })

  it('every command is in the index and on its own page', async () => {
    const pages = renderCliDocs()
    const index = await readFile(join(REPO_ROOT, CLI_DOCS_DIR, 'README.md'), 'utf8')
    for (const name of pages.keys()) {
      if (name === 'README.md') continue
      expect(index).toContain(`](${name})`)
      expect(pages.get(name)).toContain(`Usage: pxar-cli ${name.replace(/\.md$/, '')}`)
    }
    for (const cmd of ['create', 'list', 'extract', 'keygen', 'key', 'backup', 'restore']) {
      expect(pages.has(`${cmd}.md`), cmd).toBe(true)
    }
  })
})
