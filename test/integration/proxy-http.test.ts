import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { randomBytes } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { startKubo } from '../fixtures/kubo.js'
import { startPinmesh } from '../fixtures/pinmesh.js'
import { startTcpRelay } from '../fixtures/tcp-relay.js'
import { startBlackhole } from '../fixtures/blackhole.js'
import { httpRequest, comparableHeaders, multipart } from '../fixtures/http.js'
import { waitFor } from '../fixtures/wait-for.js'
import { kuboBehindPinmeshPerFile } from '../fixtures/proxy-pair.js'

const pair = kuboBehindPinmeshPerFile(['--proxy-headers-timeout', '1s', '--proxy-keep-alive-timeout', '1s'])



async function both (path: string, options: Parameters<typeof httpRequest>[1] = {}): Promise<[Awaited<ReturnType<typeof httpRequest>>, Awaited<ReturnType<typeof httpRequest>>]> {
  return [await httpRequest(pair.kubo.apiUrl + path, options), await httpRequest(pair.pinmesh.proxyUrl + path, options)]
}

test('GET /api/v0/version is answered 405 exactly as Kubo answers it', async () => {
  const [direct, proxied] = await both('/api/v0/version', { method: 'GET' })
  assert.equal(direct.status, 405)
  assert.equal(proxied.status, direct.status)
  assert.equal(proxied.body.toString(), direct.body.toString())
  assert.deepEqual(comparableHeaders(proxied.headers), comparableHeaders(direct.headers))
})

test("an unknown command gets Kubo's own 404", async () => {
  const [direct, proxied] = await both('/api/v0/no/such/command')
  assert.equal(direct.status, 404)
  assert.equal(proxied.status, 404)
  assert.equal(proxied.body.toString(), direct.body.toString())
  assert.deepEqual(comparableHeaders(proxied.headers), comparableHeaders(direct.headers))
  const [outside, outsideProxied] = await both('/not-the-api')
  assert.equal(outsideProxied.status, outside.status)
  assert.equal(outsideProxied.body.toString(), outside.body.toString())
})

test('command responses keep their status, headers and body', async () => {
  const [direct, proxied] = await both('/api/v0/id')
  assert.equal(proxied.status, 200)
  assert.deepEqual(comparableHeaders(proxied.headers), comparableHeaders(direct.headers))
  assert.equal(proxied.body.toString(), direct.body.toString())
  const { body, contentType } = multipart([{ filename: 'x.txt', content: 'x\n' }])
  const [addDirect, addProxied] = await both('/api/v0/add?pin=false', { body, headers: { 'content-type': contentType } })
  assert.equal(addProxied.headers['x-chunked-output'], '1')
  assert.equal(addProxied.headers.trailer, 'X-Stream-Error')
  assert.deepEqual(comparableHeaders(addProxied.headers), comparableHeaders(addDirect.headers))
  assert.equal(addProxied.body.toString(), addDirect.body.toString())
})

test('the X-Stream-Error trailer of a failed stream reaches the client', async () => {
  // A first complete file, then a part that never ends: Kubo emits the first result, then fails mid-stream.
  const good = multipart([{ filename: 'ok.txt', content: 'fine\n' }]).body.subarray(0, -('--pinmeshtestboundary--\r\n'.length))
  const body = Buffer.concat([good, Buffer.from('--pinmeshtestboundary\r\nContent-Disposition: form-data; name="file"; filename="broken"\r\nContent-Type: application/octet-stream\r\n\r\ntruncated')])
  const headers = { 'content-type': 'multipart/form-data; boundary=pinmeshtestboundary' }
  const [direct, proxied] = await both('/api/v0/add?pin=false', { body, headers })
  assert.equal(direct.status, 200)
  assert.ok(direct.trailers['x-stream-error'] !== undefined && direct.trailers['x-stream-error'] !== '', 'Kubo sends a stream error trailer')
  assert.equal(proxied.status, 200)
  assert.equal(proxied.body.toString(), direct.body.toString())
  assert.equal(proxied.trailers['x-stream-error'], direct.trailers['x-stream-error'])
})

test('a streaming response arrives while a 50 MB upload is still being sent', async () => {
  const chunk = randomBytes(1 << 20)
  const total = 50
  let sent = 0
  const firstBytesAfterMiB = await new Promise<number>((resolve, reject) => {
    const req = request(`${pair.pinmesh.proxyUrl}/api/v0/add?progress=true&pin=false`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=b' }
    }, (res) => {
      res.once('data', () => { resolve(sent) })
      res.resume()
      res.on('error', reject)
    })
    req.on('error', reject)
    req.write('--b\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n')
    const pump = (): void => {
      while (sent < total) {
        sent++
        if (!req.write(chunk)) { req.once('drain', pump); return }
      }
      req.end('\r\n--b--\r\n')
    }
    pump()
  })
  assert.ok(firstBytesAfterMiB < total, `first response bytes arrived after ${firstBytesAfterMiB} of ${total} MiB were written`)
})

