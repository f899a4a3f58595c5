import { test } from 'node:test'
import assert from 'node:assert/strict'
import { redialDelay } from '../../../src/net/index.js'

const range = { minMs: 1000, maxMs: 60_000 }
const cases: Array<{ attempt: number, random: number, expected: number }> = [
  { attempt: 0, random: 0.5, expected: 1000 },
  { attempt: 1, random: 0.5, expected: 2000 },
  { attempt: 3, random: 0.5, expected: 8000 },
  { attempt: 0, random: 0, expected: 800 },
  { attempt: 0, random: 0.999, expected: 1200 },
  { attempt: 6, random: 0.5, expected: 60_000 },
  { attempt: 6, random: 0.999, expected: 60_000 },
  { attempt: 6, random: 0, expected: 48_000 },
  { attempt: 5000, random: 0.5, expected: 60_000 }
]

for (const c of cases) {
  test(`redial ${c.attempt} with jitter ${c.random} waits ${c.expected} ms`, () => {
    assert.equal(redialDelay(c.attempt, range, () => c.random), c.expected)
  })
}
