import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { randomBytes } from 'node:crypto'
import { startKubos } from '../fixtures/kubo.js'
import { startCluster, waitForMesh, FAST_CLUSTER_ARGS, type TestPeer } from '../fixtures/cluster.js'

// A 1 GiB add through pinmesh is streamed, never held: the RSS of the peer the client talks to
// and of the peer it forwards to over libp2p grows by at most 64 MB over idle.

const GIB = 1 << 30
const LIMIT = 64 * 1024 * 1024

test('a 1 GiB add through pinmesh grows pinmesh RSS by at most 64 MB', async (t) => {
  const kubos = await startKubos(2)
  const peers = await startCluster(2, { kuboApis: kubos.map(k => k.apiMultiaddr), args: FAST_CLUSTER_ARGS })
  t.after(async () => {
    await Promise.all(peers.map(async p => { await p.proc.destroy() }))
    await Promise.all(kubos.map(async k => { await k.destroy() }))
  })
  await waitForMesh(peers)
  const [a, b] = [peers[0], peers[1]] as [TestPeer, TestPeer]
  // Idle means after start-up work is done: one small add first loads and warms the upload path.
  assert.equal((await addRandom(a.proc.proxyUrl, 16 << 20)).status, 200)
  await new Promise(resolve => setTimeout(resolve, 1000))
  const idle = { a: await a.proc.rss(), b: await b.proc.rss() }
  const peak = { ...idle }
  const sampler = setInterval(() => {
    void a.proc.rss().then(v => { peak.a = Math.max(peak.a, v) }).catch(() => {})
    void b.proc.rss().then(v => { peak.b = Math.max(peak.b, v) }).catch(() => {})
  }, 100)
  try {
    const res = await addRandom(a.proc.proxyUrl, GIB)
    assert.equal(res.status, 200)
    assert.equal(res.trailer, undefined)
    assert.match(res.last, /"Name":"gib.bin","Hash":"bafy/)
  } finally {
    clearInterval(sampler)
  }
  const growth = { a: peak.a - idle.a, b: peak.b - idle.b }
  t.diagnostic(`RSS idle ${Math.round(idle.a / 1048576)}/${Math.round(idle.b / 1048576)} MiB, growth ${Math.round(growth.a / 1048576)}/${Math.round(growth.b / 1048576)} MiB (receiving peer / remote destination)`)
  assert.ok(growth.a <= LIMIT, `receiving peer grew ${growth.a} B`)
  assert.ok(growth.b <= LIMIT, `remote destination peer grew ${growth.b} B`)
})

/** Streams `size` random bytes into /api/v0/add with replication 2 (this peer and one over libp2p). */
async function addRandom (proxyUrl: string, size: number): Promise<{ status: number, last: string, trailer?: string }> {
  return await new Promise((resolve, reject) => {
    const req = request(`${proxyUrl}/api/v0/add?replication=2&cid-version=1&raw-leaves=true&pin=false`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=gib' } }, (r) => {
      let last = ''
      let rest = ''
      r.on('data', (d: Buffer) => { rest += d.toString(); const lines = rest.split('\n'); rest = lines.pop() ?? ''; if (lines.length > 0) last = lines.at(-1) as string })
      r.on('end', () => { resolve({ status: r.statusCode ?? 0, last, trailer: r.trailers['x-stream-error'] }) })
      r.on('error', reject)
    })
    req.on('error', reject)
    req.write('--gib\r\nContent-Disposition: form-data; name="file"; filename="gib.bin"\r\nContent-Type: application/octet-stream\r\n\r\n')
    const chunk = randomBytes(4 << 20)
    let sent = 0
    const pump = (): void => {
      while (sent < size) {
        const n = Math.min(chunk.length, size - sent)
        sent += n
        if (!req.write(chunk.subarray(0, n))) { req.once('drain', pump); return }
      }
      req.end('\r\n--gib--\r\n')
    }
    pump()
  })
}
