import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { KuboProxy, goJson, type InterceptContext } from '../../src/proxy/index.js'
import { InvalidParametersError, KuboApiError } from '../../src/errors.js'
import { startKubo, type KuboDaemon } from '../fixtures/kubo.js'
import { httpRequest } from '../fixtures/http.js'

// The intercept table: listed commands go to their handler, everything else still reaches the real Kubo.

let kubo: KuboDaemon
let proxy: KuboProxy
let url: string
const seen: Array<Pick<InterceptContext, 'command' | 'args'>> = []

before(async () => {
  kubo = await startKubo()
  const intercepts = new Map([
    ['pin/ls', async (ctx: InterceptContext) => {
      seen.push({ command: ctx.command, args: ctx.args })
      ctx.res.writeHead(200, { 'Content-Type': 'application/json' })
      ctx.res.end(goJson({ Keys: {} }))
    }],
    ['pin/rm', async (ctx: InterceptContext) => {
      if (ctx.args.length === 0) throw new InvalidParametersError('argument "ipfs-path" is required')
      throw new KuboApiError('pin/rm', 500, 'not pinned or pinned indirectly')
    }]
  ])
  proxy = new KuboProxy({ kuboUrl: kubo.apiUrl, kuboConnectTimeoutMs: 1000, intercepts, logger: pino({ level: 'silent' }) },
    { listen: '/ip4/127.0.0.1/tcp/0', headersTimeoutMs: 30_000, keepAliveTimeoutMs: 5000, maxHeaderSize: 16384, accessLog: false })
  await proxy.start()
  url = `http://127.0.0.1:${proxy.address.port}`
})
after(async () => {
  await proxy?.stop()
  await kubo?.destroy()
})

test('an intercepted command reaches its handler with query and path arguments', async () => {
  seen.length = 0
  const r = await httpRequest(`${url}/api/v0/pin/ls/QmPathArg?arg=QmQueryArg&arg=QmSecond`)
  assert.equal(r.status, 200)
  assert.equal(r.body.toString(), '{"Keys":{}}\n')
  assert.deepEqual(seen, [{ command: 'pin/ls', args: ['QmPathArg', 'QmQueryArg', 'QmSecond'] }])
})

test('non-POST requests to an intercepted command go to Kubo (405, preflight)', async () => {
  seen.length = 0
  const get = await httpRequest(`${url}/api/v0/pin/ls`, { method: 'GET' })
  assert.equal(get.status, 405)
  assert.equal(get.body.toString(), '405 - Method Not Allowed\n')
  const options = await httpRequest(`${url}/api/v0/pin/ls`, { method: 'OPTIONS' })
  assert.equal(options.status, 204)
  assert.equal(seen.length, 0)
})

test('commands not in the table are answered by Kubo', async () => {
  const r = await httpRequest(`${url}/api/v0/id`)
  assert.equal(r.status, 200)
  assert.equal((JSON.parse(r.body.toString()) as { ID: string }).ID, kubo.peerId)
})

test("a handler's named errors become Kubo's error shapes", async () => {
  const missing = await httpRequest(`${url}/api/v0/pin/rm`)
  assert.equal(missing.status, 400)
  assert.equal(missing.headers['content-type'], 'text/plain; charset=utf-8')
  assert.equal(missing.body.toString(), 'argument "ipfs-path" is required\n')
  const notPinned = await httpRequest(`${url}/api/v0/pin/rm?arg=QmX`)
  assert.equal(notPinned.status, 500)
  assert.equal(notPinned.headers['content-type'], 'application/json')
  assert.equal(notPinned.headers.trailer, 'X-Stream-Error')
  assert.equal(notPinned.body.toString(), '{"Message":"not pinned or pinned indirectly","Code":0,"Type":"error"}\n')
})
