import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { StatelessTracker } from '../../../src/tracker/index.js'
import type { PinRecord } from '../../../src/types.js'
import { MapPinset } from '../../fixtures/map-pinset.js'
import { FakeKubo } from '../../fixtures/fake-kubo.js'
import { makeCids } from '../../fixtures/cids.js'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ShardedPinSet } from '../../../src/pinset/index.js'

// The tracker's walks of the pinset go a batch (a shard) at a time, through PinSetReader.scan.

const INIT = { concurrentPins: 1, maxQueueSize: 100_000, recoverIntervalMs: 600_000, retryMinMs: 60_000, retryMaxMs: 60_000, priorityMaxAgeMs: 60_000, priorityMaxRetries: 5, pinTimeoutMs: 60_000 }

function rec (cid: string, over: Partial<PinRecord> = {}): PinRecord {
  return { cid, name: '', mode: 'recursive', replicationMin: -1, replicationMax: -1, allocations: [], metadata: {}, createdAt: 1, updatedAt: 1, updatedBy: 'x', ...over }
}

async function setup (t: { after: (fn: () => Promise<void>) => void }, n: number, shards: number, now?: () => number): Promise<{ kubo: FakeKubo, pinset: MapPinset, tracker: StatelessTracker, cids: string[] }> {
  const kubo = new FakeKubo()
  const pinset = new MapPinset({ shards })
  const cids = await makeCids(n, `walk-${n}-${shards}`)
  // Allocated here and missing from Kubo (and unavailable, so the one running pin never ends).
  for (const cid of cids) pinset.map.set(cid, rec(cid))
  const tracker = new StatelessTracker({ kubo, pinset, self: 'me', logger: pino({ level: 'silent' }), ...(now !== undefined ? { now } : {}) }, INIT)
  await tracker.start()
  t.after(async () => { await tracker.stop() })
  return { kubo, pinset, tracker, cids }
}

test('recoverAll reconciles each batch and queues its operations before it reads the next, and the event loop turns between batches', async (t) => {
  const { pinset, tracker, cids } = await setup(t, 200, 8)
  const events: string[] = []
  const queuedAtBatch: number[] = []
  pinset.onBatch = (_shard, pins) => { events.push('batch'); queuedAtBatch.push(tracker.queued()); assert.ok(pins.length < cids.length) }
  let ticking = true
  const tick = (): void => { events.push('tick'); if (ticking) setImmediate(tick) }
  setImmediate(tick)
  const queued = await tracker.recoverAll()
  ticking = false
  assert.equal(queued, cids.length)
  assert.ok(queuedAtBatch.length >= 4, `${queuedAtBatch.length} batches`)
  assert.equal(queuedAtBatch[0], 0)
  // Batch k finds the operations of batches 0..k-1 queued (one of them running: concurrentPins 1).
  for (let k = 1; k < queuedAtBatch.length; k++) assert.ok((queuedAtBatch[k] as number) > (queuedAtBatch[k - 1] as number), `queued before batch ${k}: ${queuedAtBatch.join(',')}`)
  const first = events.indexOf('batch')
  const last = events.lastIndexOf('batch')
  assert.ok(events.slice(first, last).includes('tick'), 'a timer ran between the first and the last batch')
})

test('statusAll streams one array of statuses per batch after one Kubo listing', async (t) => {
  const { kubo, pinset, tracker, cids } = await setup(t, 50, 4)
  const pinned = cids[0] as string
  kubo.makeAvailable(pinned)
  await kubo.pinAdd(pinned, { mode: 'recursive' })
  const remote = cids[1] as string
  pinset.map.set(remote, rec(remote, { allocations: ['other'], replicationMin: 1, replicationMax: 1 }))
  const listings = kubo.calls.pinLs
  const batches: number[] = []
  const status = new Map<string, string>()
  for await (const batch of tracker.statusAll()) {
    batches.push(batch.length)
    for (const i of batch) status.set(i.cid, i.status)
  }
  assert.equal(kubo.calls.pinLs - listings, 1)
  assert.equal(batches.length, 4)
  assert.equal(batches.reduce((a, b) => a + b, 0), cids.length)
  assert.equal(status.get(pinned), 'pinned')
  assert.equal(status.get(remote), 'remote')
  assert.equal(status.get(cids[2] as string), 'unexpectedly_unpinned')
})

