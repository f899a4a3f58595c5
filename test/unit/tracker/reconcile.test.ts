import { test } from 'node:test'
import assert from 'node:assert/strict'
import { reconcile, isAllocatedTo, satisfies, retryDelay, isPriority } from '../../../src/tracker/index.js'
import { electedPeer } from '../../../src/cluster/index.js'
import type { PinRecord } from '../../../src/types.js'
import type { KuboPinType } from '../../../src/kubo/types.js'

const rec = (cid: string, allocations: string[], over: Partial<PinRecord> = {}): PinRecord => ({
  cid, name: '', mode: 'recursive', replicationMin: allocations.length === 0 ? -1 : 1, replicationMax: allocations.length === 0 ? -1 : 2, allocations, metadata: {}, createdAt: 0, updatedAt: 0, updatedBy: 'x', ...over
})

const cases: Array<{ name: string, pins: PinRecord[], kubo: Record<string, KuboPinType>, busy?: string[], pin: string[], unpin: string[] }> = [
  { name: 'allocated and missing → pin', pins: [rec('a', ['me'])], kubo: {}, pin: ['a'], unpin: [] },
  { name: 'allocated and held → nothing', pins: [rec('a', ['me'])], kubo: { a: 'recursive' }, pin: [], unpin: [] },
  { name: 'everywhere pin → pin here', pins: [rec('a', [])], kubo: {}, pin: ['a'], unpin: [] },
  { name: 'recursive wanted, only direct held → pin', pins: [rec('a', ['me'])], kubo: { a: 'direct' }, pin: ['a'], unpin: [] },
  { name: 'direct wanted, recursive held → nothing', pins: [rec('a', ['me'], { mode: 'direct' })], kubo: { a: 'recursive' }, pin: [], unpin: [] },
  { name: 'remote and held → unpin', pins: [rec('a', ['other'])], kubo: { a: 'recursive' }, pin: [], unpin: ['a'] },
  { name: 'remote and not held → nothing', pins: [rec('a', ['other'])], kubo: {}, pin: [], unpin: [] },
  { name: 'Kubo pins outside the pinset are never touched', pins: [], kubo: { stranger: 'recursive' }, pin: [], unpin: [] },
  { name: 'busy CIDs are left alone', pins: [rec('a', ['me']), rec('b', ['other'])], kubo: { b: 'direct' }, busy: ['a', 'b'], pin: [], unpin: [] }
]
for (const c of cases) {
  test(`reconcile: ${c.name}`, () => {
    const r = reconcile({ pins: c.pins, self: 'me', kubo: new Map(Object.entries(c.kubo)), busy: new Set(c.busy ?? []) })
    assert.deepEqual({ pin: r.pin.map(p => p.cid), unpin: r.unpin.map(p => p.cid) }, { pin: c.pin, unpin: c.unpin })
  })
}

test('allocation, satisfaction, backoff and priority rules', () => {
  assert.equal(isAllocatedTo(rec('a', []), 'me'), true)
  assert.equal(isAllocatedTo(rec('a', [], { replicationMin: 1, replicationMax: 1 }), 'me'), false)
  assert.equal(isAllocatedTo(rec('a', ['x', 'me']), 'me'), true)
  assert.equal(satisfies(undefined, 'direct'), false)
  assert.equal(satisfies('indirect', 'recursive'), false)
  assert.deepEqual([1, 2, 3, 10].map(n => retryDelay(n, 100, 1000)), [100, 200, 400, 1000])
  assert.equal(isPriority({ updatedAt: 1000 }, 0, 1500, 1000, 5), true)
  assert.equal(isPriority({ updatedAt: 1000 }, 0, 2500, 1000, 5), false)
  assert.equal(isPriority({ updatedAt: 1000 }, 6, 1500, 1000, 5), false)
})

test('election: every peer elects the same one; removing another peer does not move a key', () => {
  const peers = ['p1', 'p2', 'p3', 'p4']
  const keys = Array.from({ length: 200 }, (_, i) => `cid-${i}`)
  const chosen = keys.map(k => electedPeer(k, peers))
  assert.deepEqual(keys.map(k => electedPeer(k, [...peers].reverse())), chosen)
  const spread = new Set(chosen)
  assert.equal(spread.size, 4, 'keys spread over every peer')
  for (const [i, k] of keys.entries()) {
    if (chosen[i] !== 'p4') assert.equal(electedPeer(k, ['p1', 'p2', 'p3']), chosen[i])
  }
  assert.equal(electedPeer('x', []), undefined)
})
