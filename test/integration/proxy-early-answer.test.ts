import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { Client } from 'undici'
import { ResetTolerantSocket } from '../../src/utils/reset-tolerant-socket.js'
import { httpRequest } from '../fixtures/http.js'
import { kuboBehindPinmeshPerFile } from '../fixtures/proxy-pair.js'

const pair = kuboBehindPinmeshPerFile()

const BOUNDARY = 'pinmeshearlyanswer'
// files/write into a directory that does not exist: Kubo answers at once, before reading the upload.
const EARLY = '/api/v0/files/write?arg=/no-such-dir/f&create=true'

function upload (size: number): Buffer {
  return Buffer.concat([
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    Buffer.alloc(size, 0x61),
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`)
  ])
}

interface Exchange {
  /** Status line and header lines of the answer, without Date and the keep-alive bookkeeping. */
  head: string[]
  body: string
  /** The server closed the connection after answering. */
  closed: boolean
  /** If it did not close: whether a second request on the same connection got an answer. */
  servedNext: boolean
}

/**
 * One keep-alive connection: the multi-MB upload, sent as fast as the socket takes it, then (if the
 * server keeps the connection) a second request on it. The socket keeps reading when the server
 * resets it under a write, as a careful client does, so the answer is seen either way.
 */
async function earlyAnswer (baseUrl: string, size: number): Promise<Exchange> {
  const { port } = new URL(baseUrl)
  const sock = new ResetTolerantSocket()
  sock.connect(Number(port), '127.0.0.1')
  await once(sock, 'connect')
  const received: Buffer[] = []
  let closed = false
  sock.on('data', (d: Buffer) => { received.push(d) })
  sock.on('error', () => {})
  const gone = new Promise<void>((resolve) => sock.once('close', () => { closed = true; resolve() }))
  const body = upload(size)
  sock.write(`POST ${EARLY} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: ${body.length}\r\n\r\n`)
  sock.write(body)
  await Promise.race([gone, new Promise(resolve => setTimeout(resolve, 5000))])
  const first = Buffer.concat(received).toString('latin1')
  let servedNext = false
  if (!closed) {
    received.length = 0
    sock.write('POST /api/v0/version HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n')
    await Promise.race([gone, new Promise(resolve => setTimeout(resolve, 5000))])
    servedNext = Buffer.concat(received).toString('latin1').startsWith('HTTP/1.1 200 ')
    sock.destroy()
  }
  const split = first.indexOf('\r\n\r\n')
  const head = (split < 0 ? first : first.slice(0, split)).split('\r\n')
    .filter(l => !/^(date|keep-alive):/i.test(l) && !/^connection: keep-alive$/i.test(l))
  return { head, body: split < 0 ? '' : first.slice(split + 4), closed, servedNext }
}

test('an upload Kubo answers early gets Kubo\'s own answer through the proxy, and the connection is closed as Kubo closes it', async () => {
  // Kubo's answer, from a small upload it reads whole.
  const small = await httpRequest(pair.kubo.apiUrl + EARLY, { body: upload(10), headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` } })
  assert.equal(small.status, 500)
  assert.match(small.body.toString(), /"Message":"file does not exist"/)

  for (const size of [4 << 20, 32 << 20]) {
    const direct = await earlyAnswer(pair.kubo.apiUrl, size)
    const proxied = await earlyAnswer(pair.pinmesh.proxyUrl, size)
    assert.equal(direct.head[0], 'HTTP/1.1 500 Internal Server Error', `Kubo answers ${size} bytes early: ${direct.head[0]}`)
    assert.ok(direct.head.includes('Connection: close'), 'Kubo says it closes')
    assert.ok(direct.closed, 'Kubo closes the connection')
    assert.deepEqual(proxied.head, direct.head, `${size} bytes: pinmesh relays Kubo's status and headers (no 502)`)
    assert.equal(proxied.body, direct.body, 'and Kubo\'s body')
    assert.ok(proxied.closed || proxied.servedNext, `${size} bytes: the keep-alive connection is closed or still serves (closed: ${proxied.closed}, served the next request: ${proxied.servedNext})`)
  }
})

test('a keep-alive client whose upload Kubo answered early is never stuck: its next request is answered', async () => {
  for (const base of [pair.kubo.apiUrl, pair.pinmesh.proxyUrl]) {
    const client = new Client(base)
    try {
      for (let i = 0; i < 3; i++) {
        let status: number | string
        try {
          const r = await client.request({ method: 'POST', path: EARLY, headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, body: upload(8 << 20), signal: AbortSignal.timeout(10_000) })
          status = r.statusCode
          await r.body.text()
        } catch (err) {
          // Kubo's reset can beat its answer to a client that is still writing; never a 502.
          status = (err as Error & { code?: string }).code ?? (err as Error).message
        }
        assert.notEqual(status, 502, `${base}: no 502 "cannot reach kubo"`)
        const next = await client.request({ method: 'POST', path: '/api/v0/version', signal: AbortSignal.timeout(5000) })
        assert.equal(next.statusCode, 200, `${base}: the next request on the same client is answered (upload ${i}: ${status})`)
        await next.body.text()
      }
    } finally {
      await client.close()
    }
  }
})
