import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { Redialer } from '../../../src/net/redialer.js'
import { waitFor } from '../../fixtures/wait-for.js'

const log = pino({ level: 'silent' })

test('failed dials are retried with a doubling wait, up to the maximum', async (t) => {
  const at: number[] = []
  const r = new Redialer(async () => { at.push(performance.now()); throw new Error('unreachable') }, { minMs: 20, maxMs: 160 }, log)
  t.after(() => { r.stop() })
  r.start()
  r.dialNow('peer')
  await waitFor(() => at.length >= 7, { timeoutMs: 5000 })
  const gaps = at.slice(1).map((v, i) => v - (at[i] as number))
  // Timers never fire early (give or take a millisecond), so the jittered floor 0.8·min·2^n is a safe lower bound.
  const floors = [16, 32, 64, 128, 128, 128]
  gaps.forEach((g, i) => assert.ok(g >= (floors[i] as number) - 2, `wait ${i} was ${g.toFixed(1)} ms, below ${floors[i]}`))
})

test('a peer that connects is not redialled until it disconnects', async (t) => {
  let dials = 0
  const r = new Redialer(async () => { dials++ }, { minMs: 10, maxMs: 20 }, log)
  t.after(() => { r.stop() })
  r.start()
  r.connected('peer')
  r.dialNow('peer')
  assert.equal(dials, 0, 'no dial while connected')
  r.disconnected('peer')
  await waitFor(() => dials >= 1, { message: 'redialled after the disconnect' })
})
