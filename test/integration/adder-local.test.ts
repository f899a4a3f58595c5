import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startKubo, type KuboDaemon } from '../fixtures/kubo.js'
import { multipart } from '../fixtures/http.js'
import { openLocalDestination } from '../../src/adder/index.js'

let kubo: KuboDaemon
before(async () => { kubo = await startKubo() })
after(async () => { await kubo?.destroy() })

async function drain (body: AsyncIterable<Uint8Array>): Promise<string> {
  let s = ''
  for await (const c of body) s += Buffer.from(c).toString()
  return s
}

test('a local destination whose Kubo answered before the upload ended still ends at once (no wait for a finish that never comes)', async () => {
  // Kubo answers as soon as it has read the closing boundary, and may close the connection before the
  // chunked terminator arrives; that race made end() wait for ever.
  for (let i = 0; i < 20; i++) {
    const { body, contentType } = multipart([{ filename: `f${i}.txt`, content: `early answer ${i} ${Date.now()}\n` }])
    const dest = await openLocalDestination('self', kubo.apiUrl, 'add', 'cid-version=1', contentType, AbortSignal.timeout(30_000))
    await dest.write(body)
    const answer = await drain(dest.body())
    assert.match(answer, /"Hash":"bafk/)
    const ended = await Promise.race([dest.end().then(() => true), new Promise<boolean>(resolve => setTimeout(() => { resolve(false) }, 5000).unref())])
    assert.equal(ended, true, `end() returned after the answer (round ${i})`)
    await dest.write(Buffer.from('late bytes are ignored once Kubo answered'))
  }
})
