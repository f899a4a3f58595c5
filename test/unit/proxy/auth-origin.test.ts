import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { convertAuthSecret, kuboAuthorizationHeader, ProxyAuth, OriginPolicy, goRefererOrigin, commandLabel } from '../../../src/proxy/index.js'
import { loadConfig } from '../../../src/config/index.js'
import { requestPath } from '../../../src/proxy/auth.js'

const b64 = (s: string): string => Buffer.from(s).toString('base64')

// Kubo's config.ConvertAuthSecret, case by case.
for (const [secret, header] of [
  ['tok', 'Bearer tok'],
  ['bearer:tok', 'Bearer tok'],
  ['bearer:a:b', 'Bearer a:b'],
  ['basic:user:pass', `Basic ${b64('user:pass')}`],
  ['basic:user:pa:ss', `Basic ${b64('user:pa:ss')}`],
  ['basic:dXNlcjpwYXNz', 'Basic dXNlcjpwYXNz'],
  ['digest:x', ''],
  ['', '']
] as const) {
  test(`convertAuthSecret(${JSON.stringify(secret)}) is ${JSON.stringify(header)} as in Kubo`, () => {
    assert.equal(convertAuthSecret(secret), header)
  })
}

test('kubo.authorization takes a header value as is, or a secret converted like --api-auth', () => {
  assert.equal(kuboAuthorizationHeader('Basic abc'), 'Basic abc')
  assert.equal(kuboAuthorizationHeader('Bearer t'), 'Bearer t')
  assert.equal(kuboAuthorizationHeader('basic:u:p'), `Basic ${b64('u:p')}`)
  assert.equal(kuboAuthorizationHeader(''), undefined)
})

test('ProxyAuth accepts exactly a configured header, on its allowed paths, and version always', () => {
  const auth = new ProxyAuth([{ secret: 'basic:u:p', allowedPaths: ['/'] }, { secret: 'bearer:t', allowedPaths: ['/api/v0/pin'] }])
  const basic = `Basic ${b64('u:p')}`
  assert.equal(auth.allows(basic, '/api/v0/id'), true)
  assert.equal(auth.allows(undefined, '/api/v0/id'), false)
  assert.equal(auth.allows('', '/api/v0/version'), false)
  assert.equal(auth.allows(`basic ${b64('u:p')}`, '/api/v0/id'), false, 'Kubo compares the header byte for byte')
  assert.equal(auth.allows('Bearer t', '/api/v0/pin/ls'), true)
  assert.equal(auth.allows('Bearer t', '/api/v0/ping'), true, 'a raw string prefix, as in Kubo')
  assert.equal(auth.allows('Bearer t', '/api/v0/id'), false)
  assert.equal(auth.allows('Bearer t', '/api/v0/version'), true)
  assert.equal(new ProxyAuth([]).allows(undefined, '/x'), true)
})

test('proxy.authorizations reads a secret list (env) and Kubo\'s API.Authorizations object (file)', async () => {
  const c = await loadConfig({ path: '/nonexistent', env: { PINMESH_PROXY_AUTHORIZATIONS: 'basic:u:p,bearer:t, tok' } })
  assert.deepEqual(c.proxy.authorizations.map(a => [a.secret, a.allowedPaths]), [['basic:u:p', ['/']], ['bearer:t', ['/']], ['tok', ['/']]])
  await assert.rejects(loadConfig({ path: '/nonexistent', env: { PINMESH_PROXY_AUTHORIZATIONS: 'digest:x' } }), /unknown secret type "digest"/)
  const field = (await import('../../../src/config/schema.js')).schema.proxy.authorizations
  const v = field.parse({ alice: { AuthSecret: 'bearer:a', AllowedPaths: ['/api/v0/id'] } })
  assert.deepEqual(v, [{ name: 'alice', secret: 'bearer:a', allowedPaths: ['/api/v0/id'] }])
  assert.deepEqual(field.toFile(v), { alice: { AuthSecret: 'bearer:a', AllowedPaths: ['/api/v0/id'] } })
})

test('api.basicAuth reads user:pass pairs, kubo.authorization checks the secret type', async () => {
  const c = await loadConfig({ path: '/nonexistent', env: { PINMESH_API_BASIC_AUTH: 'a:x:y,b:z', PINMESH_API_BEARER_TOKENS: 't1,t2' } })
  assert.deepEqual(c.api.basicAuth, { a: 'x:y', b: 'z' })
  assert.deepEqual(c.api.bearerTokens, ['t1', 't2'])
  await assert.rejects(loadConfig({ path: '/nonexistent', env: { PINMESH_API_BASIC_AUTH: 'nopass' } }), /user:password/)
  await assert.rejects(loadConfig({ path: '/nonexistent', env: { PINMESH_API_BASIC_AUTH: 'a:' } }), /empty/)
  await assert.rejects(loadConfig({ path: '/nonexistent', env: { PINMESH_KUBO_AUTHORIZATION: 'foo:bar' } }), /unknown secret type/)
})

