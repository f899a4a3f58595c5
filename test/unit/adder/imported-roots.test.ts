import { test } from 'node:test'
import assert from 'node:assert/strict'
import { reportImportedRoots } from '../../../src/adder/index.js'
import type { AddDestination } from '../../../src/adder/index.js'

function answering (chunks: string[]): AddDestination {
  return {
    peer: 'p',
    write: async () => {},
    end: async () => {},
    abort: () => {},
    head: Promise.resolve({ status: 200, headers: {}, rawHeaders: [] }),
    async * body () { for (const c of chunks) yield Buffer.from(c) },
    trailers: () => ({})
  }
}

test('the roots Kubo pinned are reported once the answer ends, lines split across chunks included; the answer passes unchanged', async () => {
  const answer = [
    '{"Root":{"Cid":{"/":"bafyroot1"},"PinErrorMsg":""}}\n{"Root":{"Cid":{"/":"bafy',
    'root2"},"PinErrorMsg":""}}\n{"Root":{"Cid":{"/":"bafyfailed"},"PinErrorMsg":"pin failed"}}\n',
    '{"Stats":{"BlockCount":3}}\n'
  ]
  const seen: string[][] = []
  const dest = reportImportedRoots(answering(answer), (roots) => { seen.push(roots) })
  let out = ''
  for await (const c of dest.body()) out += Buffer.from(c).toString()
  assert.equal(out, answer.join(''))
  assert.deepEqual(seen, [['bafyroot1', 'bafyroot2']])
})
