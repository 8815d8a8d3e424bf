/**
 * Exclude/match patterns as the PBS client reads them (`--exclude` and `.pxarexclude` files,
 * gitignore-like): `*` and `?` and `[…]` within a component, `**` across components, a leading
 * `/` (or any inner `/`) anchors the pattern to the directory that defines it, a trailing `/`
 * matches directories only, a leading `!` re-includes. The last matching pattern wins.
 */

/** One compiled pattern. */
export interface PathPattern {
  /** The pattern text as given. */
  readonly text: string
  /** True for `!pattern` (include). */
  readonly include: boolean
  readonly dirOnly: boolean
  /** Tests a path relative to the pattern's base directory (no leading `/`). */
  test(relPath: string): boolean
}

function globToRegex(glob: string): string {
  let re = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++
        if (glob[i + 1] === '/') {
          i++
          re += '(?:.*/)?'
        } else re += '.*'
      } else re += '[^/]*'
    } else if (c === '?') re += '[^/]'
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2)
      if (close < 0) re += '\\['
      else {
        let body = glob.slice(i + 1, close)
        if (body.startsWith('!')) body = `^${body.slice(1)}`
        re += `[${body.replace(/\\/g, '\\\\')}]`
        i = close
      }
    } else if (c === '\\' && i + 1 < glob.length) {
      i++
      re += (glob[i] as string).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
  }
  return re
}

/**
 * Compiles one pattern line; undefined for blank lines and `#` comments.
 * @throws SyntaxError for a pattern that cannot be compiled.
 */
export function compilePattern(line: string): PathPattern | undefined {
  let text = line.replace(/\r$/, '')
  if (text.trim() === '' || text.startsWith('#')) return undefined
  const include = text.startsWith('!')
  if (include) text = text.slice(1)
  const dirOnly = text.endsWith('/') && text.length > 1
  if (dirOnly) text = text.replace(/\/+$/, '')
  const anchored = text.startsWith('/') || text.includes('/')
  text = text.replace(/^\/+/, '')
  const body = globToRegex(text)
  const regex = new RegExp(anchored ? `^${body}$` : `(?:^|/)${body}$`, 's')
  return { text: line, include, dirOnly, test: (p: string) => regex.test(p) }
}

/** A set of patterns bound to a base directory (relative path, `''` for the root). */
export interface PatternScope {
  readonly base: string
  readonly patterns: readonly PathPattern[]
}

/**
 * Decides whether a path is excluded: the last matching pattern of all scopes (outer scopes
 * first, then patterns in order) wins; no match means included.
 */
export function isExcluded(scopes: readonly PatternScope[], relPath: string, isDir: boolean): boolean {
  let excluded = false
  for (const scope of scopes) {
    const rel =
      scope.base === ''
        ? relPath
        : relPath.startsWith(`${scope.base}/`)
          ? relPath.slice(scope.base.length + 1)
          : undefined
    if (rel === undefined) continue
    for (const p of scope.patterns) {
      if (p.dirOnly && !isDir) continue
      if (p.test(rel)) excluded = !p.include
    }
  }
  return excluded
}

/** Parses pattern file content (one pattern a line). */
export function parsePatternFile(text: string): PathPattern[] {
  const out: PathPattern[] = []
  for (const line of text.split('\n')) {
    const p = compilePattern(line)
    if (p) out.push(p)
  }
  return out
}
