import { test } from 'node:test'
import assert from 'node:assert/strict'
import { planSync, plannedSteps, shardMinTombstones } from '../../../src/pinset/sync/plan.js'
import { ShardCountMismatchError } from '../../../src/errors.js'
import type { ShardSummary } from '../../../src/pinset/types.js'

const digest = (b: number): Uint8Array => new Uint8Array(16).fill(b)
const at = (n: number, leader: string, d: number): ShardSummary => ({ epoch: { n, leader }, digest: digest(d) })

test('equal summaries: nothing to do', () => {
  const s = [at(0, '', 0), at(1, 'a', 5), at(2, 'b', 9)]
  assert.deepEqual(planSync(s, s.map(x => ({ ...x, digest: Uint8Array.from(x.digest) }))), { offer: [], adopt: [], exchange: [] })
  assert.deepEqual(plannedSteps(planSync(s, s), true), [])
})

test('each differing shard is settled one way: newer epoch offers, older adopts, same epoch exchanges', () => {
  const mine = [at(0, '', 0), at(1, 'a', 1), at(1, 'a', 2), at(2, 'a', 3), at(1, 'b', 4), at(0, '', 5)]
  const theirs = [at(0, '', 0), at(1, 'a', 9), at(2, 'a', 2), at(1, 'z', 3), at(1, 'a', 4), at(0, '', 5)]
  // 0 equal; 1 same epoch, other digest; 2 theirs newer (number); 3 mine newer (number);
  // 4 same number, mine newer by leader id ('b' > 'a'); 5 equal.
  const plan = planSync(mine, theirs)
  assert.deepEqual(plan, { offer: [3, 4], adopt: [2], exchange: [1] })
  // The other side's plan mirrors it.
  assert.deepEqual(planSync(theirs, mine), { offer: [2], adopt: [3, 4], exchange: [1] })
  // Even on a same-epoch shard with equal digests but a different epoch leader, epochs decide.
  assert.deepEqual(planSync([at(3, 'a', 1)], [at(3, 'b', 1)]), { offer: [], adopt: [0], exchange: [] })
})

test('planned steps: offers and step 1s in shard order; no step 1 to an untrusted peer', () => {
  const plan = { offer: [7, 2], adopt: [5], exchange: [9, 0, 3] }
  assert.deepEqual(plannedSteps(plan, true), [
    { shard: 0, kind: 'step1' }, { shard: 2, kind: 'offer' }, { shard: 3, kind: 'step1' }, { shard: 7, kind: 'offer' }, { shard: 9, kind: 'step1' }
  ])
  assert.deepEqual(plannedSteps(plan, false), [{ shard: 2, kind: 'offer' }, { shard: 7, kind: 'offer' }])
})

test('different shard counts cannot be planned', () => {
  assert.throws(() => planSync([at(0, '', 0)], [at(0, '', 0), at(0, '', 0)]), (err: unknown) => {
    assert.ok(err instanceof ShardCountMismatchError)
    assert.match(err.message, /peers must use the same pinset\.shards/)
    return true
  })
})

test('a peer away for a while: only the shards it missed differ', () => {
  const before = Array.from({ length: 1024 }, (_, i) => at(0, '', i % 251))
  const after = before.map((s, i) => i % 100 === 0 ? at(0, '', 255) : s)
  assert.deepEqual(planSync(before, after).exchange, Array.from({ length: 11 }, (_, k) => k * 100))
})

test('the fewest tombstones worth an epoch is pinset-wide: each shard needs its share, at least 1', () => {
  assert.equal(shardMinTombstones(1000, 1), 1000)
  assert.equal(shardMinTombstones(1000, 1024), 1)
  assert.equal(shardMinTombstones(1000, 16), 63)
  assert.equal(shardMinTombstones(1, 4096), 1)
})
