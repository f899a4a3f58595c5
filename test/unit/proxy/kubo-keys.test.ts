import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { sendKuboKeys } from '../../../src/proxy/kubo-response.js'
import { goJson } from '../../../src/proxy/kubo-errors.js'
import { makeCids } from '../../fixtures/cids.js'

// pin/ls without stream=true: the `{"Keys":{…}}` value written a piece at a time is byte for byte
// what one goJson of the whole map gives.

async function served (entries: Array<[string, unknown]>): Promise<{ body: string, writes: number }> {
  let writes = 0
  const server = createServer((_req, res) => {
    const write = res.write.bind(res)
    res.write = ((...args: Parameters<typeof res.write>) => { writes++; return write(...args) }) as typeof res.write
    void sendKuboKeys(res, entries)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
    assert.equal(res.headers.get('content-type'), 'application/json')
    return { body: await res.text(), writes }
  } finally {
    server.close()
  }
}

test('the piecewise Keys answer equals goJson of the whole map, for an empty map, a small one with characters Go escapes, and one of many pieces', async () => {
  assert.equal((await served([])).body, goJson({}))
  const small: Array<[string, unknown]> = [['bafy1', { Type: 'recursive', Name: 'a <b> & c \u2028' }], ['bafy2', { Type: 'indirect', Name: '' }]]
  assert.equal((await served(small)).body, goJson({ Keys: Object.fromEntries(small) }))
  const cids = (await makeCids(5000, 'kubo-keys')).sort()
  const many: Array<[string, unknown]> = cids.map((c, i) => [c, { Type: i % 3 === 0 ? 'direct' : 'recursive', Name: `pin ${i}` }])
  const big = await served(many)
  assert.equal(big.body, goJson({ Keys: Object.fromEntries(many) }))
  assert.ok(big.writes >= 4, `${big.writes} writes: written in pieces`)
})
