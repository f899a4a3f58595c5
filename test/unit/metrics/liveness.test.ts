import { test } from 'node:test'
import assert from 'node:assert/strict'
import { metricsExpired, peerLiveness, type Liveness, type LivenessFacts, type LivenessPolicy, type Probe } from '../../../src/metrics/index.js'

const POLICY: LivenessPolicy = { failedProbes: 2, windowMs: 750, maxStallMs: 200 }
const ok = (at: number): Probe => ({ at, result: 'ok', stallMs: 0 })
const timeout = (at: number, stallMs = 0): Probe => ({ at, result: 'timeout', stallMs })
const refused = (at: number): Probe => ({ at, result: 'error', stallMs: 0 })

// Metrics received at 0 with a 1500 ms TTL: they expire at 1500.
const cases: Array<{ name: string, facts: Omit<LivenessFacts, 'expiresAt'>, want: Liveness }> = [
  { name: 'metrics current: alive, whatever the probes say', facts: { now: 1499, stallMs: 0, probes: [refused(0), refused(100)] }, want: 'alive' },
  { name: 'metrics expired, no probe yet: late', facts: { now: 1500, stallMs: 0, probes: [] }, want: 'late' },
  { name: 'this peer stalled 3 s since the metrics came: still alive at 4 s', facts: { now: 4000, stallMs: 3000, probes: [timeout(1500), timeout(2000)] }, want: 'alive' },
  { name: 'expired, and the peer answers pings: late (slow, not gone)', facts: { now: 9000, stallMs: 0, probes: [ok(1500), ok(2000), ok(8000)] }, want: 'late' },
  { name: 'one timed-out probe: late', facts: { now: 2000, stallMs: 0, probes: [timeout(1500)] }, want: 'late' },
  { name: 'timeouts spanning less than the window: late', facts: { now: 2200, stallMs: 0, probes: [timeout(1500), timeout(1900)] }, want: 'late' },
  { name: 'timeouts spanning the window: gone (a SIGSTOPped peer)', facts: { now: 2250, stallMs: 0, probes: [timeout(1500), timeout(1900)] }, want: 'gone' },
  { name: 'an answer resets the streak: late', facts: { now: 5000, stallMs: 0, probes: [timeout(1500), timeout(1900), ok(2300), timeout(4600)] }, want: 'late' },
  { name: 'after an answer, a new streak spanning the window: gone', facts: { now: 5000, stallMs: 0, probes: [timeout(1500), ok(2300), timeout(4000), timeout(4400)] }, want: 'gone' },
  { name: 'refused twice in a row: gone at once (a killed peer)', facts: { now: 1700, stallMs: 0, probes: [refused(1500), refused(1600)] }, want: 'gone' },
  { name: 'refused once: late', facts: { now: 1700, stallMs: 0, probes: [refused(1500)] }, want: 'late' },
  { name: 'a timeout and a refusal: needs the window', facts: { now: 1800, stallMs: 0, probes: [timeout(1500), refused(1700)] }, want: 'late' },
  { name: 'timeouts while this peer itself stalled do not count', facts: { now: 9000, stallMs: 0, probes: [timeout(1500, 500), timeout(2000, 300), timeout(8000, 250)] }, want: 'late' },
  { name: 'stalled timeouts are skipped, the others count', facts: { now: 9000, stallMs: 0, probes: [timeout(1500, 500), timeout(7000), timeout(8000)] }, want: 'gone' }
]

for (const c of cases) {
  test(`peerLiveness: ${c.name}`, () => {
    assert.equal(peerLiveness({ ...c.facts, expiresAt: 1500 }, POLICY), c.want)
  })
}

test('metricsExpired: the TTL is extended by this peer\'s own stall, never shortened', () => {
  assert.equal(metricsExpired(1500, 1499, 0), false)
  assert.equal(metricsExpired(1500, 1500, 0), true)
  assert.equal(metricsExpired(1500, 11_000, 10_000), false)
  assert.equal(metricsExpired(1500, 11_500, 10_000), true)
  assert.equal(metricsExpired(1500, 1500, -100), true)
})
