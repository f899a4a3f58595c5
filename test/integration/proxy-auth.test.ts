import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startKubo, type KuboDaemon } from '../fixtures/kubo.js'
import { startPinmesh, type PinmeshProcess } from '../fixtures/pinmesh.js'
import { httpRequest, comparableHeaders, type RawResponse } from '../fixtures/http.js'

// A real Kubo with API.Authorizations is the reference: the proxy, configured with the same
// secrets, must answer the `ipfs` CLI and raw HTTP exactly as that Kubo does. pinmesh itself
// reaches this Kubo with kubo.authorization.

const AUTHORIZATIONS = {
  alice: { AuthSecret: 'basic:user:pass', AllowedPaths: ['/api/v0'] },
  bob: { AuthSecret: 'bearer:tok', AllowedPaths: ['/api/v0'] },
  carol: { AuthSecret: 'bearer:limited', AllowedPaths: ['/api/v0/pin'] }
}
const BASIC = `Basic ${Buffer.from('user:pass').toString('base64')}`
const MOZILLA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36'

let kubo: KuboDaemon
let pinmesh: PinmeshProcess

before(async () => {
  kubo = await startKubo({ config: { API: { HTTPHeaders: {}, Authorizations: AUTHORIZATIONS } } })
  // The Kubo object form of proxy.authorizations lives in config.json.
  const path = await mkdtemp(join(tmpdir(), 'pinmesh-proxy-auth-'))
  await writeFile(join(path, 'config.json'), JSON.stringify({ proxy: { authorizations: AUTHORIZATIONS }, kubo: { authorization: 'basic:user:pass' } }))
  pinmesh = await startPinmesh({ path, kuboApi: kubo.apiMultiaddr })
})
after(async () => {
  await pinmesh?.destroy()
  await kubo?.destroy()
})

function portOf (url: string): string { return new URL(url).port }

describe('ipfs --api-auth against the proxy and against Kubo', () => {
  const cases: Array<{ name: string, args: string[], ok: boolean }> = [
    { name: 'basic:user:pass', args: ['--api-auth', 'basic:user:pass', 'id'], ok: true },
    { name: 'bearer:tok', args: ['--api-auth', 'bearer:tok', 'id'], ok: true },
    { name: 'a bare token', args: ['--api-auth', 'tok', 'id'], ok: true },
    { name: 'basic with base64', args: ['--api-auth', `basic:${Buffer.from('user:pass').toString('base64')}`, 'id'], ok: true },
    { name: 'no credentials', args: ['id'], ok: false },
    { name: 'a wrong password', args: ['--api-auth', 'basic:user:wrong', 'id'], ok: false },
    { name: 'an unknown secret type', args: ['--api-auth', 'digest:x', 'id'], ok: false },
    { name: 'a token limited to /api/v0/pin, on id', args: ['--api-auth', 'limited', 'id'], ok: false },
    { name: 'a token limited to /api/v0/pin, on a pin command', args: ['--api-auth', 'limited', 'pin', 'ls', '--type=recursive'], ok: true }
  ]
  for (const c of cases) {
    test(`${c.name}: same exit code and output as Kubo`, async () => {
      const direct = await kubo.cli(c.args)
      const proxied = await kubo.cli(c.args, { api: pinmesh.proxyMultiaddr })
      assert.equal(direct.code, c.ok ? 0 : 1, direct.stderr)
      assert.equal(proxied.code, direct.code, proxied.stderr)
      assert.equal(proxied.stderr, direct.stderr)
      if (c.args.includes('id')) assert.equal(proxied.stdout, direct.stdout)
      if (!c.ok && !c.name.startsWith('a token limited')) assert.match(proxied.stderr, /Kubo RPC Access Denied: Please provide a valid authorization token as defined in the API\.Authorizations configuration\./)
    })
  }

  test('cluster pins through an authenticated proxy reach a Kubo that needs credentials', async () => {
    const put = await kubo.cli(['--api-auth', 'tok', 'block', 'put'], { input: `proxy auth ${Date.now()}` })
    assert.equal(put.code, 0, put.stderr)
    const cid = put.stdout.trim()
    const added = await kubo.cli(['--api-auth', 'basic:user:pass', 'pin', 'add', cid], { api: pinmesh.proxyMultiaddr })
    assert.equal(added.code, 0, added.stderr)
    assert.equal(added.stdout, `pinned ${cid} recursively\n`)
    // pinmesh's tracker pinned it in Kubo with kubo.authorization.
    const inKubo = await kubo.cli(['--api-auth', 'tok', 'pin', 'ls', '--type=recursive', cid])
    assert.equal(inKubo.code, 0, inKubo.stderr)
    assert.match(inKubo.stdout, new RegExp(`^${cid} recursive`))
  })
})

describe('raw HTTP refusals are byte-identical to Kubo\'s', () => {
  for (const [method, path, headers] of [
    ['POST', '/api/v0/id', {}],
    ['POST', '/api/v0/id', { authorization: 'Bearer nope' }],
    ['POST', '/api/v0/version', {}],
    ['OPTIONS', '/api/v0/id', { origin: 'http://localhost:1234', 'access-control-request-method': 'POST' }],
    ['GET', '/api/v0/id', {}],
    ['POST', '/api/v0/id', { authorization: 'Bearer limited' }],
    ['POST', '/api/v0/pin/ls', { authorization: `basic ${Buffer.from('user:pass').toString('base64')}` }]
  ] as const) {
    test(`${method} ${path} with ${JSON.stringify(headers)}`, async () => {
      const a = await httpRequest(`${kubo.apiUrl}${path}`, { method, headers })
      const b = await httpRequest(`${pinmesh.proxyUrl}${path}`, { method, headers })
      assert.equal(a.status, 403)
      assert.equal(b.status, a.status)
      assert.equal(b.body.toString(), a.body.toString())
      assert.deepEqual(comparableHeaders(b.headers), comparableHeaders(a.headers))
    })
  }
})

