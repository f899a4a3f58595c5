import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pino } from 'pino'
import { AdminApi, API_ERROR_CODES } from '../../../src/api/index.js'
import { basicAuthorization } from '../../../src/api/client.js'
import { toMultiaddr } from '../../../src/utils/address.js'
import { makeCids } from '../../fixtures/cids.js'
import { ROOT } from '../../fixtures/paths.js'
import { parsePrometheus, promValue } from '../../fixtures/prometheus.js'
import { fakeCluster, SELF } from './fake-cluster.js'

const logger = pino({ level: 'silent' })
const AUTH = basicAuthorization('admin', 's3cret')
const BAD_CID = 'not-a-cid'

async function call (base: string, method: string, path: string, auth?: string, body?: string): Promise<{ status: number, headers: Headers, text: string, json: () => any }> {
  const res = await fetch(base + path, { method, headers: auth !== undefined ? { authorization: auth } : {}, body, redirect: 'manual' })
  const text = await res.text()
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) }
}

function assertError (r: { status: number, json: () => any }, status: number, code: string): void {
  assert.equal(r.status, status)
  const body = r.json()
  assert.deepEqual(Object.keys(body).sort(), ['code', 'message'])
  assert.equal(body.code, code)
  assert.equal(typeof body.message, 'string')
  assert.ok(body.message.length > 0)
}

