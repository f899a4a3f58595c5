import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomInt } from 'node:crypto'
import { badInputScenario, badInputReport, badInputSummary, CATEGORIES, SLOW_LORIS_BOUND_MS, RSS_GROWTH_BOUND, RSS_PEAK_BOUND } from './bad-input.scenario.js'

// The short run for `npm test`; bench/ runs the same scenario with more requests.
// BAD_INPUT_SEED=<n> replays a run: every request is derived from the seed and its index.
const seed = process.env.BAD_INPUT_SEED !== undefined ? Number(process.env.BAD_INPUT_SEED) : randomInt(2 ** 31)

test('bad input: 1,000 malformed requests get error answers, the daemon survives, memory stays bounded, the pinset is untouched', async (t) => {
  t.diagnostic(`seed ${seed} (BAD_INPUT_SEED=${seed} replays this run)`)
  const f = await badInputScenario({ requests: 1000, seed, log: (l) => { t.diagnostic(l) } })
  for (const line of badInputReport(f)) t.diagnostic(line)
  console.log(badInputSummary(f))

  assert.equal(f.alive, true, 'pinmesh still runs and answers /health and the proxy')
  assert.equal(f.requests, 1000)
  for (const c of CATEGORIES) assert.ok((f.byCategory[c]?.sent ?? 0) >= 90, `category ${c}: ${f.byCategory[c]?.sent ?? 0} requests`)
  assert.equal(f.faults, 0, `seed ${seed}:\n${f.faultSamples.join('\n')}`)
  assert.equal(f.pinsetChanges, 0, `the pinset went from ${f.pinsBefore} to ${f.pinsAfter} pins`)
  assert.equal(f.slowLorisClosed, f.slowLoris, 'every slow-loris connection closed by the server')
  assert.ok(f.slowLorisMaxMs < SLOW_LORIS_BOUND_MS)
  assert.ok(f.rssAfter - f.rssBefore < RSS_GROWTH_BOUND, `RSS grew ${f.rssAfter - f.rssBefore} bytes`)
  assert.ok(f.rssPeak - f.rssBefore < RSS_PEAK_BOUND, `RSS peaked ${f.rssPeak - f.rssBefore} bytes above the baseline`)
})
