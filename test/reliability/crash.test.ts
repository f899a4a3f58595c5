import { test } from 'node:test'
import assert from 'node:assert/strict'
import { crashScenario, crashSummary } from './crash.scenario.js'
import { formatFigures } from './harness.js'

test('crash: pinmesh peers killed -9 and restarted under mixed traffic lose no acknowledged pin or unpin', async (t) => {
  const f = await crashScenario({ durationMs: 18_000, faultIntervalMs: 4000, log: (l) => { t.diagnostic(l) } })
  t.diagnostic(formatFigures(f))
  console.log(crashSummary(f))
  assert.ok(f.kills >= 2, `only ${f.kills} kills`)
  assert.ok(f.acked >= 50, `only ${f.acked} acknowledged requests`)
  assert.ok(f.pinsChecked > 0 && f.unpinsChecked > 0, 'both acknowledged pins and unpins were checked')
  assert.equal(f.pinsLost, 0, f.lostSamples.join('; '))
  assert.equal(f.unpinsResurrected, 0, f.lostSamples.join('; '))
  assert.equal(f.phantoms, 0, 'pinset entries no request made')
  assert.equal(f.kuboPinsMissing, 0, 'pins not on their allocated Kubos')
  assert.equal(f.kuboUnpinsLeft, 0, 'acknowledged unpins still pinned on a Kubo')
  assert.ok(f.convergedMs <= 10_000, `converged in ${f.convergedMs} ms`)
})