for (const [referer, origin] of [
  ['http://localhost:5001/webui', 'http://localhost:5001'],
  ['HTTP://localhost:5001/', 'http://localhost:5001'],
  ['http://user:pw@localhost:5001/x?y#z', 'http://localhost:5001'],
  ['https://example.com', 'https://example.com'],
  ['localhost:5001', 'localhost://'],
  ['/relative/path', '://'],
  [':nope', undefined],
  ['http://bad%zz/', undefined],
  ['http://x/\u0001', undefined]
] as const) {
  test(`the Referer ${JSON.stringify(referer)} counts as origin ${JSON.stringify(origin)} (Go's url.Parse)`, () => {
    assert.equal(goRefererOrigin(referer), origin)
  })
}

function fakeReq (method: string, headers: Record<string, string>): IncomingMessage {
  return { method, headers: { ...headers } } as unknown as IncomingMessage
}

test('OriginPolicy applies Kubo\'s checks with the proxy\'s port and rewrites allowed headers to Kubo\'s origin', () => {
  const p = new OriginPolicy({ allowedOrigins: ['http://localhost:<port>', 'https://app.example'], port: 9095, kuboUrl: 'http://127.0.0.1:5001' })
  const ok = fakeReq('POST', { origin: 'http://localhost:9095', 'user-agent': 'Mozilla/5.0' })
  assert.deepEqual(p.apply(ok), { forbidden: false, allowOrigin: 'http://localhost:9095' })
  assert.equal(ok.headers.origin, 'http://127.0.0.1:5001')
  const evil = fakeReq('POST', { origin: 'http://evil.example' })
  assert.equal(p.apply(evil).forbidden, true)
  assert.equal(p.apply(fakeReq('POST', { origin: 'http://localhost:5001' })).forbidden, true, "Kubo's own port is not the proxy's")
  assert.equal(p.apply(fakeReq('POST', { 'user-agent': 'Mozilla/5.0 (X11)' })).forbidden, true)
  assert.equal(p.apply(fakeReq('POST', { 'user-agent': 'Mozilla/5.0 Electron/30' })).forbidden, false)
  assert.equal(p.apply(fakeReq('POST', { 'user-agent': 'go-ipfs-cmds/http' })).forbidden, false)
  assert.equal(p.apply(fakeReq('POST', { referer: 'https://app.example/page' })).forbidden, false)
  assert.equal(p.apply(fakeReq('POST', { referer: 'https://evil.example/page' })).forbidden, true)
  const get = fakeReq('GET', { origin: 'http://evil.example' })
  assert.deepEqual(p.apply(get), { forbidden: false })
  assert.equal(get.headers.origin, undefined, 'a refused origin is not passed on')
  const any = new OriginPolicy({ allowedOrigins: ['*'], port: 1, kuboUrl: 'http://kubo:5001' })
  assert.deepEqual(any.apply(fakeReq('POST', { origin: 'http://x' })), { forbidden: false, allowOrigin: '*' })
})

test('proxy metric labels keep only command-like path segments', () => {
  assert.equal(commandLabel('/api/v0/id'), 'id')
  assert.equal(commandLabel('/api/v0/pin/ls'), 'pin/ls')
  assert.equal(commandLabel('/api/v0/block/get/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'), 'block/get')
  assert.equal(commandLabel('/api/v0/QmXoypizjW3WknFiJnKLwHCnL72vedxjQkDDP1mXWo6uco'), 'other')
  assert.equal(commandLabel('/webui'), 'other')
  assert.equal(commandLabel('/api/v0/a/b/c/d'), 'a/b/c')
})

test('path limits are checked on the path the router sees: dot segments and backslashes are resolved first', () => {
  const auth = new ProxyAuth([{ secret: 'bearer:ls', allowedPaths: ['/api/v0/pin/ls'] }])
  const path = (url: string): string => requestPath({ url } as IncomingMessage)
  assert.equal(path('/api/v0/pin/ls/../rm?arg=x'), '/api/v0/pin/rm')
  assert.equal(path('/api/v0/pin/ls/..%2F..%2Fid'), '/api/v0/pin/ls/../../id', 'an encoded slash is not a separator')
  assert.equal(path('/api/v0/pin/ls\\..\\rm'), '/api/v0/pin/rm')
  assert.equal(auth.allows('Bearer ls', path('/api/v0/pin/ls/../rm')), false)
  assert.equal(auth.allows('Bearer ls', path('/api/v0/pin/ls?arg=x')), true)
})
