/**
 * Lossless JSON parsing plus the two serializations PBS uses for manifests:
 * canonical JSON (`proxmox-serde` `to_canonical_json`, the bytes that get signed) and
 * `serde_json::to_string_pretty` of a `serde_json::Value` (sorted keys, two-space indent).
 *
 * Numbers follow serde_json: integer literals that fit i64/u64 stay integers (as `number` when
 * safe, `bigint` otherwise), everything else is an f64 printed the way `ryu` prints it
 * (`1.0`, `1e16`, `1.5e-7`). {@link JsonFloat} marks floats whose value happens to be integral.
 */
import { PxarFormatError } from '@pxar/format'

/** An f64 JSON number that must print as a float (e.g. `1.0`), although its value is integral. */
export class JsonFloat {
  readonly value: number
  constructor(value: number) {
    if (!Number.isFinite(value)) throw new RangeError('JSON floats must be finite')
    this.value = value
  }
}

/** A JSON object as produced by {@link parseJson}: a prototype-less record. */
export interface JsonObject {
  readonly [key: string]: JsonValue
}

/** A JSON value as produced by {@link parseJson}. */
export type JsonValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | JsonFloat
  | readonly JsonValue[]
  | JsonObject

const MAX_DEPTH = 128
const U64_MAX = 0xffff_ffff_ffff_ffffn
const I64_MIN = -0x8000_0000_0000_0000n

/**
 * Parses JSON text without losing integer precision (serde_json semantics for numbers; nesting
 * limited to 128 like serde_json). Objects are prototype-less; for duplicate keys the last wins.
 *
 * @throws PxarFormatError `ERR_MANIFEST_FORMAT` with the byte offset (UTF-16 index) of the error.
 * @example parseJson('{"size": 18446744073709551615}') // { size: 18446744073709551615n }
 */
export function parseJson(text: string): JsonValue {
  let pos = 0
  const n = text.length
  const err = (msg: string): never => {
    throw new PxarFormatError('ERR_MANIFEST_FORMAT', `invalid JSON: ${msg}`, pos)
  }
  const ws = (): void => {
    while (pos < n) {
      const c = text.charCodeAt(pos)
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++
      else break
    }
  }
  const str = (): string => {
    // pos at opening quote
    pos++
    let out = ''
    let start = pos
    for (;;) {
      if (pos >= n) err('unterminated string')
      const c = text.charCodeAt(pos)
      if (c === 0x22) {
        out += text.slice(start, pos)
        pos++
        break
      }
      if (c < 0x20) err('control character in string')
      if (c === 0x5c) {
        out += text.slice(start, pos)
        const e = text[pos + 1]
        pos += 2
        switch (e) {
          case '"':
            out += '"'
            break
          case '\\':
            out += '\\'
            break
          case '/':
            out += '/'
            break
          case 'b':
            out += '\b'
            break
          case 'f':
            out += '\f'
            break
          case 'n':
            out += '\n'
            break
          case 'r':
            out += '\r'
            break
          case 't':
            out += '\t'
            break
          case 'u': {
            const hex = text.slice(pos, pos + 4)
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) err('bad \\u escape')
            out += String.fromCharCode(Number.parseInt(hex, 16))
            pos += 4
            break
          }
          default:
            pos -= 2
            err('bad escape')
        }
        start = pos
        continue
      }
      pos++
    }
    if (!isWellFormed(out)) err('lone surrogate in string')
    return out
  }
  const num = (): JsonValue => {
    const m = /^-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(pos, pos + 400))
    if (!m) return err('bad number')
    const lit = m[0]
    if (lit.length === 400) err('number literal too long')
    pos += lit.length
    if (m[1] === undefined && m[2] === undefined) {
      const big = BigInt(lit)
      if (big >= I64_MIN && big <= U64_MAX) {
        if (lit === '-0') return 0
        return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)
          ? Number(big)
          : big
      }
    }
    const v = Number(lit)
    if (!Number.isFinite(v)) err('number out of range')
    return Number.isInteger(v) ? new JsonFloat(v) : v
  }
  const value = (depth: number): JsonValue => {
    ws()
    if (pos >= n) err('unexpected end of input')
    const c = text[pos]
    if (c === '{') {
      if (depth >= MAX_DEPTH) err('nesting too deep')
      pos++
      const obj: Record<string, JsonValue> = Object.create(null)
      ws()
      if (text[pos] === '}') {
        pos++
        return obj
      }
      for (;;) {
        ws()
        if (text[pos] !== '"') err('expected object key')
        const k = str()
        ws()
        if (text[pos] !== ':') err("expected ':'")
        pos++
        obj[k] = value(depth + 1)
        ws()
        if (text[pos] === ',') {
          pos++
          continue
        }
        if (text[pos] === '}') {
          pos++
          return obj
        }
        err("expected ',' or '}'")
      }
    }
    if (c === '[') {
      if (depth >= MAX_DEPTH) err('nesting too deep')
      pos++
      const arr: JsonValue[] = []
      ws()
      if (text[pos] === ']') {
        pos++
        return arr
      }
      for (;;) {
        arr.push(value(depth + 1))
        ws()
        if (text[pos] === ',') {
          pos++
          continue
        }
        if (text[pos] === ']') {
          pos++
          return arr
        }
        err("expected ',' or ']'")
      }
    }
    if (c === '"') return str()
    if (text.startsWith('true', pos)) {
      pos += 4
      return true
    }
    if (text.startsWith('false', pos)) {
      pos += 5
      return false
    }
    if (text.startsWith('null', pos)) {
      pos += 4
      return null
    }
    return num()
  }
  const v = value(0)
  ws()
  if (pos !== n) err('trailing characters')
  return v
}

