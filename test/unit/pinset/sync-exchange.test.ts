import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import type { Logger } from '../../../src/logger.js'
import type { PinRecord } from '../../../src/types.js'
import { ShardedPinSet, shardOf, type ShardedDoc } from '../../../src/pinset/index.js'
import { PinsetReplicator, type PinsetReplicatorInit } from '../../../src/pinset/sync/index.js'
import { planSync } from '../../../src/pinset/sync/plan.js'
import { encodeCatchUp, pinsetTopic } from '../../../src/pinset/sync/wire.js'
import { startTestNet, randomSecret } from '../../fixtures/net.js'
import { makeCids } from '../../fixtures/cids.js'
import { waitFor } from '../../fixtures/wait-for.js'
import type { ClusterNet } from '../../../src/net/index.js'

// Two in-process peers on 127.0.0.1 (real libp2p, real ShardedPinSets on disk) running catch-up exchanges.

const silent = pino({ level: 'silent' })

/**
 * Cleanups run last-registered first (replicators stop before the pinsets they read), whatever
 * order node:test gives its `after` hooks.
 */
const cleanups = new WeakMap<TestContext, Array<() => Promise<void>>>()
function onEnd (t: TestContext, fn: () => Promise<void>): void {
  let list = cleanups.get(t)
  if (list === undefined) {
    const fns: Array<() => Promise<void>> = []
    list = fns
    cleanups.set(t, fns)
    t.after(async () => { for (const f of fns.reverse()) await f() })
  }
  list.push(fn)
}

function pin (cid: string, by = 'peerA'): PinRecord {
  return { cid, name: `n-${cid.slice(-6)}`, mode: 'recursive', replicationMin: 1, replicationMax: 2, allocations: [by], metadata: {}, createdAt: 1000, updatedAt: 1000, updatedBy: by }
}

/** A sharded pinset of `shards` shards in a temporary directory, removed when the test ends. */
type Shards = ShardedPinSet & { readonly doc: ShardedDoc }

async function openShards (t: TestContext, shards: number): Promise<Shards> {
  const dir = await mkdtemp(join(tmpdir(), 'pinmesh-sync-'))
  const pins = new ShardedPinSet({ logger: silent }, { dir, trusted: true, shards })
  await pins.start()
  onEnd(t, async () => {
    await pins.stop()
    await rm(dir, { recursive: true, force: true })
  })
  return Object.assign(pins, { doc: pins })
}

interface Peer { net: ClusterNet, pins: Shards, replicator: PinsetReplicator, id: string }

function capture (): { logger: Logger, text: () => string } {
  const out: string[] = []
  const sink = new Writable({ write (chunk: Buffer, _e, cb) { out.push(chunk.toString()); cb() } })
  return { logger: pino({ level: 'debug' }, sink) as unknown as Logger, text: () => out.join('') }
}

async function startPeer (t: TestContext, secret: string, pins: Shards, init: Partial<PinsetReplicatorInit> = {}, logger: Logger = silent): Promise<Peer> {
  const net = await startTestNet(t, { secret })
  const replicator = await startReplicator(t, net, pins, init, logger)
  return { net, pins, replicator, id: net.peerId }
}

async function startReplicator (t: TestContext, net: ClusterNet, pins: Shards, init: Partial<PinsetReplicatorInit> = {}, logger: Logger = silent): Promise<PinsetReplicator> {
  const replicator = new PinsetReplicator({ libp2p: net.libp2p, doc: pins.doc, logger }, { clusterName: 'test', trustedPeers: ['*'], syncIntervalMs: 3_600_000, ...init })
  await replicator.start()
  onEnd(t, async () => { await replicator.stop() })
  return replicator
}

/** Connects `b` to `a` and waits until the exchange that connection starts (by the dialer, b) is over. */
async function connect (a: Peer, b: Peer): Promise<void> {
  const before = b.replicator.stats().syncs
  await b.net.connect(a.net.addresses()[0] as string)
  await waitFor(() => b.replicator.stats().syncs > before, { message: 'the dialer started its exchange' })
  await b.replicator.syncWith(a.id)
}

function delta<T extends Record<string, number>> (after: T, before: T): T {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)])) as T
}

function helloBytes (doc: ShardedDoc): number {
  return encodeCatchUp({ type: 'hello', shards: doc.shards, summary: doc.summary() }).length
}

