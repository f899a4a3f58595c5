import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startPinmesh, newSecret } from '../fixtures/pinmesh.js'
import { startCluster, peerOf, waitForPinCount, type TestPeer } from '../fixtures/cluster.js'
import { makeCids } from '../fixtures/cids.js'
import { waitFor } from '../fixtures/wait-for.js'

// pinmesh peers as separate OS processes on 127.0.0.1, replicating the pinset over libp2p.

async function destroyAll (peers: TestPeer[]): Promise<void> {
  await Promise.all(peers.map(async p => { await p.proc.destroy() }))
}

async function hasPin (p: TestPeer, cid: string): Promise<boolean> {
  try { await p.admin.allocation(cid); return true } catch { return false }
}

test('3 peers converge on a pin written at any of them; a 4th peer started later catches up', async (t) => {
  const peers = await startCluster(3)
  t.after(async () => { await destroyAll(peers) })
  const cids = await makeCids(3, 'any-writer')
  for (let i = 0; i < 3; i++) {
    const writer = peers[i] as TestPeer
    const pinned = await writer.admin.pin(cids[i] as string, { name: `from-${i}`, 'meta-origin': `${i}` })
    assert.equal(pinned.cid, cids[i])
    for (const p of peers) {
      await waitFor(async () => await hasPin(p, cids[i] as string), { timeoutMs: 10_000, message: `pin ${i} at ${p.proc.peerId}` })
      const rec = await p.admin.allocation(cids[i] as string)
      assert.equal(rec.name, `from-${i}`)
      assert.deepEqual(rec.metadata, { origin: `${i}` })
      assert.equal(rec.updatedBy, writer.proc.peerId)
    }
  }
  const late = peerOf(await startPinmesh({ secret: peers.secret, bootstrap: peers[2]?.proc.swarmAddrs }))
  peers.push(late)
  await waitForPinCount(late.admin, 3)
  for (const cid of cids) assert.ok(await hasPin(late, cid))
})

test('100,000 pins written in bulk at one peer converge on 3 peers', async (t) => {
  const peers = await startCluster(3)
  t.after(async () => { await destroyAll(peers) })
  const cids = await makeCids(100_000, 'bulk')
  const started = Date.now()
  assert.equal(await peers[0]?.admin.pinMany(cids), 100_000)
  await Promise.all(peers.map(async p => { await waitForPinCount(p.admin, 100_000, 120_000) }))
  t.diagnostic(`100k pins written and converged on 3 peers in ${Date.now() - started} ms`)
  // Spot-check records, not just counts.
  for (const cid of [cids[0], cids[54_321], cids[99_999]] as string[]) {
    for (const p of peers) assert.equal((await p.admin.allocation(cid)).cid, cid)
  }
})

test('kill -9 right after 1,000 acknowledged writes loses none of them', async (t) => {
  const proc = await startPinmesh({ secret: newSecret() })
  const peer = peerOf(proc)
  t.after(async () => { await proc.destroy() })
  const cids = await makeCids(1000, 'durable')
  // Separate requests, 16 at a time, each acknowledged before it counts.
  let next = 0
  const acked: string[] = []
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < cids.length) {
      const cid = cids[next++] as string
      await peer.admin.pin(cid)
      acked.push(cid)
    }
  }))
  assert.equal(acked.length, 1000)
  await proc.kill()
  await proc.restart()
  const back = peerOf(proc)
  assert.equal((await back.admin.pinsetStats()).pins, 1000)
  for (const cid of acked) assert.ok(await hasPin(back, cid), `${cid} survived`)
})
