import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startPinmesh, newSecret } from '../fixtures/pinmesh.js'
import { peerOf, waitForPinCount, type TestPeer } from '../fixtures/cluster.js'
import { makeCids } from '../fixtures/cids.js'
import { waitFor } from '../fixtures/wait-for.js'

// Only peers with the cluster secret connect; only trusted peers change the pinset.

const FAST_SYNC = ['--pinset-sync-interval', '500ms']

async function connectedIds (p: TestPeer): Promise<string[]> {
  return (await p.admin.peers()).filter(x => x.connected).map(x => x.id)
}

test('a peer with a wrong or missing secret gets no connection and no data, either way', async (t) => {
  const secret = newSecret()
  const a = peerOf(await startPinmesh({ secret, args: FAST_SYNC }))
  const wrong = peerOf(await startPinmesh({ secret: newSecret(), bootstrap: a.proc.swarmAddrs, args: FAST_SYNC }))
  const none = peerOf(await startPinmesh({ bootstrap: a.proc.swarmAddrs, args: FAST_SYNC }))
  // A control peer with the right secret proves the setup would replicate.
  const good = peerOf(await startPinmesh({ secret, bootstrap: a.proc.swarmAddrs, args: FAST_SYNC }))
  t.after(async () => { await Promise.all([a, wrong, none, good].map(async p => { await p.proc.destroy() })) })

  const [fromA, fromWrong, fromNone] = await makeCids(3, 'secret')
  await a.admin.pin(fromA as string)
  await wrong.admin.pin(fromWrong as string)
  await none.admin.pin(fromNone as string)
  await waitForPinCount(good.admin, 1)
  // Several anti-entropy rounds and redials later, still nothing crossed.
  await waitFor(async () => ((await good.admin.pinsetStats()).syncs ?? 0) >= 4, { timeoutMs: 15_000 })
  assert.deepEqual((await a.admin.pinsetStats()).pins, 1)
  assert.deepEqual((await wrong.admin.pinsetStats()).pins, 1)
  assert.deepEqual((await none.admin.pinsetStats()).pins, 1)
  assert.ok(!(await connectedIds(a)).includes(wrong.proc.peerId))
  assert.ok(!(await connectedIds(a)).includes(none.proc.peerId))
  assert.deepEqual(await connectedIds(wrong), [])
  assert.deepEqual(await connectedIds(none), [])
  assert.ok((await connectedIds(a)).includes(good.proc.peerId))
})

test("an untrusted peer with the secret follows the pinset, but its writes never reach trusted peers", async (t) => {
  const secret = newSecret()
  // First runs only create the identities, so that the trusted list can name them.
  const a0 = await startPinmesh({ secret })
  const b0 = await startPinmesh({ secret })
  const u0 = await startPinmesh({ secret })
  const ids = { a: a0.peerId, b: b0.peerId, u: u0.peerId }
  await Promise.all([a0.stop(), b0.stop(), u0.stop()])
  const trustedPeers = [ids.a, ids.b]
  const a = peerOf(await startPinmesh({ secret, trustedPeers, path: a0.path, args: FAST_SYNC }))
  const b = peerOf(await startPinmesh({ secret, trustedPeers, path: b0.path, bootstrap: a.proc.swarmAddrs, args: FAST_SYNC }))
  const u = peerOf(await startPinmesh({ secret, trustedPeers, path: u0.path, bootstrap: [...a.proc.swarmAddrs, ...b.proc.swarmAddrs], args: FAST_SYNC }))
  t.after(async () => { await Promise.all([a, b, u].map(async p => { await p.proc.destroy() })) })
  assert.equal(u.proc.peerId, ids.u)

  const [byA, byU, byB] = await makeCids(3, 'trust')
  await u.admin.pin(byU as string)
  await a.admin.pin(byA as string)
  await b.admin.pin(byB as string)
  // The follower sees the trusted writes (gossip and catch-up)…
  await waitForPinCount(u.admin, 3)
  await waitForPinCount(a.admin, 2)
  await waitForPinCount(b.admin, 2)
  // …and after several sync rounds in both directions its own write is still nowhere else.
  await waitFor(async () => ((await a.admin.pinsetStats()).syncs ?? 0) >= 6 && ((await b.admin.pinsetStats()).syncs ?? 0) >= 6, { timeoutMs: 20_000 })
  for (const p of [a, b]) {
    await assert.rejects(p.admin.allocation(byU as string), /not in the cluster pinset/)
    assert.equal((await p.admin.pinsetStats()).pins, 2)
  }
  assert.match(a.proc.output() + b.proc.output(), /ignoring pinset changes from an untrusted peer/)
})
