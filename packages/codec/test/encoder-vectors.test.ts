import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { vectorsDir } from '../../../scripts/vectors.ts'
import { checkEncoderErrorCase } from '../../../tools/conformance/src/pxar/encoder-errors.ts'
import { opsList, replayOps } from '../../../tools/conformance/src/pxar/ops.ts'

const root = vectorsDir('pxar')
const dirs = readdirSync(root, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(root, d.name, 'ops.json')))
  .map((d) => d.name)
  .sort()

const read = (dir: string, f: string) => new Uint8Array(readFileSync(join(root, dir, f)))

function expectSameBytes(got: Uint8Array, want: Uint8Array): void {
  let at = -1
  for (let i = 0; i < Math.min(got.length, want.length); i++)
    if (got[i] !== want[i]) {
      at = i
      break
    }
  expect({ length: got.length, firstDifference: at }).toEqual({ length: want.length, firstDifference: -1 })
}

describe('encoder reproduces the vector archives byte for byte', () => {
  for (const dir of dirs) {
    const ops = opsList(JSON.parse(readFileSync(join(root, dir, 'ops.json'), 'utf8')))
    if (existsSync(join(root, dir, 'archive.pxar'))) {
      it(`${dir} v1`, () => {
        const r = replayOps(ops, 'v1')
        expectSameBytes(r.archive, read(dir, 'archive.pxar'))
        expect(r.payload).toBeUndefined()
      })
      it(`${dir} v1, content streamed in 4093-byte pieces`, () => {
        expectSameBytes(replayOps(ops, 'v1', { pieceSize: 4093 }).archive, read(dir, 'archive.pxar'))
      })
    }
    if (existsSync(join(root, dir, 'archive.mpxar'))) {
      it(`${dir} v2`, () => {
        const r = replayOps(ops, 'v2')
        expectSameBytes(r.archive, read(dir, 'archive.mpxar'))
        expectSameBytes(r.payload!, read(dir, 'archive.ppxar'))
      })
    }
  }
  it('found the vector cases', () => {
    expect(dirs.length).toBeGreaterThanOrEqual(10)
  })
})

describe('encoder rejects what pxar rejects', () => {
  const cases: { name: string; format?: string; ops: Record<string, unknown>[]; pxar_error?: string }[] =
    JSON.parse(readFileSync(join(root, 'encoder-errors', 'cases.json'), 'utf8'))
  for (const c of cases) {
    it(c.name, () => {
      const r = checkEncoderErrorCase(c)
      expect(r).toMatchObject({ ok: true })
    })
  }
})
