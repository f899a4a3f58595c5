import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { StatelessTracker } from '../../../src/tracker/index.js'
import { MapPinset } from '../../fixtures/map-pinset.js'
import type { PinRecord } from '../../../src/types.js'
import { FakeKubo } from '../../fixtures/fake-kubo.js'
import { makeCids } from '../../fixtures/cids.js'
import { waitFor } from '../../fixtures/wait-for.js'

const logger = pino({ level: 'silent' })

function rec (cid: string, over: Partial<PinRecord> = {}): PinRecord {
  return { cid, name: '', mode: 'recursive', replicationMin: -1, replicationMax: -1, allocations: [], metadata: {}, createdAt: Date.now(), updatedAt: Date.now(), updatedBy: 'x', ...over }
}

const INIT = { concurrentPins: 2, maxQueueSize: 100_000, recoverIntervalMs: 60_000, retryMinMs: 50, retryMaxMs: 200, priorityMaxAgeMs: 60_000, priorityMaxRetries: 5, pinTimeoutMs: 150 }

async function setup (t: { after: (fn: () => Promise<void>) => void }, init: Partial<typeof INIT> = {}): Promise<{ kubo: FakeKubo, pinset: MapPinset, tracker: StatelessTracker }> {
  const kubo = new FakeKubo()
  const pinset = new MapPinset()
  const tracker = new StatelessTracker({ kubo, pinset, self: 'me', logger }, { ...INIT, ...init })
  await tracker.start()
  t.after(async () => { await tracker.stop() })
  return { kubo, pinset, tracker }
}

function track (pinset: MapPinset, tracker: StatelessTracker, r: PinRecord): void {
  pinset.map.set(r.cid, r)
  tracker.track(r)
}

test('a tracked pin allocated here is pinned in Kubo with its mode and name', async (t) => {
  const { kubo, pinset, tracker } = await setup(t)
  const [a, b] = await makeCids(2, 't1')
  kubo.makeAvailable(a as string)
  kubo.makeAvailable(b as string)
  track(pinset, tracker, rec(a as string, { name: 'named' }))
  track(pinset, tracker, rec(b as string, { mode: 'direct' }))
  await waitFor(async () => (await tracker.status(a as string)).status === 'pinned' && (await tracker.status(b as string)).status === 'pinned')
  assert.deepEqual(kubo.pins.get(a as string), { type: 'recursive', name: 'named' })
  assert.equal(kubo.pins.get(b as string)?.type, 'direct')
})

test('a remote pin is not pinned here, and is unpinned if Kubo held it', async (t) => {
  const { kubo, pinset, tracker } = await setup(t)
  const [a] = await makeCids(1, 't2')
  kubo.makeAvailable(a as string)
  await kubo.pinAdd(a as string, { mode: 'recursive' })
  await tracker.recoverAll()
  track(pinset, tracker, rec(a as string, { allocations: ['other'], replicationMin: 1, replicationMax: 1 }))
  await waitFor(() => !kubo.pins.has(a as string), { message: 'unpinned' })
  assert.equal((await tracker.status(a as string)).status, 'remote')
})

test('an unavailable CID fails with pin_error after the no-progress timeout and is retried with backoff', async (t) => {
  const { kubo, pinset, tracker } = await setup(t)
  const [a] = await makeCids(1, 't3')
  track(pinset, tracker, rec(a as string))
  const failed = await waitFor(async () => { const s = await tracker.status(a as string); return s.status === 'pin_error' ? s : undefined })
  assert.match(failed.error ?? '', /progress/i)
  await waitFor(async () => (await tracker.status(a as string)).attempts >= 3, { message: 'retried' })
  kubo.makeAvailable(a as string)
  await waitFor(async () => (await tracker.status(a as string)).status === 'pinned', { message: 'pinned once available' })
})

test('untrack of a pinned CID unpins it; an unpin cancels a running pin', async (t) => {
  const { kubo, pinset, tracker } = await setup(t, { pinTimeoutMs: 5000 })
  const [a, slow] = await makeCids(2, 't4')
  kubo.makeAvailable(a as string)
  const r = rec(a as string)
  track(pinset, tracker, r)
  await waitFor(() => kubo.pins.has(a as string))
  pinset.map.delete(r.cid)
  tracker.untrack(r)
  await waitFor(() => !kubo.pins.has(a as string))
  const s = rec(slow as string)
  track(pinset, tracker, s)
  await waitFor(async () => (await tracker.status(slow as string)).status === 'pinning')
  pinset.map.delete(s.cid)
  tracker.untrack(s)
  await waitFor(async () => (await tracker.status(slow as string)).status === 'unpinned', { timeoutMs: 2000, message: 'running pin cancelled' })
  assert.equal(kubo.pins.has(slow as string), false)
})

