import { test } from 'node:test'
import assert from 'node:assert/strict'
import { LoopLag } from '../../../src/metrics/index.js'

test('a late tick is a stall; only the part after `since` counts', (t) => {
  const clock = { now: 1000 }
  const lag = new LoopLag({ tickMs: 100 }, () => clock.now)
  lag.start()
  t.after(() => { lag.stop() })
  clock.now = 1100
  lag.tick()
  assert.equal(lag.stallSince(0), 0, 'a tick on time')
  // The loop stood still from 1200 (when the tick was due) to 5200.
  clock.now = 5200
  assert.equal(lag.stallSince(0), 4000, 'a stall going on is seen before its tick runs')
  lag.tick()
  clock.now = 5300
  lag.tick()
  assert.equal(lag.stallSince(0), 4000)
  assert.equal(lag.stallSince(3200), 2000, 'metrics received in the middle of it')
  assert.equal(lag.stallSince(5200), 0, 'metrics received after it')
  assert.equal(lag.stallSince(5250), 0)
})

test('short jitter is no stall; stalls older than keepMs are forgotten', (t) => {
  const clock = { now: 0 }
  const lag = new LoopLag({ tickMs: 100, keepMs: 10_000 }, () => clock.now)
  lag.start()
  t.after(() => { lag.stop() })
  clock.now = 150
  lag.tick()
  assert.equal(lag.stallSince(0), 0)
  clock.now = 2250
  lag.tick()
  assert.equal(lag.stallSince(0), 2000)
  for (let i = 0; i < 120; i++) { clock.now += 100; lag.tick() }
  assert.equal(lag.stallSince(0), 0)
})

test('with the real clock, a blocked event loop shows up as a stall', async (t) => {
  const lag = new LoopLag({ tickMs: 20 })
  lag.start()
  t.after(() => { lag.stop() })
  await new Promise(resolve => setTimeout(resolve, 60))
  const since = Date.now()
  const until = since + 300
  while (Date.now() < until) { /* block the loop */ }
  assert.ok(lag.stallSince(since) >= 250, `stall ${lag.stallSince(since)} ms while overdue`)
  await new Promise(resolve => setTimeout(resolve, 60))
  assert.ok(lag.stallSince(since) >= 250, `stall ${lag.stallSince(since)} ms once recorded`)
  assert.equal(lag.stallSince(Date.now()), 0)
})