describe('admin API with basic auth and a bearer token', () => {
  let api: AdminApi
  let base: string
  let cids: string[]
  const cluster = fakeCluster()

  before(async () => {
    cids = await makeCids(3, 'admin-api')
    api = new AdminApi({ cluster, logger }, { listen: '/ip4/127.0.0.1/tcp/0', basicAuth: { admin: 's3cret' }, bearerTokens: ['tok3n'], metricsStatusIntervalMs: 0 })
    await api.start()
    base = `http://127.0.0.1:${api.address.port}`
    void toMultiaddr
  })
  after(async () => { await api.stop() })

  // Every endpoint: a request that succeeds (with credentials) and the same one without them.
  const endpoints: Array<{ method: string, path: () => string, body?: () => string, status: number }> = [
    { method: 'GET', path: () => '/version', status: 200 },
    { method: 'GET', path: () => '/id', status: 200 },
    { method: 'GET', path: () => '/peers', status: 200 },
    { method: 'POST', path: () => `/pins/${cids[0]}?name=first`, status: 200 },
    { method: 'POST', path: () => '/pins', body: () => `"${cids[1]}"\n{"cid":"${cids[2]}"}\n`, status: 200 },
    { method: 'GET', path: () => '/allocations', status: 200 },
    { method: 'GET', path: () => `/allocations/${cids[0]}`, status: 200 },
    { method: 'GET', path: () => '/pins', status: 200 },
    { method: 'GET', path: () => `/pins/${cids[0]}`, status: 200 },
    { method: 'POST', path: () => `/pins/${cids[0]}/recover`, status: 200 },
    { method: 'POST', path: () => '/pins/recover', status: 200 },
    { method: 'POST', path: () => `/pins/adopt?cid=${cids[0]}`, status: 200 },
    { method: 'GET', path: () => '/pinset/stats', status: 200 },
    { method: 'GET', path: () => '/metrics', status: 200 },
    { method: 'GET', path: () => '/ui/', status: 200 },
    { method: 'GET', path: () => '/ui/app.js', status: 200 },
    { method: 'DELETE', path: () => '/pins', body: () => `"${cids[2]}"\n`, status: 200 },
    { method: 'DELETE', path: () => `/pins/${cids[1]}`, status: 200 }
  ]

  for (const e of endpoints) {
    test(`${e.method} ${e.path.toString().replace(/^\(\) => /, '')} answers 401 ERR_UNAUTHORIZED without credentials, then succeeds with them`, async () => {
      const denied = await call(base, e.method, e.path(), undefined, e.body?.())
      assertError(denied, 401, 'ERR_UNAUTHORIZED')
      assert.equal(denied.headers.get('www-authenticate'), 'Basic realm="pinmesh", Bearer realm="pinmesh"')
      const ok = await call(base, e.method, e.path(), AUTH, e.body?.())
      assert.equal(ok.status, e.status, ok.text)
    })
  }

  test('POST /pins/adopt wants CIDs or all=true, not both nor neither (ERR_INVALID_PARAMETERS), and is not a pin of the CID "adopt"', async () => {
    assertError(await call(base, 'POST', '/pins/adopt', AUTH), 400, 'ERR_INVALID_PARAMETERS')
    assertError(await call(base, 'POST', `/pins/adopt?all=true&cid=${cids[0]}`, AUTH), 400, 'ERR_INVALID_PARAMETERS')
    const ok = await call(base, 'POST', '/pins/adopt?all=true', AUTH)
    assert.equal(ok.status, 200, ok.text)
    assert.deepEqual(ok.json(), { adopted: [], inPinset: [] })
  })

  test('GET /health needs no credentials', async () => {
    assert.equal((await call(base, 'GET', '/health')).status, 204)
  })

  test('a bearer token is accepted; wrong or malformed credentials are not', async () => {
    assert.equal((await call(base, 'GET', '/id', 'Bearer tok3n')).status, 200)
    assert.equal((await call(base, 'GET', '/id', 'bearer tok3n')).status, 200)
    for (const bad of ['Bearer tok3', 'Bearer tok3nx', basicAuthorization('admin', 'wrong'), basicAuthorization('other', 's3cret'), 'Basic !!!', 'Digest x', 'tok3n', '']) {
      const r = await call(base, 'GET', '/id', bad)
      assertError(r, 401, 'ERR_UNAUTHORIZED')
    }
  })

  test('unknown endpoints need credentials before they are a 404', async () => {
    assertError(await call(base, 'GET', '/nope'), 401, 'ERR_UNAUTHORIZED')
    assertError(await call(base, 'GET', '/nope', AUTH), 404, 'ERR_NOT_FOUND')
    assertError(await call(base, 'PUT', '/pins', AUTH), 405, 'ERR_METHOD_NOT_ALLOWED')
  })

  test('an unknown CID is 404 ERR_PIN_NOT_FOUND wherever a pin is looked up', async () => {
    const [unknown] = await makeCids(1, 'never-pinned')
    for (const [method, path] of [['GET', `/pins/${unknown}`], ['GET', `/allocations/${unknown}`], ['DELETE', `/pins/${unknown}`], ['POST', `/pins/${unknown}/recover`]] as const) {
      assertError(await call(base, method, path, AUTH), 404, 'ERR_PIN_NOT_FOUND')
    }
  })

  test('a malformed CID is 400 ERR_INVALID_CID on every CID endpoint', async () => {
    for (const [method, path] of [['GET', `/pins/${BAD_CID}`], ['GET', `/allocations/${BAD_CID}`], ['DELETE', `/pins/${BAD_CID}`], ['POST', `/pins/${BAD_CID}/recover`], ['POST', `/pins/${BAD_CID}`]] as const) {
      assertError(await call(base, method, path, AUTH), 400, 'ERR_INVALID_CID')
    }
    assertError(await call(base, 'POST', '/pins', AUTH, `"${BAD_CID}"\n`), 400, 'ERR_INVALID_CID')
  })

  test('bad parameters and bodies are 400 with their own codes', async () => {
    assertError(await call(base, 'POST', `/pins/${cids[0]}?replication-min=abc`, AUTH), 400, 'ERR_INVALID_PARAMETERS')
    assertError(await call(base, 'GET', '/pins?filter=sleeping', AUTH), 400, 'ERR_INVALID_PARAMETERS')
    assertError(await call(base, 'POST', '/pins', AUTH, '{not json\n'), 400, 'ERR_INVALID_JSON')
  })

  test('/metrics is Prometheus text whose pin counts match /pins', async () => {
    await call(base, 'POST', `/pins/${cids[1]}`, AUTH)
    await call(base, 'POST', `/pins/${cids[2]}`, AUTH)
    cluster.statusOf.set(cids[2] as string, 'pin_error')
    const res = await call(base, 'GET', '/metrics', AUTH)
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
    const m = parsePrometheus(res.text)
    const fromPins = new Map<string, number>()
    for (const line of (await call(base, 'GET', '/pins', AUTH)).text.split('\n').filter(l => l !== '')) {
      const s = JSON.parse(line).peerMap[SELF].status as string
      fromPins.set(s, (fromPins.get(s) ?? 0) + 1)
    }
    assert.equal(fromPins.get('pin_error'), 1)
    for (const status of ['pinned', 'pin_error', 'queued', 'pinning', 'remote']) {
      assert.equal(promValue(m, 'pinmesh_pins', { status }), fromPins.get(status) ?? 0, status)
    }
    assert.equal(promValue(m, 'pinmesh_pinset_pins'), 3)
    assert.equal(promValue(m, 'pinmesh_pin_queue_length'), 3)
    assert.equal(promValue(m, 'pinmesh_replication_deficit'), 1)
    assert.equal(promValue(m, 'pinmesh_peers', { state: 'alive' }), 1)
    assert.ok((promValue(m, 'pinmesh_api_request_duration_seconds_count', { route: '/pins/:cid', method: 'GET', status: '200' }) ?? 0) >= 1)
    assert.ok((promValue(m, 'pinmesh_api_request_duration_seconds_count', { route: 'unmatched', method: 'GET', status: '401' }) ?? 0) >= 1)
    assert.equal(m.get('pinmesh_api_request_duration_seconds')?.type, 'histogram')
    assert.ok(m.has('process_cpu_user_seconds_total'))
    // Route labels are patterns, never raw paths: the label set stays bounded.
    assert.ok(m.get('pinmesh_api_request_duration_seconds')?.samples.every(s => s.labels.route === undefined || !s.labels.route.includes(cids[0] as string)))
  })

  test('/ui redirects to /ui/, serves its files with a CSP and 404s anything else', async () => {
    const r = await call(base, 'GET', '/ui', AUTH)
    assert.equal(r.status, 308)
    assert.equal(r.headers.get('location'), 'ui/')
    const page = await call(base, 'GET', '/ui/', AUTH)
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/)
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/)
    assert.match(page.text, /<script src="app.js"/)
    assert.match((await call(base, 'GET', '/ui/style.css', AUTH)).headers.get('content-type') ?? '', /^text\/css/)
    assertError(await call(base, 'GET', '/ui/..%2Fserver.ts', AUTH), 404, 'ERR_NOT_FOUND')
    assertError(await call(base, 'GET', '/ui/secret.txt', AUTH), 404, 'ERR_NOT_FOUND')
  })
})