test('a late joiner gets every differing shard; then equal peers exchange only their summaries', async (t) => {
  const secret = randomSecret()
  const a = await startPeer(t, secret, await openShards(t, 16))
  const cids = await makeCids(300, 'joiner')
  await a.pins.put(cids.map(c => pin(c)))
  const b = await startPeer(t, secret, await openShards(t, 16))
  await connect(a, b)
  assert.equal(b.pins.size, 300)
  for (const cid of cids) assert.ok(b.pins.has(cid), cid)
  assert.equal(planSync(a.pins.doc.summary(), b.pins.doc.summary()).exchange.length, 0, 'the digests agree')
  assert.equal(b.replicator.stats().shardsSynced, 16)

  const before = { a: a.replicator.stats(), b: b.replicator.stats() }
  await b.replicator.syncWith(a.id)
  const d = { a: delta(a.replicator.stats(), before.a), b: delta(b.replicator.stats(), before.b) }
  t.diagnostic(`equal peers: ${JSON.stringify(d.b)}; HELLO ${helloBytes(b.pins.doc)} bytes`)
  assert.equal(d.b.syncRounds, 1)
  assert.equal(d.b.shardsSynced, 0)
  assert.equal(d.a.shardsSynced, 0)
  // HELLO, DONE and END each way, each a frame of its own (a byte of frame header; DONE and END are a byte).
  assert.equal(d.b.syncBytesOut, helloBytes(b.pins.doc) + 1 + 2 * 2)
  assert.equal(d.b.syncBytesIn, helloBytes(a.pins.doc) + 1 + 2 * 2)
})

test('both sides send what the other lacks in one exchange, and a peer away exchanges bytes in proportion to the shards changed', async (t) => {
  const secret = randomSecret()
  const shards = 64
  const a = await startPeer(t, secret, await openShards(t, shards))
  const bPins = await openShards(t, shards)
  const b = await startPeer(t, secret, bPins)
  const base = await makeCids(2000, 'base')
  await a.pins.put(base.slice(0, 1000).map(c => pin(c)))
  await b.pins.put(base.slice(1000).map(c => pin(c, 'peerB')))
  await connect(a, b)
  assert.equal(b.pins.size, 2000)
  // The listener may still be applying the dialer's last answers when the dialer is done.
  await waitFor(() => a.pins.size === 2000, { message: 'a has b\'s pins' })
  const full = b.replicator.stats().syncBytesIn

  // b goes away; a takes 5 pins meanwhile, unpublished (a's replicator is stopped too), so that
  // only b's catch-up can bring them (not gossip, nor gossipsub's cache of recent messages).
  await b.replicator.stop()
  await a.replicator.stop()
  const added = await makeCids(5, 'while-away')
  await a.pins.put(added.map(c => pin(c)))
  const changed = new Set(added.map(c => shardOf(c, shards))).size
  await startReplicator(t, a.net, a.pins)
  const back = await startReplicator(t, b.net, bPins)
  await back.syncWith(a.id)
  const s = back.stats()
  t.diagnostic(`full exchange: ${full} bytes in; after ${changed} shards changed: ${s.syncBytesIn} in, ${s.syncBytesOut} out`)
  for (const c of added) assert.ok(b.pins.has(c))
  assert.equal(s.shardsSynced, changed)
  assert.ok(s.syncBytesIn < full / 10, `${s.syncBytesIn} bytes in vs ${full} for the whole state`)
})

test('a rebuilt shard: the leader nudges, the other peer adopts the new epoch of that shard only', async (t) => {
  const secret = randomSecret()
  const compact = { compactCheckIntervalMs: 100, compactMinIntervalMs: 0, compactMinTombstones: 20 }
  const a = await startPeer(t, secret, await openShards(t, 8), compact)
  const b = await startPeer(t, secret, await openShards(t, 8), compact)
  const cids = await makeCids(400, 'rebuild')
  await a.pins.put(cids.map(c => pin(c)))
  await connect(a, b)
  // Remove every other pin of one shard (separate tombstones: adjacent deleted elements merge into
  // one): only that shard is worth a new epoch.
  const target = shardOf(cids[0] as string, 8)
  const gone = cids.filter(c => shardOf(c, 8) === target).filter((_, i) => i % 2 === 0)
  assert.ok(gone.length >= 20, `${gone.length} pins of shard ${target} removed`)
  const leader = a.id < b.id ? a : b
  await leader.pins.remove(gone)
  const other = leader === a ? b : a
  // The counter moves once adoptEpoch resolves (the new epoch on disk), after the epoch shows.
  await waitFor(() => other.replicator.stats().epochsAdopted === 1, { timeoutMs: 20_000, message: 'the other peer on the rebuilt epoch' })
  assert.deepEqual(other.pins.doc.epoch(target), { n: 1, leader: leader.id })
  for (let s = 0; s < 8; s++) if (s !== target) assert.equal(other.pins.doc.epoch(s).n, 0, `shard ${s}`)
  assert.equal(leader.replicator.stats().epochsBuilt, 1)
  assert.equal(other.pins.size, 400 - gone.length)
  await waitFor(() => planSync(a.pins.doc.summary(), b.pins.doc.summary()).exchange.length === 0, { message: 'digests agree' })
})

