import { test } from 'node:test'
import assert from 'node:assert/strict'
import { kuboDeathScenario, kuboDeathSummary } from './kubo-death.scenario.js'
import { formatFigures } from './harness.js'

test('kubo death: forwarded calls fail Kubo-shaped while Kubo is down, pinmesh stays up, its pins come back by themselves', async (t) => {
  const f = await kuboDeathScenario({ downMs: 8000, log: (l) => { t.diagnostic(l) } })
  t.diagnostic(formatFigures(f))
  console.log(kuboDeathSummary(f))
  assert.ok(f.forwardedWhileDown >= 6, `only ${f.forwardedWhileDown} forwarded calls while Kubo was down`)
  assert.equal(f.otherAnswers, 0, f.otherSamples.join('; '))
  assert.equal(f.kuboShapedErrors, f.forwardedWhileDown)
  assert.ok(f.victimAlive, 'the pinmesh process exited')
  assert.equal(f.healthFailures, 0, `${f.healthFailures} of ${f.healthChecks} admin health checks failed`)
  assert.ok(f.removedOffline > 0, 'pins removed from the dead Kubo came back')
  assert.ok(f.restoredMs >= 0, 'every pin allocated to the peer was pinned again on its Kubo')
  assert.ok(f.victimPins > 0)
  assert.ok(f.acked >= 20, `only ${f.acked} acknowledged requests`)
  assert.equal(f.pinsLost, 0, f.lostSamples.join('; '))
  assert.equal(f.unpinsResurrected, 0, f.lostSamples.join('; '))
  assert.equal(f.phantoms, 0)
  assert.equal(f.kuboPinsMissing, 0, 'pins not on their allocated Kubos')
  assert.equal(f.kuboUnpinsLeft, 0, 'acknowledged unpins still pinned on a Kubo')
})
