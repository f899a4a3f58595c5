import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { AdminClient, basicAuthorization, bearerAuthorization } from '../../src/api/client.js'
import { startKubos, type KuboDaemon } from '../fixtures/kubo.js'
import { startPinmesh, newSecret } from '../fixtures/pinmesh.js'
import { FAST_CLUSTER_ARGS, waitForMesh, type TestPeer } from '../fixtures/cluster.js'
import { waitFor } from '../fixtures/wait-for.js'
import { makeCids } from '../fixtures/cids.js'
import { httpRequest } from '../fixtures/http.js'
import { parsePrometheus, promValue } from '../fixtures/prometheus.js'

// The admin API of real daemons (built from dist/, configured by flags) in front of real Kubos.

const TOKEN = 'admin-api-token'
const BASIC = basicAuthorization('admin', 'pw')
const BAD_CID = 'QmNotACid'

let kubos: KuboDaemon[] = []
let peers: TestPeer[] = []
let a: TestPeer
let base: string
let stored: string
let unknown: string

before(async () => {
  kubos = await startKubos(2)
  const secret = newSecret()
  const args = [...FAST_CLUSTER_ARGS, '--api-basic-auth', 'admin:pw', '--api-bearer-tokens', TOKEN, '--api-metrics-status-interval', '0s']
  const first = await startPinmesh({ kuboApi: kubos[0]?.apiMultiaddr, secret, args })
  const second = await startPinmesh({ kuboApi: kubos[1]?.apiMultiaddr, secret, bootstrap: first.swarmAddrs, args })
  peers = [first, second].map(proc => ({ proc, admin: new AdminClient({ url: proc.apiUrl, authorization: bearerAuthorization(TOKEN) }) }))
  a = peers[0] as TestPeer
  base = a.proc.apiUrl
  await waitForMesh(peers)
  stored = (await kubos[0]?.cli(['block', 'put'], { input: `admin api ${Date.now()}` }))?.stdout.trim() as string
  unknown = (await makeCids(1, `admin-api-unknown-${Date.now()}`))[0] as string
})

after(async () => {
  await Promise.all(peers.map(async p => { await p.proc.destroy() }))
  await Promise.all(kubos.map(async k => { await k.destroy() }))
})

async function call (method: string, path: string, authorization?: string, body?: string): Promise<{ status: number, headers: Record<string, unknown>, text: string }> {
  // node:http sends a DELETE body without Content-Length unless told, so it is always given here.
  const headers: Record<string, string> = body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}
  if (authorization !== undefined) headers.authorization = authorization
  const r = await httpRequest(`${base}${path}`, { method, headers, body })
  return { status: r.status, headers: r.headers, text: r.body.toString() }
}

function assertError (r: { status: number, text: string }, status: number, code: string): void {
  assert.equal(r.status, status, r.text)
  const body = JSON.parse(r.text) as Record<string, unknown>
  assert.deepEqual(Object.keys(body).sort(), ['code', 'message'])
  assert.equal(body.code, code)
  assert.ok(typeof body.message === 'string' && body.message !== '')
}

describe('every endpoint: 401 without credentials, success with Basic or Bearer', () => {
  const endpoints: Array<[string, () => string, (() => string)?]> = [
    ['GET', () => '/id'], ['GET', () => '/version'], ['GET', () => '/peers'],
    ['POST', () => `/pins/${stored}?name=admin-api`],
    ['GET', () => '/allocations'], ['GET', () => `/allocations/${stored}`],
    ['GET', () => '/pins'], ['GET', () => `/pins/${stored}`], ['GET', () => '/pins?filter=pinned,error'],
    ['POST', () => `/pins/${stored}/recover`], ['POST', () => '/pins/recover'],
    ['GET', () => '/pinset/stats'], ['GET', () => '/metrics'], ['GET', () => '/ui/'], ['GET', () => '/ui/style.css'],
    ['POST', () => '/pins', () => `"${unknown}"\n`], ['DELETE', () => '/pins', () => `"${unknown}"\n`]
  ]
  for (const [method, path, body] of endpoints) {
    test(`${method} ${path.toString().replace(/^\(\) => /, '')}`, async () => {
      const denied = await call(method, path(), undefined, body?.())
      assertError(denied, 401, 'ERR_UNAUTHORIZED')
      assert.equal(denied.headers['www-authenticate'], 'Basic realm="pinmesh", Bearer realm="pinmesh"')
      assertError(await call(method, path(), 'Bearer wrong', body?.()), 401, 'ERR_UNAUTHORIZED')
      for (const auth of [BASIC, bearerAuthorization(TOKEN)]) {
        const ok = await call(method, path(), auth, body?.())
        assert.ok(ok.status === 200, `${auth.split(' ')[0]}: ${ok.status} ${ok.text}`)
      }
    })
  }

  test('GET /health is open, DELETE /pins/{cid} removes a pin', async () => {
    assert.equal((await call('GET', '/health')).status, 204)
    await a.admin.pin(unknown)
    assertError(await call('DELETE', `/pins/${unknown}`), 401, 'ERR_UNAUTHORIZED')
    assert.equal((await call('DELETE', `/pins/${unknown}`, BASIC)).status, 200)
  })
})

