import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pauseScenario, pauseSummary } from './pause.scenario.js'
import { formatFigures } from './harness.js'

test('pause: a peer stopped for 10 s while others write converges after SIGCONT, with no repin storm', async (t) => {
  const f = await pauseScenario({ pauseMs: 10_000, log: (l) => { t.diagnostic(l) } })
  t.diagnostic(formatFigures(f))
  console.log(pauseSummary(f))
  assert.ok(f.acked >= 20, `only ${f.acked} acknowledged requests`)
  assert.ok(f.duringPause >= 10, `the live peers answered only ${f.duringPause} requests during the pause`)
  assert.equal(f.pinsLost, 0, f.lostSamples.join('; '))
  assert.equal(f.unpinsResurrected, 0, f.lostSamples.join('; '))
  assert.equal(f.phantoms, 0)
  assert.equal(f.kuboPinsMissing, 0, 'pins not on their allocated Kubos')
  assert.equal(f.kuboUnpinsLeft, 0, 'acknowledged unpins still pinned on a Kubo')
  assert.ok(f.convergedMs <= 10_000, `converged in ${f.convergedMs} ms`)
  // Only pins that lost a holder may move, each once; pins on every peer never move.
  assert.ok(f.moved > 0, 'none of the paused peer\'s pins moved: it was never found gone')
  assert.ok(f.moved <= f.preloadedOnVictim, `${f.moved} pins moved, ${f.preloadedOnVictim} had the paused peer`)
  assert.ok(f.rewritten <= f.preloadedOnVictim, `${f.rewritten} pins rewritten, ${f.preloadedOnVictim} had the paused peer`)
  assert.equal(f.rewrittenWithoutCause, 0)
  assert.equal(f.quietPinsetChanges, 0, 'pinset records kept changing after the cluster settled')
  assert.equal(f.quietKuboChanges, 0, 'Kubo pins kept changing after the cluster settled')
})
