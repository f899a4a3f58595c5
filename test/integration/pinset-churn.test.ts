import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startPinmesh } from '../fixtures/pinmesh.js'
import { startCluster, peerOf, waitForPinCount, waitForMesh, type TestPeer } from '../fixtures/cluster.js'
import { makeCids } from '../fixtures/cids.js'
import { waitFor } from '../fixtures/wait-for.js'
import { shardOf } from '../../src/pinset/index.js'

// Heavy pin/unpin churn must not leave the pinset bigger than a fresh one of the same live size:
// the compaction leader rebuilds it as a new epoch and every peer moves to it.

// A short removal memory (see ShardedPinSet.removeWins), so that its lapse can be seen before the figures are taken.
// The log is folded into the state as soon as it outgrows it (by default only past 8 MiB), so that the disk figure
// is the state's: an update received after the new epoch (seen once: a whole state's worth) otherwise sits in the log.
// 64 shards: every shard here is churned and rebuilt, and the test is about what a rebuild leaves, not
// about how fast 1,024 rebuilds spread (under CI's load that took over 3 minutes; see the README).
const ARGS = ['--pinset-shards', '64', '--pinset-compact-check-interval', '500ms', '--pinset-compact-min-interval', '0s', '--pinset-sync-interval', '1s', '--pinset-remove-wins', '5s', '--pinset-compact-log-bytes', '4096']
const ENV = { NODE_OPTIONS: '--expose-gc' }

interface Figures { heap: number, disk: number, catchUp: number, structs: number }

async function figures (peer: TestPeer, joiner: TestPeer, baselineHeap: number): Promise<Figures> {
  const s = await peer.admin.pinsetStats()
  const j = await joiner.admin.pinsetStats()
  return { heap: (s.heapUsed ?? 0) - baselineHeap, disk: (s.stateBytes ?? 0) + (s.logBytes ?? 0), catchUp: j.syncBytesIn ?? 0, structs: s.structs ?? 0 }
}

test('100,000 pins then 90,000 unpins: memory, disk and catch-up stay within 2x of a fresh 10,000-pin set', async (t) => {
  const all = await makeCids(100_000, 'churn')
  const keep = all.filter((_, i) => i % 10 === 0)
  const gone = all.filter((_, i) => i % 10 !== 0)

  // Every pin is allocated to the last peer of each cluster, so the measured peers' trackers hold no
  // operations (no Kubo here) and the figures are the pinset's own.
  const churned = await startCluster(3, { args: ARGS, env: ENV })
  // The same size as the churned cluster: a joiner may fetch the state from each peer it meets
  // while its first exchange is still running, so the two joiners must meet as many peers.
  const fresh = await startCluster(3, { args: ARGS, env: ENV })
  await waitForMesh(churned)
  await waitForMesh(fresh)
  const empty = peerOf(await startPinmesh({ args: ARGS, env: ENV }))
  const joiners: TestPeer[] = []
  t.after(async () => { await Promise.all([...churned, ...fresh, empty, ...joiners].map(async p => { await p.proc.destroy() })) })

  const [a, b, holder] = [churned[0], churned[1], churned[2]] as [TestPeer, TestPeer, TestPeer]
  const [f, freshHolder] = [fresh[0], fresh[2]] as [TestPeer, TestPeer]
  const to = (peer: TestPeer) => (cid: string) => ({ cid, replicationMin: 1, replicationMax: 1, userAllocations: [peer.proc.peerId] })
  assert.equal(await a.admin.pinMany(all.map(to(holder))), 100_000)
  await waitForPinCount(b.admin, 100_000, 60_000)
  assert.equal(await a.admin.unpinMany(gone), 90_000)
  assert.equal(await f.admin.pinMany(keep.map(to(freshHolder))), 10_000)
  await waitForPinCount(b.admin, 10_000, 60_000)

  // The leader rebuilds; both peers end on the new epoch with the same 10,000 pins.
  await waitFor(async () => {
    const [sa, sb, sh] = await Promise.all([a.admin.pinsetStats(), b.admin.pinsetStats(), holder.admin.pinsetStats()])
    return (sa.epoch ?? 0) >= 1 && sb.epoch === sa.epoch && sh.epoch === sa.epoch && sa.pins === 10_000 && sb.pins === 10_000
  }, { timeoutMs: 180_000, message: 'the churned peers on a new epoch' })
  for (const cid of [keep[0], keep[5000], keep[9999]] as string[]) assert.equal((await b.admin.allocation(cid)).cid, cid)
  await assert.rejects(b.admin.allocation(gone[123] as string), /not in the cluster pinset/)

  const joinChurned = peerOf(await startPinmesh({ secret: churned.secret, bootstrap: a.proc.swarmAddrs, args: ARGS, env: ENV }))
  const joinFresh = peerOf(await startPinmesh({ secret: fresh.secret, bootstrap: f.proc.swarmAddrs, args: ARGS, env: ENV }))
  joiners.push(joinChurned, joinFresh)
  await waitForPinCount(joinChurned.admin, 10_000)
  await waitForPinCount(joinFresh.admin, 10_000)

  // The 90,000 removals are remembered for a while (about 40 bytes each), then forgotten.
  await waitFor(async () => (await b.admin.pinsetStats()).removalsRemembered === 0, { timeoutMs: 30_000, intervalMs: 500, message: 'the removal memory lapsed' })
  // Both measured peers read a pin of every shard, so that both hold every shard decoded: a peer that
  // only ever wrote new pins holds its shards undecoded (see ShardSketch), which would compare a decoded
  // churned pinset with an undecoded fresh one.
  const oneOfEachShard = [...new Map(keep.map(cid => [shardOf(cid, 64), cid])).values()]
  assert.equal(oneOfEachShard.length, 64)
  for (const cid of oneOfEachShard) { await b.admin.allocation(cid); await f.admin.allocation(cid) }
  const baseline = (await empty.admin.pinsetStats()).heapUsed ?? 0
  const c = await figures(b, joinChurned, baseline)
  const fr = await figures(f, joinFresh, baseline)
  t.diagnostic(`churned: ${JSON.stringify(c)}; fresh: ${JSON.stringify(fr)}; baseline heap ${baseline}`)
  t.diagnostic(`churned peer's pinset: ${JSON.stringify(await b.admin.pinsetStats())}; fresh peer's: ${JSON.stringify(await f.admin.pinsetStats())}`)
  assert.ok(c.heap <= 2 * fr.heap, `heap ${c.heap} vs ${fr.heap}`)
  assert.ok(c.disk <= 2 * fr.disk, `disk ${c.disk} vs ${fr.disk}`)
  assert.ok(c.catchUp <= 2 * fr.catchUp, `catch-up ${c.catchUp} vs ${fr.catchUp}`)
})
