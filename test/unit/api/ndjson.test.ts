import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { readNdjson } from '../../../src/api/http.js'

interface Outcome { lines: unknown[], error?: string }

/** Sends `raw` to a server that reads the body with readNdjson; resolves with what it yielded and how it ended. */
async function readRaw (raw: string): Promise<Outcome> {
  const outcome = Promise.withResolvers<Outcome>()
  const server: Server = createServer((req, res) => {
    void (async () => {
      const lines: unknown[] = []
      try {
        for await (const v of readNdjson(req, { maxLineBytes: 1024, maxLines: 100 })) lines.push(v)
        outcome.resolve({ lines })
      } catch (err) {
        outcome.resolve({ lines, error: (err as Error).message })
      }
      res.end()
    })()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  try {
    const s = connect((server.address() as AddressInfo).port, '127.0.0.1', () => { s.end(raw) })
    s.on('error', () => {})
    s.resume()
    return await outcome.promise
  } finally { server.close() }
}

const body = '{"cid":"a"}\n{"cid":"b"}\n'

test('readNdjson yields every line of a whole body', async () => {
  assert.deepEqual(await readRaw(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`), { lines: [{ cid: 'a' }, { cid: 'b' }] })
})

// The bulk routes apply their last batch only once the reader is done, so a reader that fails on a
// cut body keeps that body's lines out of the pinset.
test('a body shorter than its Content-Length fails the reader', async () => {
  const o = await readRaw(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length + 40}\r\n\r\n${body}`)
  assert.equal(o.error, 'aborted')
})

test('a chunked body without its last chunk fails the reader', async () => {
  const o = await readRaw(`POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n`)
  assert.equal(o.error, 'aborted')
})
