import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Chunker } from '@pxar/chunker'
import { decryptKeyConfig, parseKeyConfig } from '@pxar/datastore'
import { fail, type PbsCase } from '../types.ts'
import { generate } from './gen.ts'

interface ChunkExpectation {
  readonly avg: number
  readonly min: number
  readonly max: number
  readonly count: number
  readonly ends: readonly number[]
  readonly digests: readonly string[]
  readonly keyed_digests: boolean
  readonly sha256: string
  readonly size: number
  readonly input: { readonly file?: string; readonly gen?: string }
}

/** Value following `flag` in the oracle command line, if any. */
function commandOption(c: PbsCase, flag: string): string | undefined {
  const at = c.command.indexOf(flag)
  return at >= 0 ? c.command[at + 1] : undefined
}

/** The case's input as pieces of `feed` bytes (generated inputs stream piece by piece). */
function* caseInput(c: PbsCase, feed: number): Generator<Uint8Array> {
  const gen = c.raw.gen
  if (typeof gen === 'string') {
    yield* generate(gen, feed)
    return
  }
  const file = c.inputs[0]
  if (file === undefined) fail('case has neither a generator nor an input file')
  const bytes = new Uint8Array(readFileSync(join(c.root, file)))
  for (let at = 0; at < bytes.length; at += feed) yield bytes.subarray(at, at + feed)
}

type DigestFn = (chunk: readonly Uint8Array[]) => string

const plainDigest: DigestFn = (pieces) => {
  const h = createHash('sha256')
  for (const p of pieces) h.update(p)
  return h.digest('hex')
}

function check(c: PbsCase, digestOf: DigestFn, keyed: boolean): void {
  const exp = JSON.parse(readFileSync(join(c.root, c.expected), 'utf8')) as ChunkExpectation
  const avg = Number(commandOption(c, '--avg') ?? c.raw.avg)
  const feedText = commandOption(c, '--feed')
  const feed = feedText === undefined ? 1 << 20 : Number(feedText)
  const chunker = new Chunker({ avgSize: avg })
  if (chunker.minSize !== exp.min || chunker.maxSize !== exp.max) {
    fail(`min/max ${chunker.minSize}/${chunker.maxSize}, expected ${exp.min}/${exp.max}`)
  }
  if (exp.keyed_digests !== keyed) fail(`expectation has keyed_digests=${exp.keyed_digests}`)

  const inputHash = createHash('sha256')
  const ends: number[] = []
  const digests: string[] = []
  let open: Uint8Array[] = []
  let base = 0
  for (const piece of caseInput(c, feed)) {
    inputHash.update(piece)
    let start = 0
    for (const end of chunker.push(piece)) {
      open.push(piece.subarray(start, end))
      ends.push(base + end)
      digests.push(digestOf(open))
      open = []
      start = end
    }
    if (start < piece.length) open.push(piece.subarray(start))
    base += piece.length
  }
  if (chunker.finish() > 0) {
    ends.push(base)
    digests.push(digestOf(open))
  }

  if (base !== exp.size) fail(`input size ${base}, expected ${exp.size}`)
  const sha = inputHash.digest('hex')
  if (sha !== exp.sha256) fail(`input sha256 ${sha}, expected ${exp.sha256}`)
  if (ends.length !== exp.count) fail(`${ends.length} chunks, expected ${exp.count}`)
  for (let i = 0; i < ends.length; i++) {
    if (ends[i] !== exp.ends[i]) fail(`chunk ${i} ends at ${ends[i]}, expected ${exp.ends[i]}`)
    if (digests[i] !== exp.digests[i]) fail(`chunk ${i} digest ${digests[i]}, expected ${exp.digests[i]}`)
  }
}

export async function chunk(c: PbsCase): Promise<void> {
  check(c, plainDigest, false)
}

export async function chunkKeyed(c: PbsCase): Promise<void> {
  const keyFile = commandOption(c, '--keyfile') ?? c.inputs[0]
  if (keyFile === undefined) fail('chunk-keyed case names no key file')
  const password = commandOption(c, '--password') ?? (c.raw.password as string | undefined)
  const kc = parseKeyConfig(readFileSync(join(c.root, keyFile), 'utf8'))
  const { cryptConfig } = await decryptKeyConfig(kc, password === undefined ? {} : { password })
  // Keyed digest SHA-256(data || idKey), hashed piecewise like CryptConfig.computeDigest.
  const keyedDigest: DigestFn = (pieces) => {
    const h = createHash('sha256')
    for (const p of pieces) h.update(p)
    return h.update(cryptConfig.idKey).digest('hex')
  }
  check(c, keyedDigest, true)
}