test('an unknown CID is 404 ERR_PIN_NOT_FOUND, a malformed one 400 ERR_INVALID_CID', async () => {
  const [never] = await makeCids(1, `never-${Date.now()}`)
  for (const [method, path] of [['GET', '/pins/{}'], ['GET', '/allocations/{}'], ['DELETE', '/pins/{}'], ['POST', '/pins/{}/recover']] as const) {
    assertError(await call(method, path.replace('{}', never as string), BASIC), 404, 'ERR_PIN_NOT_FOUND')
    assertError(await call(method, path.replace('{}', BAD_CID), BASIC), 400, 'ERR_INVALID_CID')
  }
  assertError(await call('POST', `/pins/${BAD_CID}`, BASIC), 400, 'ERR_INVALID_CID')
  assertError(await call('POST', `/pins/${stored}?replication-min=2&replication-max=1`, BASIC), 400, 'ERR_INVALID_PARAMETERS')
  assertError(await call('POST', `/pins/${stored}?replication=5`, BASIC), 503, 'ERR_INSUFFICIENT_PEERS')
  assertError(await call('GET', '/nothing', BASIC), 404, 'ERR_NOT_FOUND')
})

test('/metrics parses as Prometheus text and its pin counts match /pins', async () => {
  const [missing] = await makeCids(1, `metrics-missing-${Date.now()}`)
  await a.admin.pin(stored, { name: 'metrics' })
  const local = (await kubos[1]?.cli(['block', 'put'], { input: `metrics only b ${Date.now()}` }))?.stdout.trim() as string
  await peers[1]?.admin.pin(local, { replication: '1', 'user-allocations': peers[1]?.proc.peerId as string })
  await a.admin.pin(missing as string, { replication: '1', 'user-allocations': a.proc.peerId }) // nobody has it: never pinned
  await waitFor(async () => (await a.admin.status(stored)).peerMap[a.proc.peerId]?.status === 'pinned', { timeoutMs: 30_000 })

  // Statuses move (the missing pin cycles through pinning and pin_error), so compare a /pins
  // answer with a /metrics answer taken right after it until both agree.
  const self = a.proc.peerId
  let last = ''
  await waitFor(async () => {
    const fromPins = new Map<string, number>()
    let deficit = 0
    for await (const g of a.admin.statusAll()) {
      const s = g.peerMap[self]?.status
      if (s !== undefined) fromPins.set(s, (fromPins.get(s) ?? 0) + 1)
      const infos = Object.values(g.peerMap)
      if (infos.filter(i => i.status === 'pinned').length < (g.replicationMin > 0 ? g.replicationMin : infos.length)) deficit++
    }
    const m = parsePrometheus(await a.admin.metrics())
    const fromMetrics = new Map((m.get('pinmesh_pins')?.samples ?? []).filter(s => s.value > 0).map(s => [s.labels.status as string, s.value]))
    last = JSON.stringify({ fromPins: [...fromPins].sort(), fromMetrics: [...fromMetrics].sort(), deficit, metricDeficit: promValue(m, 'pinmesh_replication_deficit') })
    return JSON.stringify([...fromPins].sort()) === JSON.stringify([...fromMetrics].sort()) && promValue(m, 'pinmesh_replication_deficit') === deficit
  }, { timeoutMs: 20_000, intervalMs: 200, message: 'metrics agree with /pins' }).catch((err: Error) => { throw new Error(`${err.message}: ${last}`) })

  const m = parsePrometheus(await a.admin.metrics())
  assert.equal(promValue(m, 'pinmesh_pins', { status: 'pinned' }), 1)
  assert.equal(promValue(m, 'pinmesh_pins', { status: 'remote' }), 1)
  assert.ok((promValue(m, 'pinmesh_replication_deficit') ?? 0) >= 1, 'the missing pin is short of replicas')
  assert.equal(promValue(m, 'pinmesh_pinset_pins'), 3)
  assert.equal(promValue(m, 'pinmesh_peers', { state: 'alive' }), 1)
  assert.equal(typeof promValue(m, 'pinmesh_pin_queue_length'), 'number')
  assert.equal(m.get('pinmesh_proxy_request_duration_seconds')?.type, 'histogram')
})

test('proxy requests are timed per command, with bounded labels', async () => {
  for (const path of ['/api/v0/id', '/api/v0/pin/ls?type=recursive', `/api/v0/block/stat/${stored}`]) {
    assert.equal((await httpRequest(`${a.proc.proxyUrl}${path}`)).status, 200)
  }
  const m = parsePrometheus(await a.admin.metrics())
  for (const command of ['id', 'pin/ls', 'block/stat']) {
    assert.ok((promValue(m, 'pinmesh_proxy_request_duration_seconds_count', { command, method: 'POST', status: '200' }) ?? 0) >= 1, command)
  }
  assert.ok(m.get('pinmesh_proxy_request_duration_seconds')?.samples.every(s => !String(s.labels.command).includes(stored)))
})