test('an untrusted peer gets the pinset but is asked for nothing and changes nothing', async (t) => {
  const secret = randomSecret()
  const aNet = await startTestNet(t, { secret })
  const uNet = await startTestNet(t, { secret })
  const aPins = await openShards(t, 8)
  const uPins = await openShards(t, 8)
  const a: Peer = { net: aNet, pins: aPins, id: aNet.peerId, replicator: await startReplicator(t, aNet, aPins, { trustedPeers: [aNet.peerId] }) }
  const u: Peer = { net: uNet, pins: uPins, id: uNet.peerId, replicator: await startReplicator(t, uNet, uPins, { trustedPeers: [aNet.peerId] }) }
  const [fromA, fromU] = [await makeCids(50, 'trusted'), await makeCids(50, 'untrusted')]
  await a.pins.put(fromA.map(c => pin(c)))
  await u.pins.put(fromU.map(c => pin(c, 'u')))
  await connect(a, u)
  await a.replicator.syncWith(u.id)
  await waitFor(() => u.pins.size === 100, { message: 'u has a\'s pins' })
  assert.equal(a.pins.size, 50)
  for (const c of fromU) assert.ok(!a.pins.has(c))
  // a asked u for no diff: u sent its summary, its step 1s and DONE/END, not its 50 pins.
  const u0 = u.replicator.stats()
  assert.ok(u0.syncBytesOut < 1500, `u sent ${u0.syncBytesOut} bytes`)
  assert.ok(a.replicator.stats().syncBytesOut > 4 * u0.syncBytesOut, `a sent ${a.replicator.stats().syncBytesOut} bytes`)
})

test('peers with different shard counts do not sync, and say why', async (t) => {
  const secret = randomSecret()
  const log = capture()
  const a = await startPeer(t, secret, await openShards(t, 8), {}, log.logger)
  const b = await startPeer(t, secret, await openShards(t, 4))
  await b.pins.put([pin((await makeCids(1, 'count'))[0] as string)])
  await connect(a, b)
  await a.replicator.syncWith(b.id)
  assert.equal(a.pins.size, 0)
  assert.equal(a.replicator.stats().syncRounds, 0)
  assert.match(log.text(), /peers must use the same pinset\.shards/)
})

test('an exchange cut short is resumed by the next: only the shards still differing move', async (t) => {
  const secret = randomSecret()
  const a = await startPeer(t, secret, await openShards(t, 32))
  await a.pins.put((await makeCids(600, 'resume')).map(c => pin(c)))
  const bPins = await openShards(t, 32)
  // The 10th shard b applies throws (a disk failing, say): the exchange ends there.
  let applied = 0
  const real = bPins.doc.applyRemote.bind(bPins.doc)
  bPins.doc.applyRemote = (...args) => {
    if (++applied === 10) throw new Error('injected failure')
    return real(...args)
  }
  const log = capture()
  const b = await startPeer(t, secret, bPins, {}, log.logger)
  await b.net.connect(a.net.addresses()[0] as string)
  await waitFor(() => log.text().includes('pinset sync failed'), { message: 'the first exchange failed' })
  const first = b.replicator.stats()
  assert.equal(first.syncRounds, 0, 'the first exchange failed')
  const left = planSync(b.pins.doc.summary(), a.pins.doc.summary()).exchange.length
  assert.ok(left > 0 && left < 32, `${left} shards left`)
  await b.replicator.syncWith(a.id)
  const second = delta(b.replicator.stats(), first)
  assert.equal(second.syncRounds, 1)
  assert.equal(second.shardsSynced, left)
  assert.equal(b.pins.size, 600)
})

test('gossip: updates of several shards (batched) each reach their shard without a catch-up', async (t) => {
  const secret = randomSecret()
  const a = await startPeer(t, secret, await openShards(t, 16), { batchWindowMs: 50 })
  const b = await startPeer(t, secret, await openShards(t, 16))
  await connect(a, b)
  const topic = pinsetTopic('test')
  await waitFor(() => a.net.libp2p.services.pubsub.getSubscribers(topic).some(p => p.toString() === b.id), { message: 'b subscribed, as a sees it' })
  const before = b.replicator.stats()
  const cids = await makeCids(40, 'gossip')
  await a.pins.put(cids.map(c => pin(c)))
  await waitFor(() => b.pins.size === 40, { message: 'b has the pins' })
  const d = delta(b.replicator.stats(), before)
  assert.ok(d.gossipBytesIn > 0)
  assert.equal(d.syncs, 0, 'no catch-up was needed')
  assert.ok(new Set(cids.map(c => shardOf(c, 16))).size > 1)
})
