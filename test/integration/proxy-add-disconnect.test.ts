import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { randomBytes } from 'node:crypto'
import { startKubos, type KuboDaemon } from '../fixtures/kubo.js'
import { startCluster, waitForMesh, FAST_CLUSTER_ARGS, type TestPeer } from '../fixtures/cluster.js'
import { startHttpRelay, type HttpRelay } from '../fixtures/http-relay.js'
import { httpRequest } from '../fixtures/http.js'
import { waitFor } from '../fixtures/wait-for.js'

const ADD = '/api/v0/add'
const BOUNDARY = 'pinmeshdisconnect'

/**
 * Streams a multipart `add` of a never-ending file to `url` in 64 KiB chunks, a few at a time, and
 * destroys the request once `abortAfter` bytes are written and `ready()` holds. Resolves when the
 * client's side is gone.
 */
async function uploadThenVanish (url: string, abortAfter: number, ready: () => boolean): Promise<number> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'transfer-encoding': 'chunked' } })
    req.on('response', (res) => { res.resume() })
    let sent = 0
    let gone = false
    req.on('error', (err) => { if (!gone) reject(err) })
    req.write(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`)
    const chunk = randomBytes(64 << 10)
    const pump = (): void => {
      if (sent >= abortAfter && ready()) { gone = true; req.destroy(); resolve(sent); return }
      if (sent >= abortAfter * 16) { gone = true; req.destroy(); reject(new Error(`the upload did not reach Kubo after ${sent} bytes`)); return }
      // Slowly: at most 4 chunks per tick, and never past the socket's buffer.
      for (let i = 0; i < 4; i++) {
        sent += chunk.length
        if (!req.write(chunk)) { req.once('drain', () => setTimeout(pump, 5)); return }
      }
      setTimeout(pump, 5)
    }
    pump()
  })
}

async function assertStillServes (peer: TestPeer): Promise<void> {
  const v = await httpRequest(`${peer.proc.proxyUrl}/api/v0/version`)
  assert.equal(v.status, 200)
  assert.ok(typeof (JSON.parse(v.body.toString()) as { Version?: string }).Version === 'string')
  assert.equal(await peer.admin.health(), true)
}

async function withRelayedCluster (n: number, fn: (peers: TestPeer[], relays: HttpRelay[]) => Promise<void>): Promise<void> {
  const kubos: KuboDaemon[] = await startKubos(n)
  const relays = await Promise.all(kubos.map(async k => await startHttpRelay(k.apiUrl)))
  let peers: TestPeer[] = []
  try {
    peers = await startCluster(n, { kuboApis: relays.map(r => r.url), args: FAST_CLUSTER_ARGS })
    await waitForMesh(peers)
    await fn(peers, relays)
  } finally {
    await Promise.all(peers.map(async p => { await p.proc.destroy() }))
    await Promise.all(relays.map(async r => { await r.close() }))
    await Promise.all(kubos.map(async k => { await k.destroy() }))
  }
}

test('a client that disconnects in the middle of an add upload leaves no add request open to Kubo', async () => {
  await withRelayedCluster(1, async ([peer], [relay]) => {
    assert.ok(peer !== undefined && relay !== undefined)
    assert.equal(relay.received(ADD), 0)
    const sent = await uploadThenVanish(`${peer.proc.proxyUrl}${ADD}?pin=false`, 5 << 20, () => relay.bodyBytes(ADD) >= 1 << 20)
    assert.ok(sent >= 5 << 20)
    assert.equal(relay.received(ADD), 1, 'the upload reached Kubo through pinmesh')
    await waitFor(() => relay.inFlight(ADD) === 0, { timeoutMs: 10_000, message: 'no add request open to Kubo after the client left' })
    await assertStillServes(peer)
  })
})

test('with replication 2, a client that disconnects mid-upload leaves no add request open to either Kubo', async () => {
  await withRelayedCluster(2, async (peers, relays) => {
    const [first] = peers
    assert.ok(first !== undefined)
    const flowing = (): boolean => relays.every(r => r.bodyBytes(ADD) >= 1 << 20)
    await uploadThenVanish(`${first.proc.proxyUrl}${ADD}?pin=false&replication=2`, 5 << 20, flowing)
    for (const r of relays) assert.equal(r.received(ADD), 1, 'the upload reached both Kubos')
    await waitFor(() => relays.every(r => r.inFlight(ADD) === 0), { timeoutMs: 10_000, message: 'no add request open to either Kubo after the client left' })
    for (const p of peers) await assertStillServes(p)
  })
})