describe('admin API auth options', () => {
  test('without users or tokens every endpoint is open', async (t) => {
    const api = new AdminApi({ cluster: fakeCluster(), logger }, { listen: '/ip4/127.0.0.1/tcp/0' })
    await api.start()
    t.after(async () => { await api.stop() })
    assert.equal((await call(`http://127.0.0.1:${api.address.port}`, 'GET', '/id')).status, 200)
  })

  test('metricsAuth=false lets /metrics be scraped without credentials, nothing else', async (t) => {
    const api = new AdminApi({ cluster: fakeCluster(), logger }, { listen: '/ip4/127.0.0.1/tcp/0', bearerTokens: ['t'], metricsAuth: false })
    await api.start()
    t.after(async () => { await api.stop() })
    const base = `http://127.0.0.1:${api.address.port}`
    assert.equal((await call(base, 'GET', '/metrics')).status, 200)
    const denied = await call(base, 'GET', '/id')
    assertError(denied, 401, 'ERR_UNAUTHORIZED')
    assert.equal(denied.headers.get('www-authenticate'), 'Bearer realm="pinmesh"')
  })

  test('the cluster-wide status behind /metrics is reused within metricsStatusInterval', async (t) => {
    const cluster = fakeCluster()
    const api = new AdminApi({ cluster, logger }, { listen: '/ip4/127.0.0.1/tcp/0', metricsStatusIntervalMs: 60_000 })
    await api.start()
    t.after(async () => { await api.stop() })
    const base = `http://127.0.0.1:${api.address.port}`
    for (let i = 0; i < 3; i++) parsePrometheus((await call(base, 'GET', '/metrics')).text)
    assert.equal(cluster.statusAllCalls, 1)
  })
})

