import { test } from 'node:test'
import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { pino } from 'pino'
import { StatelessTracker } from '../../../src/tracker/index.js'
import { MapPinset } from '../../fixtures/map-pinset.js'
import type { PinRecord } from '../../../src/types.js'
import { FakeKubo } from '../../fixtures/fake-kubo.js'
import { makeCids } from '../../fixtures/cids.js'

// waitStatus: what a peer waiting for a pin learns from this tracker's own operations, without Kubo.

const INIT = { concurrentPins: 2, maxQueueSize: 100_000, recoverIntervalMs: 60_000, retryMinMs: 50, retryMaxMs: 200, priorityMaxAgeMs: 60_000, priorityMaxRetries: 5, pinTimeoutMs: 150 }

async function setup (t: { after: (fn: () => Promise<void>) => void }, init: Partial<typeof INIT> = {}): Promise<{ kubo: FakeKubo, tracker: StatelessTracker, track: (r: PinRecord) => void }> {
  const kubo = new FakeKubo()
  const pinset = new MapPinset()
  const map = pinset.map
  const tracker = new StatelessTracker({ kubo, pinset, self: 'me', logger: pino({ level: 'silent' }) }, { ...INIT, ...init })
  await tracker.start()
  t.after(async () => { await tracker.stop() })
  return { kubo, tracker, track: (r) => { map.set(r.cid, r); tracker.track(r) } }
}

function rec (cid: string, over: Partial<PinRecord> = {}): PinRecord {
  return { cid, name: '', mode: 'recursive', replicationMin: -1, replicationMax: -1, allocations: [], metadata: {}, createdAt: Date.now(), updatedAt: Date.now(), updatedBy: 'x', ...over }
}

test('waitStatus resolves when the tracker\'s own pin ends, and neither it nor the pin asks Kubo for the pin\'s status', async (t) => {
  const { kubo, tracker, track } = await setup(t, { pinTimeoutMs: 60_000 })
  const [a] = await makeCids(1, 'ws1')
  // Asked before the pin reaches this peer's pinset: not in it yet is on the way, not news.
  const waiting = tracker.waitStatus(a as string, { timeoutMs: 10_000 })
  await new Promise(resolve => setTimeout(resolve, 50))
  track(rec(a as string))
  await new Promise(resolve => setTimeout(resolve, 50))
  kubo.makeAvailable(a as string)
  const info = await waiting
  assert.equal(info.status, 'pinned')
  assert.equal(kubo.pins.get(a as string)?.type, 'recursive')
  assert.equal(kubo.calls.pinType, 0)
  // Pinned already: answered at once, still without Kubo.
  assert.equal((await tracker.waitStatus(a as string, { timeoutMs: 10_000 })).status, 'pinned')
  assert.equal(kubo.calls.pinType, 0)
})

test('waitStatus reports a failure once; the same failure again is not news, the next one is', async (t) => {
  const { tracker, track } = await setup(t)
  const [a] = await makeCids(1, 'ws2')
  track(rec(a as string))
  const failed = await tracker.waitStatus(a as string, { timeoutMs: 10_000 })
  assert.equal(failed.status, 'pin_error')
  assert.match(failed.error ?? '', /progress/i)
  const again = await tracker.waitStatus(a as string, { timeoutMs: 10_000, known: failed })
  assert.equal(again.status, 'pin_error')
  assert.ok(again.attempts > failed.attempts, `attempts ${failed.attempts} then ${again.attempts}`)
})

test('waitStatus answers with the status then after its timeout, and with the signal\'s reason on abort, leaving no listener', async (t) => {
  const { tracker, track } = await setup(t, { pinTimeoutMs: 60_000 })
  const [a] = await makeCids(1, 'ws3')
  track(rec(a as string))
  const t0 = Date.now()
  const info = await tracker.waitStatus(a as string, { timeoutMs: 100 })
  assert.ok(Date.now() - t0 >= 90)
  assert.ok(['queued', 'pinning'].includes(info.status), info.status)
  const ctl = new AbortController()
  for (let i = 0; i < 20; i++) await tracker.waitStatus(a as string, { timeoutMs: 1, known: info, signal: ctl.signal })
  assert.equal(getEventListeners(ctl.signal, 'abort').length, 0)
  const pending = tracker.waitStatus(a as string, { timeoutMs: 10_000, known: info, signal: ctl.signal })
  const reason = new Error('caller left')
  ctl.abort(reason)
  await assert.rejects(pending, (err) => err === reason)
  assert.equal(getEventListeners(ctl.signal, 'abort').length, 0)
})

test('with progress, a running pin\'s progress is news, at most once per progressDelayMs', async (t) => {
  const { kubo, tracker, track } = await setup(t, { pinTimeoutMs: 60_000 })
  const [root, child] = await makeCids(2, 'ws4')
  kubo.makeAvailable(root as string, { links: { c: child as string } })
  track(rec(root as string))
  // The child arrives later: the pin runs, has fetched the root, and waits.
  const t0 = Date.now()
  const moving = await tracker.waitStatus(root as string, { timeoutMs: 10_000, progress: true, progressDelayMs: 200 })
  assert.ok(Date.now() - t0 >= 190, 'progress reported before progressDelayMs')
  assert.equal(moving.status, 'pinning')
  assert.ok((moving.progress?.nodes ?? 0) > 0)
  kubo.makeAvailable(child as string)
  const done = await tracker.waitStatus(root as string, { timeoutMs: 10_000, progress: true, known: moving })
  assert.ok(done.status === 'pinned' || (done.progress?.nodes ?? 0) > (moving.progress?.nodes ?? 0), JSON.stringify(done))
})

test('a pin that is not allocated here is news (remote); that same status again is not', async (t) => {
  const { tracker, track } = await setup(t)
  const [a] = await makeCids(1, 'ws5')
  track(rec(a as string, { allocations: ['other'], replicationMin: 1, replicationMax: 1 }))
  const remote = await tracker.waitStatus(a as string, { timeoutMs: 10_000 })
  assert.equal(remote.status, 'remote')
  const t0 = Date.now()
  assert.equal((await tracker.waitStatus(a as string, { timeoutMs: 100, known: remote })).status, 'remote')
  assert.ok(Date.now() - t0 >= 90, 'answered before its timeout')
})
