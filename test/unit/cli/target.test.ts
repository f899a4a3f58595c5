import { test } from 'node:test'
import assert from 'node:assert/strict'
import { DEFAULT_HOST, hostToUrl, resolveTarget } from '../../../src/cli/target.js'

test('--host accepts multiaddrs, URLs (keeping a path prefix) and host:port', () => {
  const cases: Array<[string, string]> = [
    [DEFAULT_HOST, 'http://127.0.0.1:9094'],
    ['/ip4/10.1.2.3/tcp/9194', 'http://10.1.2.3:9194'],
    ['/ip6/::1/tcp/9094', 'http://[::1]:9094'],
    ['/dns4/pinmesh0/tcp/9094', 'http://pinmesh0:9094'],
    ['/dns/example.org/tcp/443/https', 'https://example.org:443'],
    ['/ip4/127.0.0.1/tcp/9094/http', 'http://127.0.0.1:9094'],
    ['/dns4/x/tcp/9094/tls/http', 'https://x:9094'],
    ['http://127.0.0.1:9094', 'http://127.0.0.1:9094'],
    ['http://127.0.0.1:9094/', 'http://127.0.0.1:9094'],
    ['https://admin.example.org/pinmesh/', 'https://admin.example.org/pinmesh'],
    ['http://127.0.0.1:5001/api/v0', 'http://127.0.0.1:5001/api/v0'],
    ['localhost:9094', 'http://localhost:9094'],
    ['[::1]:9094', 'http://[::1]:9094']
  ]
  for (const [host, url] of cases) assert.equal(hostToUrl(host), url, host)
})

test('a malformed --host is a usage error naming the value', () => {
  for (const bad of ['/ip4/1.2.3.4', '/udp/1/tcp/2', '/ip4/1.2.3.4/tcp/0', '/ip4/1.2.3.4/tcp/70000', '/ip4/1.2.3.4/tcp/1/ws', 'ftp://x', 'http://h:1/?q=1', 'justahost']) {
    assert.throws(() => hostToUrl(bad), (e: Error) => e.name === 'CliUsageError' && e.message.includes(bad), bad)
  }
})

test('flags win over PINMESH_HOST and PINMESH_CREDENTIALS, which win over the defaults', () => {
  assert.deepEqual(resolveTarget({}, {}), { url: 'http://127.0.0.1:9094' })
  assert.deepEqual(resolveTarget({}, { PINMESH_HOST: '/ip4/10.0.0.2/tcp/1' }), { url: 'http://10.0.0.2:1' })
  assert.equal(resolveTarget({ host: '/ip4/10.0.0.3/tcp/2' }, { PINMESH_HOST: '/ip4/10.0.0.2/tcp/1' }).url, 'http://10.0.0.3:2')
  const basic = `Basic ${Buffer.from('alice:s3:cret').toString('base64')}`
  assert.equal(resolveTarget({ 'basic-auth': 'alice:s3:cret' }, {}).authorization, basic)
  assert.equal(resolveTarget({}, { PINMESH_CREDENTIALS: 'alice:s3:cret' }).authorization, basic)
  assert.equal(resolveTarget({}, { PINMESH_CREDENTIALS: 'tok123' }).authorization, 'Bearer tok123')
  assert.equal(resolveTarget({ bearer: 'flagtok' }, { PINMESH_CREDENTIALS: 'a:b' }).authorization, 'Bearer flagtok')
  assert.equal(resolveTarget({}, { PINMESH_CREDENTIALS: '' }).authorization, undefined)
})

test('credential flags are checked', () => {
  assert.throws(() => resolveTarget({ 'basic-auth': 'a:b', bearer: 't' }, {}), /either --basic-auth or --bearer/)
  assert.throws(() => resolveTarget({ 'basic-auth': 'nocolon' }, {}), /user:password/)
  assert.throws(() => resolveTarget({ bearer: '' }, {}), /takes a token/)
})