test('statusMany answers for the CIDs asked, in order, and lists Kubo\'s pins only when told to refresh (or never listed), at most once a second', async (t) => {
  let clock = 1_000_000
  const { kubo, tracker, cids } = await setup(t, 5, 1, () => clock)
  const [a, b] = cids as [string, string]
  kubo.makeAvailable(a)
  await kubo.pinAdd(a, { mode: 'recursive' })
  const base = kubo.calls.pinLs
  const first = await tracker.statusMany([a, b, 'bafkreinotinthepinset'])
  assert.deepEqual(first.map(i => [i.cid, i.status]), [[a, 'pinned'], [b, 'unexpectedly_unpinned'], ['bafkreinotinthepinset', 'unpinned']])
  assert.equal(kubo.calls.pinLs - base, 1, 'never listed: listed once')
  kubo.makeAvailable(b)
  await kubo.pinAdd(b, { mode: 'recursive' })
  assert.equal((await tracker.statusMany([b]))[0]?.status, 'unexpectedly_unpinned', 'a later page reuses the listing')
  assert.equal(kubo.calls.pinLs - base, 1)
  assert.equal((await tracker.statusMany([b], { refresh: true }))[0]?.status, 'unexpectedly_unpinned', 'listed less than a second ago: not again')
  assert.equal(kubo.calls.pinLs - base, 1)
  clock += 1000
  assert.equal((await tracker.statusMany([b], { refresh: true }))[0]?.status, 'pinned')
  assert.equal(kubo.calls.pinLs - base, 2)
})

test('recoverAll does not pin a pin removed from the pinset after its batch was read', async (t) => {
  const { pinset, tracker } = await setup(t, 40, 4)
  let removed: string | undefined
  pinset.onBatch = (_shard, pins) => { if (removed === undefined) { removed = pins[0]?.cid as string; pinset.map.delete(removed) } }
  const queued = await tracker.recoverAll()
  assert.equal(queued, 39)
  assert.equal((await tracker.statusMany([removed as string]))[0]?.status, 'unpinned')
})

test('with the real ShardedPinSet, recoverAll queues a shard\'s operations at a time and timers run during the walk', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pinmesh-walk-'))
  const pinset = new ShardedPinSet({ logger: pino({ level: 'silent' }) }, { dir, trusted: true, shards: 16 })
  await pinset.start()
  t.after(async () => { await pinset.stop(); await rm(dir, { recursive: true, force: true }) })
  const cids = await makeCids(2000, 'walk-sharded')
  await pinset.put(cids.map(c => rec(c)))
  const tracker = new StatelessTracker({ kubo: new FakeKubo(), pinset, self: 'me', logger: pino({ level: 'silent' }) }, INIT)
  await tracker.start()
  t.after(async () => { await tracker.stop() })
  const seen: number[] = []
  let ticking = true
  const tick = (): void => { seen.push(tracker.queued()); if (ticking) setImmediate(tick) }
  setImmediate(tick)
  assert.equal(await tracker.recoverAll(), cids.length)
  ticking = false
  const between = seen.filter(q => q > 0 && q < cids.length - 1)
  assert.ok(new Set(between).size >= 8, `queue lengths seen during the walk: ${[...new Set(seen)].join(',')}`)
})

test('a tracker stopped during a recover pass queues nothing more', async (t) => {
  const { pinset, tracker } = await setup(t, 200, 8)
  let batches = 0
  const after: string[] = []
  pinset.onBatch = (_shard, pins) => {
    if (++batches === 2) void tracker.stop()
    if (batches >= 2) after.push(...pins.map(p => p.cid))
  }
  await tracker.recoverAll()
  assert.ok(after.length > 0)
  const statuses = new Set((await tracker.statusMany(after)).map(i => i.status))
  assert.deepEqual([...statuses], ['unexpectedly_unpinned'])
})
