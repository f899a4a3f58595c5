import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import { pino } from 'pino'
import { YjsPinSet } from '../../../src/pinset/index.js'
import { PinsetReplicator } from '../../../src/pinset/sync/index.js'
import type { ReplicatedDoc } from '../../../src/pinset/types.js'
import type { ClusterNet } from '../../../src/net/index.js'
import type { PinRecord } from '../../../src/types.js'
import { startTestNet, randomSecret } from '../../fixtures/net.js'
import { waitFor } from '../../fixtures/wait-for.js'
import { makeCids } from '../../fixtures/cids.js'

const logger = pino({ level: 'silent' })

function pin (cid: string): PinRecord {
  return { cid, name: '', mode: 'recursive', replicationMin: -1, replicationMax: -1, allocations: [], metadata: {}, createdAt: 1000, updatedAt: 1000, updatedBy: 'p' }
}

async function openPinset (t: TestContext): Promise<YjsPinSet> {
  const dir = await mkdtemp(join(tmpdir(), 'pinmesh-repl-'))
  const p = new YjsPinSet({ logger }, { dir, trusted: true })
  await p.start()
  t.after(async () => { await p.stop(); await rm(dir, { recursive: true, force: true }) })
  return p
}

/** A replicator that syncs only when told to (no anti-entropy timer, no compaction check). */
async function startReplicator (t: TestContext, net: ClusterNet, doc: ReplicatedDoc): Promise<PinsetReplicator> {
  const r = new PinsetReplicator({ libp2p: net.libp2p, doc, logger }, { clusterName: 'test', trustedPeers: ['*'], syncIntervalMs: 3_600_000, compactCheckIntervalMs: 3_600_000 })
  await r.start()
  t.after(async () => { await r.stop() })
  return r
}

function clientsOf (doc: ReplicatedDoc): number[] {
  return [...Y.decodeStateVector(doc.stateVector()).keys()].sort()
}

// A peer that moves to another epoch while it is in the middle of a same-epoch exchange must not
// mix the two documents: the other peer announced, and still holds, the old epoch, so a Yjs update
// of the new document applied to its old one (or of the old one applied to the new one) brings in
// a second copy of every entry, and every tombstone. That copy is then carried into the next epoch
// as the peer's own writes, or makes the new epoch look worth rebuilding at once (seen in the churn
// test as a doubled state on disk, a second rebuild, and peers whose pin counts disagree).

interface Race {
  a: YjsPinSet
  b: YjsPinSet
  /** Syncs A with B, B rebuilding as a new epoch at the point `arm` chose. */
  race: () => Promise<void>
  /** Syncs A with B (no race). */
  sync: () => Promise<void>
}

/** A and B in epoch 0 with the same 25 live pins and 25 tombstones; `when` says where B rebuilds in the next exchange. */
async function racePair (t: TestContext, when: 'after-hello' | 'after-step1'): Promise<Race> {
  const secret = randomSecret()
  const netA = await startTestNet(t, { secret })
  const netB = await startTestNet(t, { secret, bootstrap: netA.addresses() })
  const a = await openPinset(t)
  const b = await openPinset(t)
  const cids = await makeCids(50, 'race')
  await a.put(cids.map(pin))
  await a.remove(cids.slice(0, 25))
  let armed = false
  const rebuildIf = (point: typeof when): void => {
    // As the compaction leader does on its own timer; the switch itself is synchronous.
    if (armed && point === when) { armed = false; void b.rebuild(netB.peerId) }
  }
  const racingB: ReplicatedDoc = {
    // The exchange reads the epoch first, for HELLO.
    epoch: () => { const e = b.epoch(); rebuildIf('after-hello'); return e },
    stateVector: () => { const sv = b.stateVector(); rebuildIf('after-step1'); return sv },
    diff: (sv) => b.diff(sv),
    applyRemote: (u, from, e) => b.applyRemote(u, from, e),
    hasMissingDependencies: () => b.hasMissingDependencies(),
    onLocalUpdate: (fn) => b.onLocalUpdate(fn),
    epochOffer: () => b.epochOffer(),
    adoptEpoch: async (o, from) => await b.adoptEpoch(o, from),
    compactionFigures: () => b.compactionFigures(),
    rebuild: async (leader) => await b.rebuild(leader)
  }
  const ra = await startReplicator(t, netA, a)
  await startReplicator(t, netB, racingB)
  await waitFor(() => netA.libp2p.getConnections().length > 0, { message: 'A and B connected' })
  const sync = async (): Promise<void> => { await ra.syncWith(netB.peerId) }
  await sync()
  await waitFor(() => b.size === 25 && a.size === 25, { message: 'B caught up with A in epoch 0' })
  return {
    a,
    b,
    sync,
    race: async () => {
      armed = true
      await sync()
      await waitFor(() => b.epoch().n === 1, { message: 'B on epoch 1' })
    }
  }
}

test('a peer that rebuilds after sending its state vector does not send the new epoch\'s diff to a peer of the old one', async (t) => {
  const { a, b, race, sync } = await racePair(t, 'after-step1')
  const before = clientsOf(a)
  await race()
  assert.equal(a.epoch().n, 0)
  assert.deepEqual(clientsOf(a), before, 'A\'s epoch-0 document received structs of B\'s epoch-1 document')
  // A then moves to B's epoch cleanly: nothing to carry, no tombstones.
  await waitFor(async () => { await sync(); return a.epoch().n === 1 }, { message: 'A on epoch 1' })
  assert.deepEqual(a.compactionFigures(), { pins: 25, tombstones: 0 })
  assert.deepEqual(clientsOf(a), clientsOf(b))
})

test('a peer that rebuilds after saying HELLO does not take the old epoch\'s diff into the new one', async (t) => {
  const { a, b, race, sync } = await racePair(t, 'after-hello')
  await race()
  const rebuilt = clientsOf(b)
  assert.equal(rebuilt.length, 1, 'the new epoch is one client\'s document')
  await sync()
  await sync()
  assert.deepEqual(clientsOf(b), rebuilt, 'B\'s epoch-1 document received structs of A\'s epoch-0 document')
  assert.deepEqual(b.compactionFigures(), { pins: 25, tombstones: 0 })
  assert.equal(a.epoch().n, 1)
  assert.deepEqual(clientsOf(a), rebuilt)
})
