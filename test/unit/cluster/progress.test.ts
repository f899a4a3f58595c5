import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pinProgress } from '../../../src/cluster/progress.js'
import type { PinInfo, TrackerStatus } from '../../../src/tracker/index.js'

/** Each peer's last known status, as the waiter holds them. */
function info (peers: Record<string, [TrackerStatus, number?]>): (peer: string) => PinInfo | undefined {
  const peerMap = new Map<string, PinInfo>()
  for (const [peer, [status, nodes]] of Object.entries(peers)) {
    peerMap.set(peer, { cid: 'c', peer, status, attempts: 0, priority: false, updatedAt: 0, ...(nodes !== undefined ? { progress: { nodes, bytes: nodes * 10 } } : {}) })
  }
  return p => peerMap.get(p)
}

test('pin progress: this peer\'s Kubo while it is allocated, even when another is further along', () => {
  assert.deepEqual(pinProgress(info({ me: ['pinning', 5], b: ['pinning', 50] }), ['me', 'b'], 'me'), { nodes: 5, bytes: 50 })
  assert.equal(pinProgress(info({ me: ['queued'], b: ['pinning', 50] }), ['me', 'b'], 'me'), undefined)
})

test('pin progress: the allocated peer furthest along when this peer is not allocated', () => {
  assert.deepEqual(pinProgress(info({ a: ['pinning', 5], b: ['pinning', 50], me: ['remote', 99] }), ['a', 'b'], 'me'), { nodes: 50, bytes: 500 })
  assert.equal(pinProgress(info({ a: ['queued'], b: ['queued'] }), ['a', 'b'], 'me'), undefined)
})

test('pin progress: the final count of a peer that pinned it, this peer\'s first', () => {
  assert.deepEqual(pinProgress(info({ me: ['pinning', 5], b: ['pinned', 70] }), ['me', 'b'], 'me'), { nodes: 70, bytes: 700 })
  assert.deepEqual(pinProgress(info({ me: ['pinned', 70], b: ['pinned', 71] }), ['me', 'b'], 'me'), { nodes: 70, bytes: 700 })
  // A pinned peer without a known count (pinned long ago) does not hide the others'.
  assert.deepEqual(pinProgress(info({ a: ['pinned'], b: ['pinning', 9] }), ['a', 'b'], 'me'), { nodes: 9, bytes: 90 })
})
