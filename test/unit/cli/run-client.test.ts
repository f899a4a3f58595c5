import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runClient } from '../../../src/cli/index.js'

// The CLI end to end in-process, against a loopback server answering like the admin API.

interface Seen { method: string, url: string, authorization?: string, contentType?: string, body: string }
let server: Server
let base: string
let seen: Seen[] = []
let dir: string
let pinStatus = 'pinned'

const self = { id: 'P1', peername: 'peer1', clusterName: 'pinmesh', addresses: ['/ip4/127.0.0.1/tcp/9096/p2p/P1'], version: '0.1.0', trusted: true }
const peers = [{ id: 'P2', peername: 'peer2', addresses: [], connected: true, alive: true }]
const gpi = (cid: string, status: string): unknown => ({
  cid, name: 'n', allocations: [], replicationMin: -1, replicationMax: -1,
  peerMap: {
    P1: { cid, peer: 'P1', status: 'pinned', attempts: 0, priority: false, updatedAt: 0 },
    P2: { cid, peer: 'P2', status, attempts: 1, priority: false, updatedAt: 0, ...(status === 'pin_error' ? { error: 'kubo said no' } : {}) }
  }
})

async function readBody (req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString()
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pinmesh-cli-'))
  await writeFile(join(dir, 'a.txt'), 'x'.repeat(3000))
  server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req)
      const url = new URL(req.url ?? '/', 'http://x')
      seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, contentType: req.headers['content-type'], body })
      const json = (status: number, v: unknown): void => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(v)) }
      const route = `${req.method} ${url.pathname === '/prefix/add' ? url.pathname : url.pathname.replace(/^\/prefix\//, '/')}`
      if (route === 'GET /id') return json(200, self)
      if (route === 'GET /peers') return json(200, peers)
      if (route === 'GET /pins/Qm1') return json(200, gpi('Qm1', pinStatus))
      if (route === 'GET /pins/QmMissing') return json(404, { code: 'ERR_PIN_NOT_FOUND', message: 'QmMissing is not in the cluster pinset' })
      if (route === 'POST /pins/Qm1') return json(200, { cid: 'Qm1' })
      if (route === 'GET /secret/id') return req.headers.authorization === undefined ? json(401, { code: 'ERR_UNAUTHORIZED', message: 'unauthorized' }) : json(200, self)
      if (route === 'POST /prefix/add') {
        res.writeHead(200, { 'content-type': 'application/x-ndjson', trailer: 'X-Stream-Error' })
        if (url.searchParams.get('progress') === 'true') res.write('{"Name":"a.txt","Bytes":1500}\n{"Name":"a.txt","Bytes":3000}\n')
        res.write('{"Name":"a.txt","Hash":"QmFile","Size":"3011"}\n')
        res.write(url.searchParams.get('wrap-with-directory') === 'true' ? '{"Name":"","Hash":"QmWrap","Size":"3100"}\n' : '{"Name":"dir","Hash":"QmDir","Size":"3100"}\n')
        res.addTrailers({ 'X-Stream-Error': url.searchParams.get('chunker') === 'fail' ? 'upload to peer2 failed' : '' })
        res.end()
        return
      }
      if (['GET /pins/QmDir', 'GET /pins/QmFile', 'GET /pins/QmWrap'].includes(route)) return json(200, gpi(route.slice('GET /pins/'.length), 'pinned'))
      json(404, { code: 'ERR_NOT_FOUND', message: `no such endpoint: ${req.method} ${url.pathname}` })
    })()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
after(async () => {
  server.closeAllConnections()
  await new Promise<void>(resolve => server.close(() => { resolve() }))
  await rm(dir, { recursive: true, force: true })
})

async function run (argv: string[], options: { env?: Record<string, string>, tty?: boolean } = {}): Promise<{ code: number, stdout: string, stderr: string }> {
  let stdout = ''
  let stderr = ''
  seen = []
  const code = await runClient(argv, {
    env: { PINMESH_HOST: base, ...options.env },
    io: { stdout: { write: (s: string) => { stdout += s } }, stderr: { write: (s: string) => { stderr += s }, isTTY: options.tty === true, columns: 80 } }
  })
  return { code, stdout, stderr }
}

test('status prints each peer by name in upper case; exit code 0', async () => {
  pinStatus = 'pinned'
  const r = await run(['status', 'Qm1'])
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /^Qm1 \| n:\n {4}> peer1 {16}: PINNED \| .*\n {4}> peer2 {16}: PINNED \| .*Attempts: 1/)
})

test('an admin API error is printed as "pinmesh: <message> (<code>)" with exit code 1', async () => {
  const r = await run(['status', 'QmMissing'])
  assert.deepEqual(r, { code: 1, stdout: '', stderr: 'pinmesh: QmMissing is not in the cluster pinset (ERR_PIN_NOT_FOUND)\n' })
})

test('pin add sends the pin options as query parameters and prints the status; --json prints the API object', async () => {
  const r = await run(['pin', 'add', 'Qm1', '--replication', '2', '--meta', 'a=b', '--name', 'my pin', '--json'])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(seen[0]?.url, '/pins/Qm1?replication=2&name=my+pin&meta-a=b')
  assert.equal(seen[0]?.method, 'POST')
  assert.deepEqual(JSON.parse(r.stdout), gpi('Qm1', 'pinned'))
})

