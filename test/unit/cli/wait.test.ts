import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { GlobalPinInfo } from '../../../src/cluster/index.js'
import type { TrackerStatus } from '../../../src/tracker/index.js'
import { pinProgress, waitPinned, WaitError } from '../../../src/cli/wait.js'

function g (statuses: Record<string, TrackerStatus>, allocations: string[] = [], error?: string): GlobalPinInfo {
  const peerMap: GlobalPinInfo['peerMap'] = {}
  for (const [peer, status] of Object.entries(statuses)) peerMap[peer] = { cid: 'Qm1', peer, status, attempts: 0, priority: false, updatedAt: 0, ...(error !== undefined && status.endsWith('error') ? { error } : {}) }
  return { cid: 'Qm1', name: '', allocations, replicationMin: -1, replicationMax: -1, peerMap }
}

test('pinProgress: done, pending and failed', () => {
  const cases: Array<[string, GlobalPinInfo, string]> = [
    ['everywhere, all pinned', g({ a: 'pinned', b: 'pinned', c: 'pinned' }), 'done'],
    ['allocated ones pinned, the rest remote', g({ a: 'pinned', b: 'pinned', c: 'remote' }, ['a', 'b']), 'done'],
    ['one still pinning', g({ a: 'pinned', b: 'pinning' }), 'pending'],
    ['a peer that has not heard of it yet', g({ a: 'pinned', b: 'unpinned' }), 'pending'],
    ['queued', g({ a: 'queued' }), 'pending'],
    ['allocated peer missing from the map', g({ a: 'pinned', c: 'remote' }, ['a', 'b']), 'pending'],
    ['nobody answered yet', g({}), 'pending'],
    ['only remote', g({ a: 'remote' }), 'pending'],
    ['pin_error fails', g({ a: 'pinned', b: 'pin_error' }), 'failed'],
    ['cluster_error fails', g({ a: 'cluster_error' }), 'failed'],
    ['unpin_error fails', g({ a: 'unpin_error' }), 'failed']
  ]
  for (const [name, info, state] of cases) assert.equal(pinProgress(info).state, state, name)
})

test('waitPinned polls until every allocated peer is pinned', async () => {
  const seq = [g({ a: 'queued', b: 'unpinned' }), g({ a: 'pinning', b: 'queued' }), g({ a: 'pinned', b: 'pinned' })]
  let calls = 0
  const slept: number[] = []
  const seen: string[] = []
  const info = await waitPinned(async () => seq[Math.min(calls++, seq.length - 1)] as GlobalPinInfo, 'Qm1', {
    intervalMs: 7, sleep: async (ms) => { slept.push(ms) }, onStatus: (i) => { seen.push(i.peerMap.a?.status ?? '') }
  })
  assert.equal(calls, 3)
  assert.deepEqual(slept, [7, 7])
  assert.deepEqual(seen, ['queued', 'pinning', 'pinned'])
  assert.equal(info.peerMap.b?.status, 'pinned')
})

test('waitPinned fails fast on pin_error, naming the peer and the error', async () => {
  await assert.rejects(waitPinned(async () => g({ a: 'pinned', b: 'pin_error' }, [], 'boom'), 'Qm1', { names: new Map([['b', 'peer2']]), sleep: async () => {} }),
    (e: Error) => e instanceof WaitError && e.message === 'Qm1 is pin_error on peer2: boom' && e.info?.peerMap.b?.status === 'pin_error' && e.names.get('b') === 'peer2')
})

test('waitPinned gives up at the timeout with the last status', async () => {
  let t = 0
  await assert.rejects(waitPinned(async () => g({ a: 'pinning' }), 'Qm1', { timeoutMs: 2000, intervalMs: 500, now: () => t, sleep: async (ms) => { t += ms } }),
    (e: Error) => e instanceof WaitError && e.message === 'Qm1 was not pinned on every allocated peer within 2s' && e.info?.peerMap.a?.status === 'pinning')
  assert.equal(t, 2000)
})

test('admin API errors during the wait propagate', async () => {
  await assert.rejects(waitPinned(async () => { throw Object.assign(new Error('nope'), { code: 'ERR_PIN_NOT_FOUND' }) }, 'Qm1', {}), /nope/)
})
