import { test, describe, before, after, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { request } from 'node:http'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { AdminClient, basicAuthorization, bearerAuthorization } from '../../src/api/client.js'
import { startKubos, type KuboDaemon } from '../fixtures/kubo.js'
import { startPinmesh, newSecret, PINMESH_BIN } from '../fixtures/pinmesh.js'
import { peerOf, FAST_CLUSTER_ARGS, type TestPeer } from '../fixtures/cluster.js'
import { httpRequest, multipart, type RawResponse } from '../fixtures/http.js'
import { makeCids } from '../fixtures/cids.js'
import { waitFor } from '../fixtures/wait-for.js'

// Security (issue 7, deliverable 5), end to end against real daemons and Kubos: each area is
// attacked the ways a client or a rogue peer would try, every attempt must fail, and nothing it
// tried may show in the pinset. test/integration/{pinset-trust,proxy-auth,admin-api} hold the
// detailed parity checks with Kubo; this suite stands alone as the attack list.

const execFileP = promisify(execFile)
/** Attacks tried and refused, per area, printed at the end of the run. */
const figures: Record<string, { attempts: number, refused: number }> = {}
let area = ''
/** Names the area the next attempts count for, and prints its figures when the test ends. */
function begin (t: TestContext, name: string): void {
  area = name
  t.after(() => { const f = figures[name]; t.diagnostic(`${name}: ${f?.refused ?? 0} of ${f?.attempts ?? 0} attempts refused`) })
}
function attempt (ok: boolean): void {
  const f = figures[area] ??= { attempts: 0, refused: 0 }
  f.attempts++
  if (ok) f.refused++
}

/** A data directory with a fresh identity, and its peer id, before any daemon runs (so trust lists can name it). */
async function identity (): Promise<{ path: string, peerId: string }> {
  const path = await mkdtemp(join(tmpdir(), 'pinmesh-sec-'))
  const { stdout } = await execFileP(process.execPath, [PINMESH_BIN, 'init', '--path', path])
  const peerId = /Peer id: (\S+)/.exec(stdout)?.[1]
  if (peerId === undefined) throw new Error(`pinmesh init printed no peer id:\n${stdout}`)
  return { path, peerId }
}

async function pinsetOf (p: TestPeer): Promise<Set<string>> {
  const out = new Set<string>()
  for await (const r of p.admin.allocations()) out.add(r.cid)
  return out
}

/** Waits until `p` has run `rounds` more anti-entropy syncs: whatever was going to cross has crossed. */
async function syncRounds (p: TestPeer, rounds: number): Promise<void> {
  const start = (await p.admin.pinsetStats()).syncs ?? 0
  await waitFor(async () => ((await p.admin.pinsetStats()).syncs ?? 0) >= start + rounds, { timeoutMs: 30_000, message: `${rounds} sync rounds` })
}

function refused (r: RawResponse, status: number, what: string): void {
  attempt(r.status === status)
  assert.equal(r.status, status, `${what}: ${r.status} ${r.body.toString().slice(0, 200)}`)
}

describe('cluster membership: wrong secret and untrusted writer', () => {
  let kubos: KuboDaemon[] = []
  let a: TestPeer
  let b: TestPeer
  let u: TestPeer
  const stop: Array<() => Promise<void>> = []
  let secret: string

  before(async () => {
    secret = newSecret()
    kubos = await startKubos(3)
    const [ia, ib, iu] = await Promise.all([identity(), identity(), identity()])
    // a and b trust each other only; u has the secret, so it connects and follows, but may not write.
    const trustedPeers = [ia.peerId, ib.peerId]
    const start = async (id: { path: string }, kubo: KuboDaemon, bootstrap?: string[]): Promise<TestPeer> => {
      const p = peerOf(await startPinmesh({ path: id.path, secret, trustedPeers, kuboApi: kubo.apiMultiaddr, args: FAST_CLUSTER_ARGS, ...(bootstrap !== undefined ? { bootstrap } : {}) }))
      stop.push(async () => { await p.proc.destroy() })
      return p
    }
    a = await start(ia, kubos[0] as KuboDaemon)
    ;[b, u] = await Promise.all([start(ib, kubos[1] as KuboDaemon, a.proc.swarmAddrs), start(iu, kubos[2] as KuboDaemon, a.proc.swarmAddrs)])
    await waitFor(async () => {
      const seen = (await a.admin.peers()).filter(p => p.connected).map(p => p.id)
      return seen.includes(b.proc.peerId) && seen.includes(u.proc.peerId)
    }, { timeoutMs: 30_000, message: 'b and u connected to a' })
  })
  after(async () => {
    await Promise.all(stop.map(async s => { await s() }))
    await Promise.all(kubos.map(async k => { await k.destroy() }))
  })

  test('wrong secret: peers with another secret or none get no connection, cannot write and read nothing', async (t) => {
    begin(t, 'wrong secret')
    const wrong = peerOf(await startPinmesh({ secret: newSecret(), bootstrap: a.proc.swarmAddrs, args: FAST_CLUSTER_ARGS }))
    const none = peerOf(await startPinmesh({ bootstrap: a.proc.swarmAddrs, args: FAST_CLUSTER_ARGS }))
    t.after(async () => { await Promise.all([wrong, none].map(async p => { await p.proc.destroy() })) })
    const [byWrong, byNone, byA] = await makeCids(3, `sec-secret-${Date.now()}`) as [string, string, string]
    await wrong.admin.pin(byWrong)
    await none.admin.pin(byNone)
    await a.admin.pin(byA)
    // A peer with the secret proves that the pin travels when it may.
    await waitFor(async () => (await pinsetOf(b)).has(byA), { timeoutMs: 30_000, message: 'b gets a\'s pin' })
    await syncRounds(a, 4)
    for (const p of [a, b]) {
      const set = await pinsetOf(p)
      attempt(!set.has(byWrong))
      attempt(!set.has(byNone))
      assert.ok(!set.has(byWrong) && !set.has(byNone), 'a write from outside the private network reached the pinset')
    }
    for (const outsider of [wrong, none]) {
      assert.ok(!(await pinsetOf(outsider)).has(byA), 'an outsider read the pinset')
      assert.deepEqual((await outsider.admin.peers()).filter(p => p.connected).map(p => p.id), [])
    }
    const seen = (await a.admin.peers()).map(p => p.id)
    assert.ok(!seen.includes(wrong.proc.peerId) && !seen.includes(none.proc.peerId), 'a knows an outsider as a peer')
  })

  test('wrong secret: a raw libp2p dialer never gets a plaintext protocol answer and is cut off', async (t) => {
    begin(t, 'wrong secret (raw dial)')
    const [, host, port] = /^\/ip4\/([^/]+)\/tcp\/(\d+)/.exec(a.proc.swarmAddrs[0] as string) ?? []
    for (const opening of [
      Buffer.concat([Buffer.from([19]), Buffer.from('/multistream/1.0.0\n')]), // a dialer without the secret
      Buffer.concat([randomBytes(24), Buffer.from([19]), Buffer.from('/multistream/1.0.0\n')]) // a pnet nonce, then plaintext
    ]) {
      const outcome = await new Promise<{ closed: boolean, got: Buffer }>((resolve) => {
        const chunks: Buffer[] = []
        const s = connect({ host: host as string, port: Number(port) })
        const timer = setTimeout(() => { s.destroy(); resolve({ closed: false, got: Buffer.concat(chunks) }) }, 45_000)
        s.on('data', (d: Buffer) => chunks.push(d))
        s.on('error', () => {})
        s.on('close', () => { clearTimeout(timer); resolve({ closed: true, got: Buffer.concat(chunks) }) })
        s.on('connect', () => { s.write(opening) })
      })
      attempt(outcome.closed && !outcome.got.includes('/multistream/'))
      assert.ok(outcome.closed, 'the swarm port kept a dialer without the secret connected for 45 s')
      assert.ok(!outcome.got.includes('/multistream/') && !outcome.got.includes('/noise'), `plaintext protocol bytes sent to an outsider: ${outcome.got.toString('latin1').slice(0, 80)}`)
    }
    assert.ok((await a.admin.peers()).some(p => p.id === b.proc.peerId && p.connected), 'the listener still serves members')
  })

  test('untrusted writer: its pins, unpins and add-pushes never reach the trusted peers', async (t) => {
    begin(t, 'untrusted writer')
    const [byU, viaProxy, trustedPin] = await makeCids(3, `sec-untrusted-${Date.now()}`) as [string, string, string]
    await a.admin.pin(trustedPin)
    // u follows the trusted pinset…
    await waitFor(async () => (await pinsetOf(u)).has(trustedPin), { timeoutMs: 30_000, message: 'u follows a\'s pin' })
    // …and tries to change it through every door it has.
    await u.admin.pin(byU)
    const pinned = await httpRequest(`${u.proc.proxyUrl}/api/v0/pin/add?arg=${viaProxy}&wait=committed`)
    assert.equal(pinned.status, 200, pinned.body.toString())
    const unpinned = await httpRequest(`${u.proc.proxyUrl}/api/v0/pin/rm?arg=${trustedPin}`)
    assert.equal(unpinned.status, 200, unpinned.body.toString())
    const content = `pushed by an untrusted peer ${Date.now()} ${randomBytes(8).toString('hex')}`
    const { body, contentType } = multipart([{ filename: 'untrusted.txt', content }])
    // Replication -1 by default: u streams the upload to a's and b's pinmesh as well as to its own Kubo.
    const added = await httpRequest(`${u.proc.proxyUrl}/api/v0/add?cid-version=1`, { body, headers: { 'content-type': contentType } })
    assert.equal(added.status, 200, added.body.toString())
    const root = (JSON.parse(added.body.toString().trim().split('\n').at(-1) as string) as { Hash: string }).Hash

    await syncRounds(a, 4)
    await syncRounds(b, 2)
    for (const p of [a, b]) {
      const set = await pinsetOf(p)
      for (const ok of [!set.has(byU), !set.has(viaProxy), set.has(trustedPin), !set.has(root)]) attempt(ok)
      assert.ok(!set.has(byU), 'u\'s admin pin reached a trusted peer')
      assert.ok(!set.has(viaProxy), 'u\'s proxy pin reached a trusted peer')
      assert.ok(set.has(trustedPin), 'u\'s unpin removed a trusted pin')
      assert.ok(!set.has(root), 'u\'s add reached a trusted pinset')
    }
    // The pushed blocks never entered the trusted peers' Kubos: their pinmesh refused the stream.
    for (const kubo of kubos.slice(0, 2)) {
      const stat = await httpRequest(`${kubo.apiUrl}/api/v0/block/stat?arg=${root}&offline=true`)
      attempt(stat.status !== 200)
      assert.notEqual(stat.status, 200, `${root} is in a trusted peer's Kubo`)
    }
    const own = await httpRequest(`${kubos[2]?.apiUrl}/api/v0/block/stat?arg=${root}&offline=true`)
    assert.equal(own.status, 200, 'u\'s own Kubo has the content (the add itself worked)')
    assert.match(a.proc.output() + b.proc.output(), /refusing content pushed by an untrusted peer/)
    // Trusted-only RPC (pin status) refuses u as well.
    const status = await u.admin.status(viaProxy)
    const fromA = status.peerMap[a.proc.peerId]
    assert.equal(fromA?.status, 'cluster_error', JSON.stringify(status.peerMap))
    assert.match(fromA?.error ?? '', /not authorized/)
  })
})

describe('one daemon with admin auth, proxy auth and browser checks', () => {
  const TOKEN = `admin-${randomBytes(8).toString('hex')}`
  const BASIC = basicAuthorization('admin', 'pw')
  const PROXY = {
    full: { AuthSecret: 'bearer:proxy-full', AllowedPaths: ['/api/v0'] },
    user: { AuthSecret: 'basic:user:pass', AllowedPaths: ['/api/v0'] },
    lsOnly: { AuthSecret: 'bearer:ls-only', AllowedPaths: ['/api/v0/pin/ls'] }
  }
  const FULL = 'Bearer proxy-full'
  const MOZILLA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36'
  let kubo: KuboDaemon
  let p: TestPeer
  let stored: string
  let fresh: string[]

  before(async () => {
    ;[kubo] = await startKubos(1) as [KuboDaemon]
    const path = await mkdtemp(join(tmpdir(), 'pinmesh-sec-auth-'))
    await writeFile(join(path, 'config.json'), JSON.stringify({ proxy: { authorizations: PROXY } }))
    const proc = await startPinmesh({ path, kuboApi: kubo.apiMultiaddr, secret: newSecret(), args: [...FAST_CLUSTER_ARGS, '--api-basic-auth', 'admin:pw', '--api-bearer-tokens', TOKEN] })
    p = { proc, admin: new AdminClient({ url: proc.apiUrl, authorization: bearerAuthorization(TOKEN) }) }
    stored = (await kubo.cli(['block', 'put'], { input: `security ${Date.now()}` })).stdout.trim()
    await p.admin.pin(stored)
    fresh = await makeCids(8, `sec-auth-${Date.now()}`)
  })
  after(async () => {
    await p?.proc.destroy()
    await kubo?.destroy()
  })

  async function pinset (): Promise<string[]> { return [...await pinsetOf(p)].sort() }

  test('admin auth: every route refuses missing, wrong and malformed credentials, and nothing changes', async (t) => {
    begin(t, 'admin auth')
    const before = await pinset()
    const cid = fresh[0] as string
    const routes: Array<[string, string, string?]> = [
      ['GET', '/id'], ['GET', '/version'], ['GET', '/peers'], ['GET', '/allocations'], ['GET', `/allocations/${stored}`],
      ['GET', '/pins'], ['GET', `/pins/${stored}`], ['POST', `/pins/${cid}`], ['DELETE', `/pins/${stored}`], ['POST', `/pins/${stored}/recover`],
      ['POST', '/pins/recover'], ['POST', '/pins', `"${cid}"\n`], ['DELETE', '/pins', `"${stored}"\n`], ['GET', '/pinset/stats'],
      ['GET', '/metrics'], ['GET', '/ui'], ['GET', '/ui/'], ['GET', '/ui/app.js'], ['POST', '/add'], ['GET', '/no/such/route'], ['PUT', '/health']
    ]
    const b64 = (s: string): string => Buffer.from(s).toString('base64')
    const bad: Array<string | undefined> = [
      undefined, `Basic ${b64('admin:wrong')}`, `Basic ${b64('root:pw')}`, `Basic ${b64('admin:pw ')}`, `Basic ${b64('admin')}`, `Basic ${b64('admin:pw')}AAAA`,
      'Basic !!!', 'Basic', '', `Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN}x`, `Bearer ${b64('admin:pw')}`, `Basic ${TOKEN}`, TOKEN,
      `Digest username="admin"`, `Bearer ${TOKEN} extra`, `Bearer ${TOKEN.toUpperCase()}`
    ]
    for (const [method, path, body] of routes) {
      for (const authorization of bad) {
        const headers: Record<string, string> = body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}
        if (authorization !== undefined) headers.authorization = authorization
        const r = await httpRequest(`${p.proc.apiUrl}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) })
        refused(r, 401, `${method} ${path} with ${JSON.stringify(authorization)}`)
        assert.deepEqual(JSON.parse(r.body.toString()).code, 'ERR_UNAUTHORIZED')
        assert.equal(r.headers['www-authenticate'], 'Basic realm="pinmesh", Bearer realm="pinmesh"')
      }
    }
    // The right credentials do open the door (so the refusals above are the auth check's doing).
    for (const authorization of [BASIC, bearerAuthorization(TOKEN)]) {
      assert.equal((await httpRequest(`${p.proc.apiUrl}/pinset/stats`, { method: 'GET', headers: { authorization } })).status, 200)
    }
    assert.equal((await httpRequest(`${p.proc.apiUrl}/health`, { method: 'GET' })).status, 204)
    assert.deepEqual(await pinset(), before)
  })

  test('proxy auth: no, wrong and path-limited credentials are refused on intercepted and passed-through commands', async (t) => {
    begin(t, 'proxy auth')
    const before = await pinset()
    const cid = fresh[1] as string
    const attempts: Array<[string, string | undefined, string?]> = [
      [`/api/v0/pin/add?arg=${cid}&wait=committed`, undefined], [`/api/v0/pin/rm?arg=${stored}`, undefined], ['/api/v0/id', undefined],
      [`/api/v0/pin/add?arg=${cid}&wait=committed`, 'Bearer nope'], [`/api/v0/pin/add?arg=${cid}&wait=committed`, 'bearer proxy-full'],
      [`/api/v0/pin/add?arg=${cid}&wait=committed`, 'proxy-full'], [`/api/v0/pin/add?arg=${cid}&wait=committed`, `Basic ${Buffer.from('user:wrong').toString('base64')}`],
      [`/api/v0/pin/add?arg=${cid}&wait=committed&api-auth=bearer:proxy-full`, undefined],
      // A token limited to pin/ls, on other commands and on paths that only look like pin/ls.
      [`/api/v0/pin/add?arg=${cid}&wait=committed`, 'Bearer ls-only'], [`/api/v0/pin/rm?arg=${stored}`, 'Bearer ls-only'], ['/api/v0/id', 'Bearer ls-only'],
      [`/api/v0/pin/ls/../rm?arg=${stored}`, 'Bearer ls-only'], [`/api/v0/pin/ls/%2e%2e/add?arg=${cid}&wait=committed`, 'Bearer ls-only'],
      [`/api/v0/pin/ls/x/../../rm?arg=${stored}`, 'Bearer ls-only'], [`/api/v0/pin/ls\\..\\rm?arg=${stored}`, 'Bearer ls-only'],
      [`/api/v0/pin/lsx/../rm?arg=${stored}`, 'Bearer ls-only'], ['/api/v0/add', 'Bearer ls-only', 'upload']
    ]
    for (const [path, authorization, kind] of attempts) {
      const headers: Record<string, string> = authorization !== undefined ? { authorization } : {}
      let body: Buffer | undefined
      if (kind === 'upload') {
        const m = multipart([{ filename: 'x.txt', content: `proxy auth ${Date.now()}` }])
        headers['content-type'] = m.contentType
        body = m.body
      }
      const r = await rawPost(p.proc.proxyUrl, path, headers, body)
      refused(r, 403, `${path} with ${JSON.stringify(authorization)}`)
      assert.match(r.body.toString(), /^Kubo RPC Access Denied/)
    }
    // The limited token still does what it may, and the full one everything.
    assert.equal((await httpRequest(`${p.proc.proxyUrl}/api/v0/pin/ls?arg=${stored}`, { headers: { authorization: 'Bearer ls-only' } })).status, 200)
    assert.equal((await httpRequest(`${p.proc.proxyUrl}/api/v0/id`, { headers: { authorization: FULL } })).status, 200)
    assert.deepEqual(await pinset(), before)
  })

  test('proxy: a percent-encoded command path is still the cluster\'s command, not a pin behind its back', async (t) => {
    begin(t, 'proxy intercept')
    const cid = (await kubo.cli(['block', 'put'], { input: `encoded path ${Date.now()}` })).stdout.trim()
    const r = await rawPost(p.proc.proxyUrl, `/api/v0/pin%2Fadd?arg=${cid}`, { authorization: FULL })
    assert.equal(r.status, 200, r.body.toString())
    attempt((await pinset()).includes(cid))
    assert.ok((await pinset()).includes(cid), 'pin%2Fadd pinned in Kubo without the cluster knowing')
    const rm = await rawPost(p.proc.proxyUrl, `/api/v0/%70in/rm?arg=${cid}`, { authorization: FULL })
    assert.equal(rm.status, 200, rm.body.toString())
    attempt(!(await pinset()).includes(cid))
    assert.ok(!(await pinset()).includes(cid), '%70in/rm unpinned in Kubo alone')
  })

  test('browser checks: cross-origin POSTs are refused like Kubo refuses them, on reads and writes', async (t) => {
    begin(t, 'browser origin')
    const before = await pinset()
    const cid = fresh[2] as string
    const port = new URL(p.proc.proxyUrl).port
    const evil: Array<Record<string, string>> = [
      { origin: 'http://evil.example' }, { origin: 'null' }, { origin: `http://localhost:${port}.evil.example` },
      { origin: `http://evil.example:${port}` }, { origin: `https://localhost:${Number(port) + 1}` }, { origin: `http://localhost:${port}`, referer: 'http://evil.example/' },
      { referer: `http://evil.example/?x=http://localhost:${port}/` }, { 'user-agent': MOZILLA }, { origin: 'http://evil.example', 'user-agent': `${MOZILLA} Electron/30.0.0` }
    ]
    for (const path of [`/api/v0/pin/add?arg=${cid}&wait=committed`, `/api/v0/pin/rm?arg=${stored}`, '/api/v0/id', '/api/v0/pin/ls']) {
      for (const h of evil) {
        const r = await httpRequest(`${p.proc.proxyUrl}${path}`, { headers: { authorization: FULL, ...h } })
        refused(r, 403, `${path} with ${JSON.stringify(h)}`)
        assert.equal(r.body.toString(), '403 - Forbidden\n')
      }
    }
    // A preflight from a foreign origin is answered without any CORS grant.
    const pre = await httpRequest(`${p.proc.proxyUrl}/api/v0/pin/add`, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } })
    assert.equal(pre.headers['access-control-allow-origin'], undefined)
    // The proxy's own origin is allowed (so the refusals above are the origin check's doing).
    const own = await httpRequest(`${p.proc.proxyUrl}/api/v0/pin/ls`, { headers: { authorization: FULL, origin: `http://127.0.0.1:${port}`, 'user-agent': MOZILLA } })
    assert.equal(own.status, 200, own.body.toString())
    assert.deepEqual(await pinset(), before)
  })
})

after(() => {
  const parts = Object.entries(figures).map(([k, f]) => `${k} ${f.refused}/${f.attempts}`)
  console.log(`security: attacks refused per area: ${parts.join(', ')}`)
})

/** A POST whose path goes out byte for byte (a URL string would have its `..` and `\\` resolved by the client). */
async function rawPost (base: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<RawResponse> {
  const u = new URL(base)
  return await new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'POST', headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (d: Buffer) => chunks.push(d))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), trailers: res.trailers }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}