describe('browser requests: Kubo\'s Origin/Referer/User-Agent checks, against the proxy\'s own port', () => {
  // Each case runs against Kubo and the proxy, with `<self>` standing for the port of the server asked.
  const cases: Array<{ name: string, method?: string, path?: string, headers: Record<string, string>, status: number, acao?: string }> = [
    { name: 'an allowed origin (localhost on this port) passes and is echoed', headers: { origin: 'http://localhost:<self>', 'user-agent': MOZILLA }, status: 200, acao: 'http://localhost:<self>' },
    { name: 'an allowed 127.0.0.1 origin passes', headers: { origin: 'http://127.0.0.1:<self>', 'user-agent': MOZILLA }, status: 200, acao: 'http://127.0.0.1:<self>' },
    { name: 'an evil origin is 403', headers: { origin: 'http://evil.example', 'user-agent': MOZILLA }, status: 403 },
    { name: 'localhost on another port is 403', headers: { origin: 'http://localhost:1', 'user-agent': MOZILLA }, status: 403 },
    { name: 'a Mozilla user agent without Origin or Referer is 403', headers: { 'user-agent': MOZILLA }, status: 403 },
    { name: 'Electron without Origin passes', headers: { 'user-agent': `${MOZILLA} Electron/30.0.0` }, status: 200 },
    { name: 'an allowed Referer passes', headers: { referer: 'http://localhost:<self>/webui/', 'user-agent': MOZILLA }, status: 200 },
    { name: 'an evil Referer is 403', headers: { referer: 'https://evil.example/x', 'user-agent': MOZILLA }, status: 403 },
    { name: 'a good Origin with an evil Referer is 403', headers: { origin: 'http://localhost:<self>', referer: 'https://evil.example/', 'user-agent': MOZILLA }, status: 403, acao: 'http://localhost:<self>' },
    { name: 'an intercepted command (pin/ls) with an evil origin is 403', path: '/api/v0/pin/ls?type=recursive', headers: { origin: 'http://evil.example' }, status: 403 },
    { name: 'an intercepted command (pin/ls) with an allowed origin is echoed', path: '/api/v0/pin/ls?type=recursive', headers: { origin: 'http://localhost:<self>', 'user-agent': MOZILLA }, status: 200, acao: 'http://localhost:<self>' },
    { name: 'a GET with an evil origin is still just 405', method: 'GET', headers: { origin: 'http://evil.example' }, status: 405 },
    { name: 'a preflight from an allowed origin is answered with CORS headers', method: 'OPTIONS', headers: { origin: 'http://localhost:<self>', 'access-control-request-method': 'POST' }, status: 204, acao: 'http://localhost:<self>' },
    { name: 'a preflight from an evil origin gets no CORS headers', method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' }, status: 204 }
  ]
  for (const c of cases) {
    test(c.name, async () => {
      const results: RawResponse[] = []
      for (const base of [kubo.apiUrl, pinmesh.proxyUrl]) {
        const self = portOf(base)
        const headers = Object.fromEntries(Object.entries({ authorization: BASIC, ...c.headers }).map(([k, v]) => [k, v.replace('<self>', self)]))
        const r = await httpRequest(`${base}${c.path ?? '/api/v0/id'}`, { method: c.method ?? 'POST', headers })
        assert.equal(r.status, c.status, `${base}: ${r.body.toString()}`)
        assert.equal(r.headers['access-control-allow-origin'], c.acao?.replace('<self>', self), base)
        results.push(r)
      }
      const [direct, proxied] = results as [RawResponse, RawResponse]
      if (c.status === 403) {
        assert.equal(proxied.body.toString(), '403 - Forbidden\n')
        // The echoed origin names each server's own port; it was compared above.
        const { 'access-control-allow-origin': _a, ...p } = comparableHeaders(proxied.headers)
        const { 'access-control-allow-origin': _b, ...d } = comparableHeaders(direct.headers)
        assert.deepEqual(p, d)
      }
      assert.equal(proxied.headers.vary, direct.headers.vary)
    })
  }
})

describe('proxy.allowedOrigins replaces the default list', () => {
  let open: PinmeshProcess
  before(async () => {
    open = await startPinmesh({ kuboApi: kubo.apiMultiaddr, args: ['--kubo-authorization', 'bearer:tok', '--proxy-allowed-origins', 'https://app.example,http://*.nope'] })
  })
  after(async () => { await open?.destroy() })

  test('a listed origin passes (the proxy adds Kubo\'s credentials), the localhost default no longer does', async () => {
    const ok = await httpRequest(`${open.proxyUrl}/api/v0/id`, { headers: { origin: 'https://app.example', 'user-agent': MOZILLA } })
    assert.equal(ok.status, 200, ok.body.toString())
    assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example')
    const local = await httpRequest(`${open.proxyUrl}/api/v0/id`, { headers: { origin: `http://localhost:${portOf(open.proxyUrl)}`, 'user-agent': MOZILLA } })
    assert.equal(local.status, 403)
    // Entries are exact strings, as in Kubo: no wildcards inside an origin.
    assert.equal((await httpRequest(`${open.proxyUrl}/api/v0/id`, { headers: { origin: 'http://a.nope' } })).status, 403)
  })
})
