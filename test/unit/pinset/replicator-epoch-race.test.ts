import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { shardOf, type ShardedDoc, type ShardId } from '../../../src/pinset/index.js'
import type { PinsetReplicator } from '../../../src/pinset/sync/index.js'
import { planSync } from '../../../src/pinset/sync/plan.js'
import { startTestNet, randomSecret } from '../../fixtures/net.js'
import { makeCids } from '../../fixtures/cids.js'
import { waitFor } from '../../fixtures/wait-for.js'
import { pin, openShards, startReplicator, type Shards } from '../../fixtures/pinset-sync.js'

// A peer that moves a shard to another epoch while it is in the middle of a same-epoch exchange of
// that shard must not mix the shard's two documents: the other peer announced, and still holds, the
// old epoch, so a Yjs update of the new document applied to its old one (or of the old one applied
// to the new one) brings in a second copy of every entry, and every tombstone. That copy is then
// carried into the next epoch as the peer's own writes, or makes the new epoch look worth rebuilding
// at once (seen with the protocol 2 replicator in the churn test as a doubled state on disk, a
// second rebuild, and peers whose pin counts disagree). Protocol 3 names the shard's epoch in every
// step: a step 2 of another epoch is not sent (the writer answers a step 1 of another epoch with an
// empty update), nor applied (applyRemote refuses another epoch).

const SHARDS = 4

/**
 * What a shard's document holds: its Yjs clients, its elements (live entries and tombstones, each
 * counted once: a second copy of a document doubles them) and its deleted ranges (pending ones too).
 */
function contentOf (doc: ShardedDoc, shard: ShardId): { clients: number[], elements: number, deleted: number } {
  const { structs, ds } = Y.decodeUpdate(doc.diff(shard, Y.encodeStateVector(new Y.Doc())))
  let deleted = 0
  for (const ranges of ds.clients.values()) deleted += ranges.length
  const elements = structs.reduce((n, s) => n + s.length, 0)
  return { clients: [...Y.decodeStateVector(doc.stateVector(shard)).keys()].sort(), elements, deleted }
}

interface Race {
  a: Shards
  b: Shards
  /** The shard B rebuilds: the one where B holds a pin A lacks, so that the exchange settles it. */
  target: ShardId
  /** B's live pins. */
  cids: string[]
  /** Times B rebuilt a shard. */
  rebuilds: () => number
  /** Syncs A with B, B rebuilding `target` as a new epoch at the point `when` chose. */
  race: () => Promise<void>
  /** Syncs A with B (no race). */
  sync: () => Promise<void>
}

/**
 * A and B with the same 25 live pins and 25 tombstones in epoch 0 of every shard, then a pin B
 * takes while its replicator is away (so only an exchange brings it to A); `when` says where, in
 * the next exchange, B rebuilds that pin's shard.
 */
async function racePair (t: TestContext, when: 'after-hello' | 'after-step1'): Promise<Race> {
  const secret = randomSecret()
  const netA = await startTestNet(t, { secret })
  const netB = await startTestNet(t, { secret })
  const a = await openShards(t, SHARDS)
  const b = await openShards(t, SHARDS)
  const all = await makeCids(51, 'race')
  const cids = all.slice(0, 50)
  const extra = all[50] as string
  const target = shardOf(extra, SHARDS)
  await a.put(cids.map(c => pin(c)))
  await a.remove(cids.slice(0, 25))
  assert.ok(cids.slice(0, 25).some(c => shardOf(c, SHARDS) === target), 'the rebuilt shard has tombstones')

  const ra = await startReplicator(t, netA, a)
  const first = await startReplicator(t, netB, b)
  await netB.connect(netA.addresses()[0] as string)
  const sync = async (): Promise<void> => { await ra.syncWith(netB.peerId) }
  await sync()
  await waitFor(() => b.size === 25 && a.size === 25, { message: 'B caught up with A in epoch 0' })
  await first.stop()
  await b.put([pin(extra, 'peerB')])

  let armed = false
  let rebuilds = 0
  const rebuildIf = (point: typeof when, shard = target): void => {
    // As the compaction leader does on its own timer; the switch itself is synchronous.
    if (armed && point === when && shard === target) {
      armed = false
      rebuilds++
      void b.rebuild(target, netB.peerId)
    }
  }
  const racingB: ShardedDoc = {
    shards: b.shards,
    // The exchange takes the summary for its HELLO first.
    summary: () => { const s = b.summary(); rebuildIf('after-hello'); return s },
    epoch: (shard) => b.epoch(shard),
    stateVector: (shard) => { const sv = b.stateVector(shard); rebuildIf('after-step1', shard); return sv },
    diff: (shard, sv) => b.diff(shard, sv),
    applyRemote: (shard, u, from, e) => b.applyRemote(shard, u, from, e),
    hasMissingDependencies: (shard) => b.hasMissingDependencies(shard),
    onLocalUpdate: (fn) => b.onLocalUpdate(fn),
    epochOffer: (shard) => b.epochOffer(shard),
    adoptEpoch: async (shard, o, from) => await b.adoptEpoch(shard, o, from),
    compactionCandidates: (min) => b.compactionCandidates(min),
    rebuild: async (shard, leader) => { rebuilds++; return await b.rebuild(shard, leader) }
  }
  const rb: PinsetReplicator = await startReplicator(t, netB, { doc: racingB })
  assert.equal(rb.stats().syncs, 0)
  return {
    a,
    b,
    target,
    cids: [...cids.slice(25), extra],
    rebuilds: () => rebuilds,
    sync,
    race: async () => {
      armed = true
      await sync()
      assert.equal(armed, false, 'the exchange reached the point where B rebuilds')
      await waitFor(() => b.epoch(target).n === 1, { message: 'B on epoch 1' })
    }
  }
}

