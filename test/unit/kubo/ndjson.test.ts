import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ndjson } from '../../../src/kubo/ndjson.js'

async function parse (chunks: Array<string | Uint8Array>): Promise<unknown[]> {
  const out: unknown[] = []
  const source = (async function * () { for (const c of chunks) yield typeof c === 'string' ? new TextEncoder().encode(c) : c })()
  for await (const v of ndjson(source)) out.push(v)
  return out
}

test('values split across chunks are joined, blank lines skipped, a last line without newline kept', async () => {
  assert.deepEqual(await parse(['{"Progr', 'ess":1}\n\n{"Pins":["a"', ']}\r\n', '{"x":2}']), [{ Progress: 1 }, { Pins: ['a'] }, { x: 2 }])
})

test('a multi-byte character split between chunks survives', async () => {
  const bytes = new TextEncoder().encode('{"Name":"é"}\n')
  const cut = bytes.indexOf(0xc3) + 1
  assert.deepEqual(await parse([bytes.slice(0, cut), bytes.slice(cut)]), [{ Name: 'é' }])
})

test('values are yielded before the body ends', async () => {
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  const source = (async function * () {
    yield new TextEncoder().encode('{"a":1}\n')
    await gate
    yield new TextEncoder().encode('{"a":2}\n')
  })()
  const it = ndjson(source)[Symbol.asyncIterator]()
  assert.deepEqual((await it.next()).value, { a: 1 })
  release()
  assert.deepEqual((await it.next()).value, { a: 2 })
  assert.equal((await it.next()).done, true)
})

test('a broken line is a SyntaxError', async () => {
  await assert.rejects(parse(['{"a":1}\n{oops}\n']), SyntaxError)
})