test('slow uploads and slow answers are not cut off by the proxy', async () => {
  // The proxy runs with 1 s header and keep-alive timeouts; this upload dribbles for 3 s.
  const res = await new Promise<{ status: number, body: string }>((resolve, reject) => {
    const req = request(`${pair.pinmesh.proxyUrl}/api/v0/add?pin=false`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=b' } }, (r) => {
      let body = ''
      r.on('data', (d: Buffer) => { body += d.toString() })
      r.on('end', () => { resolve({ status: r.statusCode ?? 0, body }) })
    })
    req.on('error', reject)
    req.write('--b\r\nContent-Disposition: form-data; name="file"; filename="slow.txt"\r\n\r\n')
    let n = 0
    const timer = setInterval(() => {
      req.write(`line ${n}\n`)
      if (++n === 6) { clearInterval(timer); req.end('\r\n--b--\r\n') }
    }, 500)
  })
  assert.equal(res.status, 200)
  assert.match(res.body, /"Name":"slow.txt","Hash":"Qm/)
})

test('a pin add that takes longer than every proxy timeout still succeeds', async () => {
  // Nobody has the block yet: Kubo's pin waits until it appears, 5 s later, well past the proxy's
  // 1 s header and keep-alive timeouts.
  const content = `late block ${randomBytes(8).toString('hex')}`
  const cid = CID.createV1(raw.code, await sha256.digest(Buffer.from(content))).toString()
  const started = Date.now()
  const pinning = httpRequest(`${pair.pinmesh.proxyUrl}/api/v0/pin/add?arg=${cid}`)
  await new Promise(resolve => setTimeout(resolve, 5000))
  const { body, contentType } = multipart([{ filename: '', content }])
  const put = await httpRequest(`${pair.kubo.apiUrl}/api/v0/block/put?cid-codec=raw`, { body, headers: { 'content-type': contentType } })
  assert.equal((JSON.parse(put.body.toString()) as { Key: string }).Key, cid)
  const pin = await pinning
  assert.ok(Date.now() - started >= 5000, 'the pin waited for the block')
  assert.equal(pin.status, 200, pin.body.toString())
  assert.deepEqual(JSON.parse(pin.body.toString()), { Pins: [cid] })
})

test("pin add honours Kubo's timeout= option, answering as Kubo does", async () => {
  const nobodyHas = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'
  for (const query of ['timeout=2s', 'timeout=2s&progress=true']) {
    const timed = async (url: string): Promise<[Awaited<ReturnType<typeof httpRequest>>, number]> => {
      const t0 = Date.now()
      const r = await httpRequest(url)
      return [r, Date.now() - t0]
    }
    const [[direct, directMs], [proxied, proxiedMs]] = await Promise.all([
      timed(`${pair.kubo.apiUrl}/api/v0/pin/add?arg=${nobodyHas}&${query}`),
      timed(`${pair.pinmesh.proxyUrl}/api/v0/pin/add?arg=${nobodyHas}&${query}`)
    ])
    assert.ok(directMs >= 2000 && directMs < 4000, `Kubo answered in ${directMs} ms`)
    assert.ok(proxiedMs >= 2000 && proxiedMs < 4000, `${query}: pinmesh answered in ${proxiedMs} ms`)
    assert.equal(proxied.status, direct.status, query)
    if (query.includes('progress')) {
      assert.equal(direct.status, 200)
      // Kubo's own trailer has the "pin: " prefix or not, depending on where the deadline caught it.
      assert.match(direct.trailers['x-stream-error'] ?? '', /^(pin: )?context deadline exceeded$/)
      assert.match(proxied.trailers['x-stream-error'] ?? '', /^(pin: )?context deadline exceeded$/)
    } else {
      assert.equal(direct.status, 500)
      assert.equal(proxied.body.toString(), direct.body.toString())
      assert.deepEqual(JSON.parse(direct.body.toString()), { Message: 'pin: context deadline exceeded', Code: 0, Type: 'error' })
    }
  }
  // Kubo answers an unparsable duration with an empty 200 (its handler returns without writing);
  // pinmesh says what is wrong instead.
  const bad = await httpRequest(`${pair.pinmesh.proxyUrl}/api/v0/pin/add?arg=${nobodyHas}&timeout=soon`)
  assert.equal(bad.status, 400)
  assert.equal(bad.body.toString(), 'time: invalid duration "soon"\n')
})