describe('GET /pins is paged, GET /allocations streams everything', () => {
  let api: AdminApi
  let base: string
  let cids: string[]
  const cluster = fakeCluster()

  before(async () => {
    cids = await makeCids(25, 'admin-api-paging')
    await cluster.pinMany(cids.map(cid => ({ cid })))
    api = new AdminApi({ cluster, logger }, { listen: '/ip4/127.0.0.1/tcp/0', metricsStatusIntervalMs: 0 })
    await api.start()
    base = `http://127.0.0.1:${api.address.port}`
  })
  after(async () => { await api.stop() })

  const lines = (text: string): Array<{ cid: string }> => text.split('\n').filter(l => l !== '').map(l => JSON.parse(l))

  test('limit= pages follow X-Next-Cursor (and the Link header) to every pin once; the last page has neither', async () => {
    const seen: string[] = []
    let path = '/pins?limit=10'
    const sizes: number[] = []
    for (;;) {
      const r = await call(base, 'GET', path)
      assert.equal(r.status, 200)
      const page = lines(r.text)
      sizes.push(page.length)
      seen.push(...page.map(g => g.cid))
      const next = r.headers.get('x-next-cursor')
      const link = r.headers.get('link')
      if (next === null) { assert.equal(link, null); break }
      const target = /^<([^>]*)>; rel="next"$/.exec(link ?? '')?.[1]
      assert.ok(target !== undefined, `Link: ${link}`)
      const url = new URL(target, base + path)
      assert.equal(url.searchParams.get('cursor'), next)
      assert.equal(url.searchParams.get('limit'), '10')
      path = url.pathname + url.search
    }
    assert.deepEqual(sizes, [10, 10, 5])
    assert.deepEqual([...seen].sort(), [...cids].sort())
  })

  test('without limit= a page holds at most 1000 pins; limit over 10000, zero or not a number is ERR_INVALID_PARAMETERS', async () => {
    assert.equal(lines((await call(base, 'GET', '/pins')).text).length, 25)
    for (const limit of ['0', '10001', 'ten', '-5', '1.5']) assertError(await call(base, 'GET', `/pins?limit=${limit}`), 400, 'ERR_INVALID_PARAMETERS')
  })

  test('a cursor the server did not make is a 400 {code, message}', async () => {
    for (const cursor of ['garbage', 'zz.bafy', 'ffff.x']) assertError(await call(base, 'GET', `/pins?cursor=${cursor}`), 400, 'ERR_INVALID_PARAMETERS')
  })

  test('GET /allocations streams every pin of every batch; with limit= it is paged like GET /pins', async () => {
    const all = lines((await call(base, 'GET', '/allocations')).text)
    assert.deepEqual(all.map(r => r.cid).sort(), [...cids].sort())
    const first = await call(base, 'GET', '/allocations?limit=20')
    const next = first.headers.get('x-next-cursor')
    assert.ok(next !== null)
    const second = await call(base, 'GET', `/allocations?limit=20&cursor=${encodeURIComponent(next)}`)
    assert.equal(second.headers.get('x-next-cursor'), null)
    assert.deepEqual([...lines(first.text), ...lines(second.text)].map(r => r.cid).sort(), [...cids].sort())
    assertError(await call(base, 'GET', '/allocations?cursor=bogus'), 400, 'ERR_INVALID_PARAMETERS')
  })
})

test('a cluster-wide status that took over a second is not recomputed for ten times as long, whatever the scrapes', async (t) => {
  const cluster = fakeCluster()
  await cluster.pin({ cid: (await makeCids(1, 'slow-status'))[0] as string })
  const statusAll = cluster.statusAll.bind(cluster)
  cluster.statusAll = async function * (o) { cluster.statusAllCalls++; await new Promise(resolve => setTimeout(resolve, 1100)); for await (const g of statusAll(o)) yield g }
  const api = new AdminApi({ cluster, logger }, { listen: '/ip4/127.0.0.1/tcp/0', metricsStatusIntervalMs: 0 })
  await api.start()
  t.after(async () => { await api.stop() })
  const base = `http://127.0.0.1:${api.address.port}`
  const scrape = async (): Promise<number | undefined> => promValue(parsePrometheus((await call(base, 'GET', '/metrics')).text), 'pinmesh_pins', { status: 'pinned' })
  assert.equal(await scrape(), 1)
  for (let i = 0; i < 3; i++) assert.equal(await scrape(), 1)
  // statusAllCalls counts the slow walk and the fake's own call inside it.
  assert.equal(cluster.statusAllCalls, 2, 'one walk for four scrapes')
})

test('the README documents every admin API error code', async () => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
  for (const code of Object.keys(API_ERROR_CODES)) assert.ok(readme.includes(`\`${code}\``), `README lacks ${code}`)
})
