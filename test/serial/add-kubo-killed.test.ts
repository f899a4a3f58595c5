import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { randomBytes } from 'node:crypto'
import { hasDag, type KuboDaemon } from '../fixtures/kubo.js'
import { kuboClusterPerFile, type TestPeer } from '../fixtures/cluster.js'
import { waitFor } from '../fixtures/wait-for.js'

// Runs alone (test/serial): it pushes 200 MB into 3 Kubos and kills one of them midway.

const cluster = kuboClusterPerFile(3)

const A = (): TestPeer => cluster.peers[0] as TestPeer


/** Streams `size` random bytes as a one-file multipart add; calls `at` once `atBytes` were written. */
async function bigAdd (url: string, size: number, at?: { bytes: number, fn: () => Promise<void> }): Promise<{ status: number, lines: string[], trailer?: string }> {
  return await new Promise((resolve, reject) => {
    // A bound well under the runner's timeout, so a stuck upload fails here with its own message.
    const req = request(url, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=bigboundary' }, signal: AbortSignal.timeout(300_000) }, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, lines: body.split('\n').filter(l => l !== ''), trailer: res.trailers['x-stream-error'] }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.write('--bigboundary\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n')
    let sent = 0
    let fired = false
    const chunk = randomBytes(1 << 20)
    const pump = async (): Promise<void> => {
      while (sent < size) {
        const n = Math.min(chunk.length, size - sent)
        sent += n
        const ok = req.write(chunk.subarray(0, n))
        if (at !== undefined && !fired && sent >= at.bytes) { fired = true; await at.fn() }
        // Not `ok`: the drain may have come while `at` ran, and would then be waited for in vain.
        if (!ok && req.writableNeedDrain) await new Promise(resolve => req.once('drain', resolve))
      }
      req.end('\r\n--bigboundary--\r\n')
    }
    pump().catch(reject)
  })
}

test('a destination Kubo killed mid-upload (200 MB, replication 1..3): the add succeeds on 2, the third copy comes back with its Kubo', async () => {
  const c = cluster.peers[2] as TestPeer
  const victim = cluster.kubos[2] as KuboDaemon
  const res = await bigAdd(`${A().proc.proxyUrl}/api/v0/add?replication-min=1&replication-max=3&cid-version=1&raw-leaves=true`, 200 << 20, {
    bytes: 60 << 20,
    fn: async () => { await victim.kill() }
  })
  assert.equal(res.status, 200)
  assert.equal(res.trailer, undefined, `no stream error: ${res.trailer}`)
  const root = (JSON.parse(res.lines.at(-1) as string) as { Hash: string }).Hash
  const status = await A().admin.status(root)
  assert.equal(status.allocations.length, 3)
  // The two completed destinations hold every block already; their trackers' pins only walk it.
  for (const k of [cluster.kubos[0], cluster.kubos[1]] as KuboDaemon[]) assert.equal(await hasDag(k, root), true)
  const holders = await waitFor(async () => {
    const s = await A().admin.status(root)
    const pinned = Object.entries(s.peerMap).filter(([, i]) => i.status === 'pinned').map(([id]) => id)
    return pinned.length === 2 ? pinned : undefined
  }, { timeoutMs: 30_000, message: '2 holders' })
  assert.ok(!holders.includes(c.proc.peerId))
  await victim.restart()
  await waitFor(async () => (await A().admin.status(root)).peerMap[c.proc.peerId]?.status === 'pinned', { timeoutMs: 120_000, intervalMs: 500, message: 'third copy restored' })
  assert.equal(await hasDag(victim, root), true)
})