/** After settling: both peers on the same epochs, with the same pins and the same documents, after one rebuild. */
function assertSettled (r: Race): void {
  const { a, b, target, cids } = r
  assert.equal(r.rebuilds(), 1, 'exactly one rebuild')
  assert.equal(b.stats().epoch, 1, 'one shard, one epoch ahead')
  const plan = planSync(a.summary(), b.summary())
  assert.equal(plan.exchange.length + plan.adopt.length, 0, 'the summaries agree')
  for (let s = 0; s < SHARDS; s++) assert.deepEqual(a.epoch(s), b.epoch(s), `shard ${s}`)
  assert.deepEqual(a.epoch(target), { n: 1, leader: b.epoch(target).leader })
  assert.equal(a.size, cids.length)
  assert.equal(b.size, cids.length)
  for (const c of cids) assert.ok(a.has(c) && b.has(c), c)
  assert.deepEqual(contentOf(a, target), contentOf(b, target))
  assert.equal(a.stats().structs, b.stats().structs)
  assert.ok(!a.hasMissingDependencies(target) && !b.hasMissingDependencies(target), 'nothing pending')
}

test('a peer that rebuilds a shard after sending its state vector does not send the new epoch\'s diff to a peer of the old one', async (t) => {
  const r = await racePair(t, 'after-step1')
  const { a, b, target, race, sync } = r
  const before = contentOf(a, target)
  await race()
  assert.equal(a.epoch(target).n, 0)
  assert.deepEqual(contentOf(a, target), before, 'A\'s epoch-0 document received structs of B\'s epoch-1 document')
  // A then moves to B's epoch cleanly: nothing to carry (B had all A had), no tombstones.
  const rebuilt = contentOf(b, target)
  assert.equal(rebuilt.clients.length, 1, 'the new epoch is one client\'s document')
  assert.equal(rebuilt.deleted, 0, 'B\'s epoch-1 document took tombstones of A\'s epoch-0 document')
  await waitFor(async () => { await sync(); return a.epoch(target).n === 1 }, { message: 'A on epoch 1' })
  assert.equal(contentOf(a, target).deleted, 0)
  assert.deepEqual(contentOf(a, target), rebuilt)
  assertSettled(r)
})

test('a peer that rebuilds a shard after saying HELLO does not take the old epoch\'s diff into the new one', async (t) => {
  const r = await racePair(t, 'after-hello')
  const { a, b, target, race, sync } = r
  await race()
  const rebuilt = contentOf(b, target)
  assert.equal(rebuilt.clients.length, 1, 'the new epoch is one client\'s document')
  assert.equal(rebuilt.deleted, 0)
  await sync()
  await sync()
  assert.deepEqual(contentOf(b, target), rebuilt, 'B\'s epoch-1 document received structs of A\'s epoch-0 document')
  assert.equal(a.epoch(target).n, 1)
  assert.deepEqual(contentOf(a, target), rebuilt)
  assertSettled(r)
})