test('a recover pass finds pins removed behind its back (unexpectedly_unpinned) and pins them again', async (t) => {
  const { kubo, pinset, tracker } = await setup(t)
  const [a] = await makeCids(1, 't5')
  kubo.makeAvailable(a as string)
  track(pinset, tracker, rec(a as string))
  await waitFor(() => kubo.pins.has(a as string))
  await kubo.pinRm(a as string)
  assert.equal((await tracker.status(a as string)).status, 'unexpectedly_unpinned')
  assert.equal(await tracker.recoverAll(), 1)
  await waitFor(() => kubo.pins.has(a as string))
})

test('new pins go before old ones waiting in the queue', async (t) => {
  const { kubo, pinset, tracker } = await setup(t, { concurrentPins: 1, priorityMaxAgeMs: 1000, pinTimeoutMs: 5000 })
  const cids = await makeCids(21, 't6')
  kubo.setLatency('pinAdd', 20)
  for (const c of cids.slice(0, 20)) { kubo.makeAvailable(c); track(pinset, tracker, rec(c, { updatedAt: Date.now() - 10_000 })) }
  const fresh = cids[20] as string
  kubo.makeAvailable(fresh)
  track(pinset, tracker, rec(fresh))
  await waitFor(() => kubo.pins.has(fresh))
  // Pins in the order Kubo completed them (a Map keeps insertion order), not what finished since.
  const before = [...kubo.pins.keys()].indexOf(fresh)
  assert.ok(before <= 2, `${before} old pins went first`)
})

test('a full queue turns new operations into pin_error naming the setting to raise', async (t) => {
  const { pinset, tracker } = await setup(t, { maxQueueSize: 3, concurrentPins: 1, pinTimeoutMs: 5000 })
  const cids = await makeCids(6, 't7')
  for (const c of cids) track(pinset, tracker, rec(c))
  const last = await tracker.status(cids[5] as string)
  assert.equal(last.status, 'pin_error')
  assert.match(last.error ?? '', /tracker\.maxQueueSize/)
})

test('a pin removed before Kubo\'s pins were first listed is unpinned by the next recover pass if Kubo held it', async (t) => {
  const { kubo, pinset, tracker } = await setup(t)
  const [held, other] = await makeCids(2, 'unverified')
  for (const c of [held, other] as string[]) kubo.makeAvailable(c)
  // Pinned in Kubo behind the tracker's back (as `dag import` pins roots), before any listing.
  await kubo.pinAdd(held as string, { mode: 'recursive' })
  await kubo.pinAdd(other as string, { mode: 'recursive' })
  kubo.down = true
  const r = rec(held as string, { allocations: ['me'], replicationMin: 1, replicationMax: 1 })
  pinset.map.set(r.cid, r)
  pinset.map.delete(r.cid)
  tracker.untrack(r)
  await assert.rejects(tracker.recoverAll())
  kubo.down = false
  await tracker.recoverAll()
  await waitFor(() => !kubo.pins.has(held as string), { message: 'the removed pin unpinned in Kubo' })
  // A pin the cluster never managed is left alone.
  assert.equal(kubo.pins.has(other as string), true)
})

test('roots an upload pinned in Kubo are unpinned by a recover pass after the grace time unless the pinset holds them', async (t) => {
  let now = 1_000_000
  const kubo = new FakeKubo()
  const pinset = new MapPinset()
  const tracker = new StatelessTracker({ kubo, pinset, self: 'me', logger, now: () => now }, INIT)
  await tracker.start()
  t.after(async () => { await tracker.stop() })
  const [gone, kept] = await makeCids(2, 'imported') as [string, string]
  for (const c of [gone, kept]) { kubo.makeAvailable(c); await kubo.pinAdd(c, { mode: 'recursive' }) }
  const r = rec(kept, { allocations: ['me'], replicationMin: 1, replicationMax: 1 })
  pinset.map.set(kept, r)
  tracker.pinnedByUpload([gone, kept])
  await tracker.recoverAll()
  assert.equal(kubo.pins.has(gone), true, 'left alone while its cluster pin may still be on its way')
  now += 31_000
  await tracker.recoverAll()
  await waitFor(() => !kubo.pins.has(gone), { message: 'the root nobody pinned in the cluster unpinned' })
  assert.equal(kubo.pins.has(kept), true)
})