test('--wait fails fast on pin_error: the status on stdout, the reason on stderr, exit code 1', async () => {
  pinStatus = 'pin_error'
  const r = await run(['status', 'Qm1', '--wait'])
  pinStatus = 'pinned'
  assert.equal(r.code, 1)
  assert.match(r.stdout, /> peer2 {16}: PIN_ERROR: kubo said no \|/)
  assert.equal(r.stderr, 'pinmesh: Qm1 is pin_error on peer2: kubo said no\n')
})

test('credentials from flags or PINMESH_CREDENTIALS go in the Authorization header; a 401 hints at them', async () => {
  const denied = await run(['--host', `${base}/secret`, 'id'])
  assert.equal(denied.code, 1)
  assert.match(denied.stderr, /^pinmesh: unauthorized \(ERR_UNAUTHORIZED\) \(check --basic-auth/)
  await run(['id', '--basic-auth', 'u:p'])
  assert.equal(seen[0]?.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`)
  await run(['id'], { env: { PINMESH_CREDENTIALS: 'tok' } })
  assert.equal(seen[0]?.authorization, 'Bearer tok')
})

test('a daemon that is not running gives a clear message', async () => {
  const closed = createServer()
  await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve))
  const port = (closed.address() as AddressInfo).port
  await new Promise<void>(resolve => closed.close(() => { resolve() }))
  for (const cmd of [['health'], ['add', join(dir, 'a.txt')]]) {
    const r = await run(['--host', `/ip4/127.0.0.1/tcp/${port}`, ...cmd])
    assert.equal(r.code, 1)
    assert.match(r.stderr, new RegExp(`^pinmesh: cannot reach the admin API at http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.*is \`pinmesh daemon\` running\\?`))
  }
})

test('usage mistakes exit 1 with a hint', async () => {
  const r = await run(['pin', 'add'])
  assert.deepEqual(r, { code: 1, stdout: '', stderr: "pinmesh: missing CID\nRun 'pinmesh --help' for usage.\n" })
  const w = await run(['status', '--wait'])
  assert.match(w.stderr, /--wait needs a CID/)
})

test('add streams multipart to <host>/add and prints "added <cid> <name>" lines', async () => {
  const r = await run(['--host', `${base}/prefix`, 'add', join(dir, 'a.txt'), '--replication-min', '2', '--cid-version', '1'])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, 'added QmFile a.txt\nadded QmDir dir\n')
  assert.equal(seen[0]?.url, '/prefix/add?replication-min=2&cid-version=1')
  assert.match(seen[0]?.contentType ?? '', /^multipart\/form-data; boundary=-+[0-9a-f]+$/)
  assert.match(seen[0]?.body ?? '', /Content-Disposition: form-data; name="file"; filename="a\.txt"\r\nContent-Type: application\/octet-stream\r\n\r\nxxx/)
  const q = await run(['--host', `${base}/prefix`, 'add', '-Q', join(dir, 'a.txt')])
  assert.equal(q.stdout, 'QmDir\n')
})

test('add on a terminal asks for progress and draws a bar on stderr; --wait then waits for each top-level CID', async () => {
  const r = await run(['--host', `${base}/prefix`, 'add', join(dir, 'a.txt'), '--wait'], { tty: true })
  assert.equal(r.code, 0, r.stderr)
  assert.match(seen[0]?.url ?? '', /progress=true/)
  assert.match(r.stderr, /\[=+>? *\] +\d+% .* a\.txt/)
  assert.match(r.stdout, /^added QmFile a\.txt\nadded QmDir dir\nQmFile \| n:\n/)
})

test('an error in the X-Stream-Error trailer fails the add', async () => {
  const r = await run(['--host', `${base}/prefix`, 'add', join(dir, 'a.txt'), '--chunker', 'fail'])
  assert.equal(r.code, 1)
  assert.equal(r.stderr, 'pinmesh: upload to peer2 failed (ERR_STREAM)\n')
})

test('POST /add missing on the daemon is reported as the API says', async () => {
  const r = await run(['add', join(dir, 'a.txt')])
  assert.equal(r.code, 1)
  assert.equal(r.stderr, 'pinmesh: no such endpoint: POST /add (ERR_NOT_FOUND)\n')
})

test('add -w --local: the cluster options and Kubo options go in the query; --wait waits for the wrapper only', async () => {
  const r = await run(['--host', `${base}/prefix`, 'add', '-w', '--local', '--wait', '--name', 'site', join(dir, 'a.txt')])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(seen[0]?.url, '/prefix/add?name=site&wrap-with-directory=true&local=true')
  assert.deepEqual(seen.filter(s => s.url.startsWith('/prefix/pins/')).map(s => s.url), ['/prefix/pins/QmWrap'])
  assert.match(r.stdout, /^added QmFile a\.txt\nadded QmWrap \nQmWrap \| n:\n/)
})