function isWellFormed(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s)
}

/** Code-point (= UTF-8 byte) order, which differs from JS's UTF-16 order above U+FFFF. */
function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!
    const y = b.codePointAt(i)!
    if (x !== y) return x - y
    if (x > 0xffff) i++
  }
  return a.length - b.length
}

/** Formats a finite f64 the way the `ryu` crate (and therefore serde_json) does. */
function formatFloat(x: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0'
  const sign = x < 0 ? '-' : ''
  const [mant = '', expStr = '0'] = Math.abs(x).toExponential().split('e')
  const digits = mant.replace('.', '')
  const len = digits.length
  const kk = Number(expStr) + 1 // 10^(kk-1) <= |x| < 10^kk
  const k = kk - len
  let s: string
  if (k >= 0 && kk <= 16) s = `${digits}${'0'.repeat(k)}.0`
  else if (kk > 0 && kk <= 16) s = `${digits.slice(0, kk)}.${digits.slice(kk)}`
  else if (kk > -5 && kk <= 0) s = `0.${'0'.repeat(-kk)}${digits}`
  else if (len === 1) s = `${digits}e${kk - 1}`
  else s = `${digits[0]}.${digits.slice(1)}e${kk - 1}`
  return sign + s
}

function scalar(v: unknown): string | undefined {
  switch (typeof v) {
    case 'string':
      if (!isWellFormed(v)) throw new TypeError('cannot serialize a string with lone surrogates')
      // JSON.stringify escapes exactly like serde_json for well-formed strings.
      return JSON.stringify(v)
    case 'boolean':
      return v ? 'true' : 'false'
    case 'bigint':
      if (v < I64_MIN || v > U64_MAX) throw new RangeError('integer outside the i64/u64 range')
      return v.toString()
    case 'number':
      if (!Number.isFinite(v)) throw new RangeError('cannot serialize a non-finite number')
      return Number.isSafeInteger(v) ? String(v) : formatFloat(v)
    case 'object':
      if (v instanceof JsonFloat) return formatFloat(v.value)
      return undefined
    default:
      throw new TypeError(`cannot serialize a ${typeof v} as JSON`)
  }
}

function entries(obj: object): [string, unknown][] {
  return Object.entries(obj)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => compareKeys(a, b))
}

/**
 * Canonical JSON as `proxmox-serde` writes it for signing: object members sorted by key
 * (code-point order), no whitespace, serde_json string escaping and number formatting.
 * `undefined` members are skipped (as if absent).
 *
 * @throws TypeError on `null` anywhere (PBS refuses to canonicalize null), on functions/symbols.
 * @throws RangeError on non-finite numbers or integers outside i64/u64.
 * @example canonicalJson({ b: 1, a: [true, 'x'] }) // '{"a":[true,"x"],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = []
  const walk = (v: unknown, depth: number): void => {
    if (depth > MAX_DEPTH) throw new RangeError('JSON nesting too deep')
    if (v === null || v === undefined) throw new TypeError('canonical JSON cannot contain null')
    const s = scalar(v)
    if (s !== undefined) {
      out.push(s)
      return
    }
    if (Array.isArray(v)) {
      out.push('[')
      v.forEach((item, i) => {
        if (i > 0) out.push(',')
        walk(item, depth + 1)
      })
      out.push(']')
      return
    }
    out.push('{')
    entries(v as object).forEach(([k, item], i) => {
      if (i > 0) out.push(',')
      out.push(scalar(k)!, ':')
      walk(item, depth + 1)
    })
    out.push('}')
  }
  walk(value, 0)
  return out.join('')
}

/**
 * `serde_json::to_string_pretty` of a `serde_json::Value`: two-space indent, `"key": value`,
 * keys sorted (serde_json's default map is a BTreeMap), `[]`/`{}` for empty containers, no
 * trailing newline. `null` is allowed here.
 *
 * @throws TypeError/RangeError on values that are not JSON (see {@link canonicalJson}).
 */
export function prettyJson(value: unknown): string {
  const out: string[] = []
  const walk = (v: unknown, indent: string, depth: number): void => {
    if (depth > MAX_DEPTH) throw new RangeError('JSON nesting too deep')
    if (v === null || v === undefined) {
      out.push('null')
      return
    }
    const s = scalar(v)
    if (s !== undefined) {
      out.push(s)
      return
    }
    const inner = `${indent}  `
    if (Array.isArray(v)) {
      if (v.length === 0) {
        out.push('[]')
        return
      }
      out.push('[')
      v.forEach((item, i) => {
        out.push(i > 0 ? ',\n' : '\n', inner)
        walk(item, inner, depth + 1)
      })
      out.push('\n', indent, ']')
      return
    }
    const members = entries(v as object)
    if (members.length === 0) {
      out.push('{}')
      return
    }
    out.push('{')
    members.forEach(([k, item], i) => {
      out.push(i > 0 ? ',\n' : '\n', inner, scalar(k)!, ': ')
      walk(item, inner, depth + 1)
    })
    out.push('\n', indent, '}')
  }
  walk(value, '', 0)
  return out.join('')
}
