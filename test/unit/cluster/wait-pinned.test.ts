import { test } from 'node:test'
import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { pino } from 'pino'
import { PinsetCluster, type ClusterComponents } from '../../../src/cluster/cluster.js'
import { RpcError } from '../../../src/errors.js'
import type { PinRecord } from '../../../src/types.js'
import type { PinInfo, TrackerStatus } from '../../../src/tracker/index.js'
import { waitFor } from '../../fixtures/wait-for.js'

// PinsetCluster.waitPinned against fake peers: how it waits, and what it leaves behind.

const CID = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'
const PEERS = ['peer-a', 'peer-b']

interface FakePeer { status: TrackerStatus, error?: string, progress?: { nodes: number, bytes: number }, attempts: number }

/** A cluster of two trusted peers whose trackers answer from `peers`; `calls` counts RPC calls by method. */
function world (init: { waitFails?: () => boolean } = {}): { cluster: PinsetCluster, peers: Map<string, FakePeer>, calls: Map<string, number> } {
  const record: PinRecord = { cid: CID, name: '', mode: 'recursive', replicationMin: 2, replicationMax: 2, allocations: PEERS, metadata: {}, createdAt: 1, updatedAt: 1, updatedBy: 'peer-a' }
  const peers = new Map(PEERS.map(p => [p, { status: 'pinning' as TrackerStatus, attempts: 1 }]))
  const calls = new Map<string, number>()
  const info = (peer: string): PinInfo => {
    const p = peers.get(peer) as FakePeer
    return { cid: CID, peer, status: p.status, attempts: p.attempts, priority: true, updatedAt: p.attempts, ...(p.error !== undefined ? { error: p.error } : {}), ...(p.progress !== undefined ? { progress: p.progress } : {}) }
  }
  const rpc = {
    async call (peer: string, method: string, _params: unknown, options: { signal?: AbortSignal } = {}): Promise<unknown> {
      calls.set(method, (calls.get(method) ?? 0) + 1)
      options.signal?.throwIfAborted()
      if (method === 'tracker.waitStatus') {
        if (init.waitFails?.() === true) throw new RpcError(peer, 'no such method tracker.waitStatus')
        // A long-poll that times out at once with nothing new: the worst case for what each round leaves behind.
        await new Promise(resolve => setTimeout(resolve, 1))
      }
      return info(peer)
    }
  }
  const components = {
    pinset: { get: (c: string) => (c === CID ? record : undefined), onChange: () => () => {} },
    monitor: { alive: () => PEERS.map(peer => ({ peer })) },
    rpc,
    logger: pino({ level: 'silent' }),
    self: 'peer-a',
    isTrusted: () => true
  } as unknown as ClusterComponents
  const cluster = new PinsetCluster(components, { replicationMin: 2, replicationMax: 2, repinning: false, connectKubos: false, statusPollMs: 1, statusWaitMs: 1 })
  return { cluster, peers, calls }
}

const total = (calls: Map<string, number>): number => [...calls.values()].reduce((a, b) => a + b, 0)

test('waitPinned keeps no abort listener per poll on the caller\'s signal, and none after it returns', async (t) => {
  const warnings: Error[] = []
  const onWarning = (w: Error): void => { warnings.push(w) }
  process.on('warning', onWarning)
  t.after(() => { process.off('warning', onWarning) })
  let failing = false
  const { cluster, peers, calls } = world({ waitFails: () => failing })
  const ctl = new AbortController()
  let most = 0
  const waiting = cluster.waitPinned(CID, { signal: ctl.signal })
  // Many rounds of long-polls that bring nothing new, then many of failed calls (each followed by a pause and a plain status call).
  await waitFor(() => { most = Math.max(most, getEventListeners(ctl.signal, 'abort').length); return total(calls) >= 60 }, { intervalMs: 1, timeoutMs: 20_000 })
  failing = true
  const before = total(calls)
  await waitFor(() => { most = Math.max(most, getEventListeners(ctl.signal, 'abort').length); return total(calls) >= before + 60 }, { intervalMs: 1, timeoutMs: 20_000 })
  for (const p of peers.values()) p.status = 'pinned'
  const info = await waiting
  assert.deepEqual(Object.values(info.peerMap).map(i => i.status), ['pinned', 'pinned'])
  assert.ok(most <= 1, `${most} abort listeners on the caller's signal while waiting`)
  assert.equal(getEventListeners(ctl.signal, 'abort').length, 0)
  await new Promise(resolve => setImmediate(resolve))
  assert.deepEqual(warnings.filter(w => w.name === 'MaxListenersExceededWarning').map(w => w.message), [])
})

test('waitPinned fails fast when too few allocated peers can still pin', async () => {
  const { cluster, peers } = world()
  const b = peers.get('peer-b') as FakePeer
  Object.assign(b, { status: 'pin_error', error: 'kubo made no progress pinning for 2000 ms' })
  await assert.rejects(cluster.waitPinned(CID), /made no progress/)
})

test('waitPinned rejects with the caller\'s reason when the caller gives up', async () => {
  const { cluster } = world()
  const ctl = new AbortController()
  const waiting = cluster.waitPinned(CID, { signal: ctl.signal })
  const reason = new Error('client went away')
  setTimeout(() => { ctl.abort(reason) }, 20)
  await assert.rejects(waiting, (err) => err === reason)
  assert.equal(getEventListeners(ctl.signal, 'abort').length, 0)
})

test('waitPinned passes the peers\' progress to onProgress', async () => {
  const { cluster, peers } = world()
  const a = peers.get('peer-a') as FakePeer
  a.progress = { nodes: 3, bytes: 300 }
  const seen: Array<[number, number]> = []
  const waiting = cluster.waitPinned(CID, { onProgress: (n, b) => { seen.push([n, b]) } })
  await waitFor(() => seen.length > 0)
  for (const p of peers.values()) { p.status = 'pinned'; delete p.progress }
  await waiting
  assert.deepEqual(seen[0], [3, 300])
})