test('a client that disconnects leaves no open upstream request', async (t) => {
  const relay = await startTcpRelay({ host: '127.0.0.1', port: Number(new URL(pair.kubo.apiUrl).port) })
  const viaRelay = await startPinmesh({ kuboApi: relay.url })
  t.after(async () => { await viaRelay.destroy(); await relay.close() })

  // 1. a long block get that has not answered anything yet (content nobody has)
  const ctl = new AbortController()
  const pending = httpRequest(`${viaRelay.proxyUrl}/api/v0/block/get?arg=bafkreiabyfa4bqnn6fmdiyhwmsp5ftzr3hhmhwbfxu4kilqc5ouk5n3mxe`, { signal: ctl.signal })
  pending.catch(() => {})
  await waitFor(() => relay.open() === 1, { message: 'upstream request opened' })
  ctl.abort()
  await waitFor(() => relay.open() === 0, { timeoutMs: 10_000, message: 'upstream closed after the client left' })

  // 2. a response the client stops reading in the middle
  const { body, contentType } = multipart([{ filename: 'big.bin', content: randomBytes(8 << 20) }])
  const added = await httpRequest(`${pair.kubo.apiUrl}/api/v0/add?pin=false&raw-leaves=true&cid-version=1`, { body, headers: { 'content-type': contentType } })
  const cid = (JSON.parse(added.body.toString().trim().split('\n').at(-1) as string) as { Hash: string }).Hash
  const before = relay.accepted()
  await new Promise<void>((resolve, reject) => {
    const req = request(`${viaRelay.proxyUrl}/api/v0/cat?arg=${cid}`, { method: 'POST' }, (res) => {
      res.once('data', () => { req.destroy(); resolve() })
    })
    req.on('error', (err) => { if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err) })
    req.end()
  })
  assert.ok(relay.accepted() > before)
  await waitFor(() => relay.open() === 0, { timeoutMs: 10_000, message: 'upstream closed after the client stopped reading' })
})

test('Kubo down: a Kubo-shaped error in under 1 s, then recovery without restarting pinmesh', async (t) => {
  const own = await startKubo()
  const p = await startPinmesh({ kuboApi: own.apiMultiaddr })
  t.after(async () => { await p.destroy(); await own.destroy() })
  assert.equal((await httpRequest(`${p.proxyUrl}/api/v0/id`)).status, 200)

  await own.stop()
  const started = Date.now()
  const down = await httpRequest(`${p.proxyUrl}/api/v0/id`)
  const elapsed = Date.now() - started
  assert.ok(elapsed < 1000, `answered in ${elapsed} ms`)
  assert.ok(down.status >= 500 && down.status < 600)
  assert.equal(down.headers['content-type'], 'application/json')
  const err = JSON.parse(down.body.toString()) as Record<string, unknown>
  assert.deepEqual(Object.keys(err), ['Message', 'Code', 'Type'])
  assert.equal(err.Type, 'error')
  assert.equal(err.Code, 0)
  assert.match(err.Message as string, /cannot reach kubo/)
  const cli = await own.cli(['id'], { api: p.proxyMultiaddr })
  assert.equal(cli.code, 1)
  assert.match(cli.stderr, /^Error: cannot reach kubo at http:\/\/127\.0\.0\.1:\d+/)
  assert.equal(p.process.exitCode, null, 'pinmesh is still running')

  await own.restart()
  const up = await httpRequest(`${p.proxyUrl}/api/v0/id`)
  assert.equal(up.status, 200)
  assert.equal((JSON.parse(up.body.toString()) as { ID: string }).ID, own.peerId)
  assert.equal((await own.cli(['id', '-f', '<id>'], { api: p.proxyMultiaddr })).stdout, own.peerId)
})

test('Kubo unreachable (its address drops connections): a Kubo-shaped error in under 1 s, forwarded and intercepted alike', async (t) => {
  const hole = await startBlackhole()
  const p = await startPinmesh({ kuboApi: hole.multiaddr })
  t.after(async () => { await p.destroy(); await hole.close() })
  for (const path of ['/api/v0/id', '/api/v0/repo/stat']) {
    const started = Date.now()
    const res = await httpRequest(p.proxyUrl + path)
    const elapsed = Date.now() - started
    assert.ok(elapsed < 1000, `${path} answered in ${elapsed} ms`)
    assert.ok(res.status >= 500 && res.status < 600, `${path}: ${res.status}`)
    const err = JSON.parse(res.body.toString()) as Record<string, unknown>
    assert.deepEqual(Object.keys(err), ['Message', 'Code', 'Type'])
    assert.equal(err.Type, 'error')
    assert.match(err.Message as string, /kubo/i)
  }
  assert.equal(p.process.exitCode, null, 'pinmesh is still running')
})