test('a new pin overtakes 1,000 pins that keep failing', async (t) => {
  // Every failing pin is young, so only its failures (more than priorityMaxRetries) demote it.
  const { kubo, pinset, tracker } = await setup(t, { concurrentPins: 10, pinTimeoutMs: 20, retryMinMs: 10, retryMaxMs: 40, priorityMaxRetries: 1 })
  const failing = await makeCids(1000, 't-failing')
  for (const c of failing) track(pinset, tracker, rec(c))
  const attempts = async (): Promise<number[]> => await Promise.all(failing.map(async c => (await tracker.status(c)).attempts))
  await waitFor(async () => (await attempts()).every(a => a >= 2), { timeoutMs: 30_000, message: 'every failing pin failed twice' })
  const [fresh] = await makeCids(1, 't-fresh')
  kubo.makeAvailable(fresh as string)
  // Counted when Kubo is asked for the new pin, not later: failing attempts go on meanwhile.
  let startedBeforeFresh: number | undefined
  const pinAdd = kubo.pinAdd.bind(kubo)
  kubo.pinAdd = async (cid, options) => {
    if (cid === fresh) startedBeforeFresh ??= kubo.calls.pinAdd - callsAtTrack
    await pinAdd(cid, options)
  }
  const callsAtTrack = kubo.calls.pinAdd
  track(pinset, tracker, rec(fresh as string))
  await waitFor(() => kubo.pins.has(fresh as string), { timeoutMs: 5000, message: 'the new pin was pinned' })
  // The 10 workers were busy with failing attempts; the first one free takes the new pin.
  assert.ok(startedBeforeFresh !== undefined && startedBeforeFresh <= 10, `${String(startedBeforeFresh)} failing attempts started before the new pin`)
  assert.equal((await tracker.status(fresh as string)).status, 'pinned')
})

test('a queued pin that is tracked again is pinned with the newest mode and name', async (t) => {
  const { kubo, pinset, tracker } = await setup(t, { concurrentPins: 1 })
  const [slow, a] = await makeCids(2, 't-requeue')
  // The only worker is busy on `slow` (never available) while `a` waits in the queue.
  track(pinset, tracker, rec(slow as string))
  track(pinset, tracker, rec(a as string, { name: 'first' }))
  assert.equal((await tracker.status(a as string)).status, 'queued')
  track(pinset, tracker, rec(a as string, { name: 'second', mode: 'direct' }))
  kubo.makeAvailable(a as string)
  await waitFor(async () => (await tracker.status(a as string)).status === 'pinned')
  assert.deepEqual(kubo.pins.get(a as string), { type: 'direct', name: 'second' })
})

test('a pin it made reports Kubo\'s final progress (the whole DAG) with its pinned status, until it is unpinned', async (t) => {
  const { kubo, pinset, tracker } = await setup(t)
  const [root, leaf1, leaf2, other] = await makeCids(4, 'final-progress')
  kubo.makeAvailable(leaf1 as string, { size: 300 })
  kubo.makeAvailable(leaf2 as string, { size: 200 })
  kubo.makeAvailable(root as string, { links: { a: leaf1 as string, b: leaf2 as string }, size: 50 })
  const r = rec(root as string)
  track(pinset, tracker, r)
  await waitFor(async () => (await tracker.status(root as string)).status === 'pinned')
  assert.deepEqual((await tracker.status(root as string)).progress, { nodes: 3, bytes: 550 })
  // Pinned in Kubo by someone else: no count to report.
  kubo.makeAvailable(other as string)
  await kubo.pinAdd(other as string, { mode: 'recursive' })
  pinset.map.set(other as string, rec(other as string))
  const held = await tracker.status(other as string)
  assert.equal(held.status, 'pinned')
  assert.equal(held.progress, undefined)
  pinset.map.delete(r.cid)
  tracker.untrack(r)
  await waitFor(() => !kubo.pins.has(root as string))
  await kubo.pinAdd(root as string, { mode: 'recursive' })
  pinset.map.set(r.cid, r)
  assert.equal((await tracker.status(root as string)).progress, undefined, 'forgotten once unpinned')
})

test('leaving names the CIDs the tracker is taking out of Kubo until they are out, never a pin Kubo holds on its own', async (t) => {
  const { kubo, pinset, tracker } = await setup(t)
  const [a, own] = await makeCids(2, 'leaving') as [string, string]
  for (const c of [a, own]) kubo.makeAvailable(c)
  await kubo.pinAdd(own, { mode: 'recursive' })
  const r = rec(a)
  track(pinset, tracker, r)
  await waitFor(async () => (await tracker.status(a)).status === 'pinned')
  assert.equal(tracker.leaving(a), false)
  kubo.setLatency('pinRm', 300)
  pinset.map.delete(a)
  tracker.untrack(r)
  assert.equal(tracker.leaving(a), true)
  assert.equal(kubo.pins.has(a), true, 'Kubo still holds it meanwhile')
  await waitFor(() => !kubo.pins.has(a), { message: 'unpinned' })
  await waitFor(() => !tracker.leaving(a), { message: 'no longer leaving' })
  assert.equal(tracker.leaving(own), false)
})
