import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RecentRemovals } from '../../../src/pinset/recent-removals.js'
import { makeCids } from '../../fixtures/cids.js'

test('a removed generation is remembered for at least the window and forgotten after twice the window', () => {
  let now = 1_000_000
  const r = new RecentRemovals(1000, () => now)
  r.add('bafyone', 1795000000123, 1795000000500)
  assert.equal(r.has('bafyone', 1795000000123, 1795000000500), true)
  assert.equal(r.has('bafyone', 1795000000124, 1795000000500), false, 'another generation of the same CID')
  assert.equal(r.has('bafyone', 1795000000123, 1795000000501), false, 'a later request for the same pin')
  assert.equal(r.has('bafytwo', 1795000000123, 1795000000500), false, 'another CID')
  now += 999
  assert.equal(r.has('bafyone', 1795000000123, 1795000000500), true)
  now += 2
  assert.equal(r.has('bafyone', 1795000000123, 1795000000500), true, 'still within the previous window')
  now += 1000
  assert.equal(r.has('bafyone', 1795000000123, 1795000000500), false)
  assert.equal(r.size, 0)
})

test('100,000 removals: every one found, no other generation matched', async () => {
  const cids = await makeCids(100_000, 'removals')
  const r = new RecentRemovals(60_000)
  cids.forEach((c, i) => { r.add(c, 1_700_000_000_000 + i, 1_700_000_100_000 + i) })
  assert.equal(cids.every((c, i) => r.has(c, 1_700_000_000_000 + i, 1_700_000_100_000 + i)), true)
  assert.equal(cids.filter((c, i) => r.has(c, 1_700_000_000_000 + i, 1_700_000_100_000 + i + 1)).length, 0)
})
