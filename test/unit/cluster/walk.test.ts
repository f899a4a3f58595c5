import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { PinsetCluster, type ClusterComponents } from '../../../src/cluster/cluster.js'
import type { PinRecord } from '../../../src/types.js'
import type { PinInfo } from '../../../src/tracker/index.js'
import { MapPinset } from '../../fixtures/map-pinset.js'
import { makeCids } from '../../fixtures/cids.js'
import { waitFor } from '../../fixtures/wait-for.js'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ShardedPinSet } from '../../../src/pinset/index.js'

// The cluster's walks of the pinset go a batch at a time (scan) or a page at a time (page), and
// what they ask of other peers and write to the pinset is bounded.

const PEERS = ['peer-a', 'peer-b', 'peer-c']

function rec (cid: string, over: Partial<PinRecord> = {}): PinRecord {
  return { cid, name: '', mode: 'recursive', replicationMin: 2, replicationMax: 2, allocations: ['peer-a', 'peer-b'], metadata: {}, createdAt: 1, updatedAt: 1, updatedBy: 'peer-a', ...over }
}

interface World {
  cluster: PinsetCluster
  pinset: MapPinset & { puts: number[], removes: number[] }
  calls: Array<{ peer: string, method: string, params: { cids: string[], refresh: boolean } }>
  gone: (peer: string) => void
}

/** A cluster of three trusted peers (this one peer-a) whose trackers answer `pinned` for every CID asked. */
async function world (t: { after: (fn: () => Promise<void>) => void }, records: PinRecord[], options: { shards?: number, alive?: string[], maintenanceIntervalMs?: number } = {}): Promise<World> {
  const pinset = Object.assign(new MapPinset({ shards: options.shards ?? 8 }), { puts: [] as number[], removes: [] as number[] })
  for (const r of records) pinset.map.set(r.cid, r)
  const writer = {
    async put (rs: readonly PinRecord[]) { pinset.puts.push(rs.length); for (const r of rs) pinset.map.set(r.cid, r) },
    async remove (cids: readonly string[]) { pinset.removes.push(cids.length); for (const c of cids) pinset.map.delete(c) }
  }
  const calls: World['calls'] = []
  const rpc = {
    register () {},
    async call (peer: string, method: string, params: { cids: string[], refresh: boolean }): Promise<PinInfo[]> {
      calls.push({ peer, method, params })
      assert.equal(method, 'tracker.statusMany')
      return params.cids.map(cid => ({ cid, peer, status: 'pinned', attempts: 0, priority: false, updatedAt: 1 }))
    }
  }
  let onGone: (peer: string) => void = () => {}
  const alive = options.alive ?? PEERS
  const components = {
    pinset: new Proxy(pinset, { get: (target, key) => key in writer ? writer[key as keyof typeof writer] : Reflect.get(target, key) }),
    tracker: {},
    monitor: { alive: () => alive.map(peer => ({ peer, freeSpace: 1 << 30, queued: 0, tags: {} })), onPeerUp: () => () => {} },
    peerLoss: { onPeerGone: (fn: (peer: string) => void) => { onGone = fn; return () => {} } },
    allocator: { allocate: (r: { current: string[], candidates: Array<{ peer: string }>, blacklist: string[], max: number }) => [...r.current, ...r.candidates.map(c => c.peer).filter(p => !r.current.includes(p) && !r.blacklist.includes(p))].slice(0, r.max) },
    rpc,
    logger: pino({ level: 'silent' }),
    self: 'peer-a',
    isTrusted: () => true
  } as unknown as ClusterComponents
  const cluster = new PinsetCluster(components, { replicationMin: 2, replicationMax: 2, repinning: true, connectKubos: false, maintenanceIntervalMs: options.maintenanceIntervalMs ?? 600_000 })
  await cluster.start()
  t.after(async () => { await cluster.stop() })
  return { cluster, pinset, calls, gone: (peer) => { onGone(peer) } }
}

test('statusPage asks each live peer for the page\'s CIDs only, has Kubo listed anew on the first page only, and pages without gaps or duplicates', async (t) => {
  const cids = await makeCids(25, 'cluster-walk-page')
  const { cluster, calls } = await world(t, cids.map(c => rec(c)))
  const seen: string[] = []
  let cursor: string | undefined
  let pages = 0
  do {
    const page = await cluster.statusPage({ limit: 10, ...(cursor !== undefined ? { cursor } : {}) })
    pages++
    assert.ok(page.pins.length <= 10)
    for (const g of page.pins) { seen.push(g.cid); assert.deepEqual(Object.keys(g.peerMap).sort(), PEERS) }
    const asked = calls.splice(0)
    assert.deepEqual(asked.map(c => c.peer).sort(), PEERS)
    for (const c of asked) {
      assert.deepEqual(c.params.cids, page.pins.map(g => g.cid))
      assert.equal(c.params.refresh, cursor === undefined)
    }
    cursor = page.next
  } while (cursor !== undefined)
  assert.equal(pages, 3)
  assert.deepEqual([...seen].sort(), [...cids].sort())
  assert.equal(new Set(seen).size, seen.length)
})

test('statusPage refuses a cursor it did not make and a limit outside 1..10000 with InvalidParametersError', async (t) => {
  const { cluster } = await world(t, [])
  for (const cursor of ['nonsense', 'zz.bafy', '999.x', '.bafy']) {
    await assert.rejects(cluster.statusPage({ cursor, limit: 10 }), { name: 'InvalidParametersError' }, cursor)
  }
  for (const limit of [0, -1, 10_001, 1.5]) await assert.rejects(cluster.statusPage({ limit }), { name: 'InvalidParametersError' }, String(limit))
})

test('statusAll streams every pin, asking each peer about at most 1000 CIDs per call', async (t) => {
  const cids = await makeCids(2500, 'cluster-walk-all')
  const { cluster, calls } = await world(t, cids.map(c => rec(c)), { shards: 1 })
  const seen = new Set<string>()
  for await (const g of cluster.statusAll()) seen.add(g.cid)
  assert.equal(seen.size, cids.length)
  assert.ok(calls.length >= 3 * PEERS.length)
  for (const c of calls) assert.ok(c.params.cids.length <= 1000, `${c.params.cids.length} CIDs in one call`)
  assert.equal(calls.filter(c => c.params.refresh).length, PEERS.length, 'one fresh Kubo listing per peer per walk')
})

test('a gone peer\'s pins are re-allocated in chunks written as the walk goes', async (t) => {
  const cids = await makeCids(2500, 'cluster-walk-gone')
  // peer-a, the only live peer, is elected for every CID and takes over each pin.
  const { pinset, gone } = await world(t, cids.map(c => rec(c, { allocations: ['peer-b'], replicationMin: 1, replicationMax: 1 })), { shards: 4, alive: ['peer-a'] })
  const putsAtBatch: number[] = []
  pinset.onBatch = () => { putsAtBatch.push(pinset.puts.length) }
  gone('peer-b')
  await waitFor(() => [...pinset.map.values()].every(r => !r.allocations.includes('peer-b')), { timeoutMs: 10_000, message: 'every pin re-allocated' })
  assert.ok(pinset.puts.length >= 3, `puts: ${pinset.puts.join(',')}`)
  for (const n of pinset.puts) assert.ok(n <= 1000, `${n} pins in one write`)
  assert.equal(pinset.puts.reduce((a, b) => a + b, 0), cids.length)
  assert.ok((putsAtBatch.at(-1) ?? 0) > 0, `writes began before the walk ended: ${putsAtBatch.join(',')}`)
  for (const r of pinset.map.values()) assert.deepEqual(r.allocations, ['peer-a'])
})

test('a pin unpinned or changed by a user while the re-allocation walk is under way is left as the user made it', async (t) => {
  const cids = await makeCids(2500, 'cluster-walk-gone-race')
  const { pinset, gone } = await world(t, cids.map(c => rec(c, { allocations: ['peer-b'], replicationMin: 1, replicationMax: 1 })), { shards: 4, alive: ['peer-a'] })
  const firstBatch: string[] = []
  let unpinned: string | undefined
  let changed: string | undefined
  pinset.onBatch = (_shard, pins) => {
    if (firstBatch.length === 0) { firstBatch.push(...pins.map(p => p.cid)); return }
    if (unpinned !== undefined) return
    // Read in the first batch, not written yet (fewer than 1000 pending): a user unpins one and re-pins another meanwhile.
    unpinned = firstBatch[0] as string
    changed = firstBatch[1] as string
    pinset.map.delete(unpinned)
    pinset.map.set(changed, rec(changed, { allocations: ['peer-b'], replicationMin: 1, replicationMax: 1, name: 'renamed by a user', updatedAt: 2, updatedBy: 'peer-b' }))
  }
  gone('peer-b')
  await waitFor(() => pinset.puts.reduce((a, b) => a + b, 0) >= cids.length - 2, { timeoutMs: 10_000, message: 're-allocated' })
  await new Promise(resolve => setTimeout(resolve, 50))
  assert.ok(firstBatch.length > 2 && firstBatch.length < 1000, `${firstBatch.length} pins in the first batch`)
  assert.equal(pinset.map.has(unpinned as string), false, 'an unpinned pin is not brought back')
  assert.equal(pinset.map.get(changed as string)?.name, 'renamed by a user')
  assert.equal(pinset.puts.reduce((a, b) => a + b, 0), cids.length - 2)
})

test('expired pins are removed in chunks as the walk goes', async (t) => {
  const cids = await makeCids(2600, 'cluster-walk-expire')
  const { pinset } = await world(t, cids.map((c, i) => rec(c, { ...(i < 2200 ? { expireAt: 1 } : {}) })), { shards: 16, alive: ['peer-a'], maintenanceIntervalMs: 20 })
  const removesAtBatch: number[] = []
  pinset.onBatch = () => { removesAtBatch.push(pinset.removes.length) }
  await waitFor(() => pinset.map.size === 400, { timeoutMs: 10_000, message: 'expired pins removed' })
  assert.deepEqual(pinset.removes, [1000, 1000, 200])
  assert.ok(removesAtBatch.slice(0, 16).at(-1) as number > 0, `removals began before the walk ended: ${removesAtBatch.join(',')}`)
  assert.ok([...pinset.map.values()].every(r => r.expireAt === undefined))
})

test('an expired pin renewed while the expiry walk is under way is kept', async (t) => {
  const cids = await makeCids(400, 'cluster-walk-renew')
  const { pinset } = await world(t, [], { shards: 4, alive: ['peer-a'], maintenanceIntervalMs: 20 })
  let renewed: string | undefined
  let first: string[] = []
  pinset.onBatch = (_shard, pins) => {
    if (first.length === 0) { first = pins.map(p => p.cid); return }
    if (renewed === undefined) { renewed = first[0] as string; pinset.map.set(renewed, rec(renewed, { expireAt: Date.now() + 3600_000, updatedAt: 2 })) }
  }
  for (const c of cids) pinset.map.set(c, rec(c, { expireAt: 1 }))
  await waitFor(() => pinset.map.size === 1, { timeoutMs: 10_000, message: 'expired pins removed' })
  assert.ok(renewed !== undefined && pinset.map.has(renewed), 'the renewed pin stays')
})

test('with the real ShardedPinSet, status pages of 1000 cover 2,500 pins in three pages, without gaps or duplicates, across a pin written between pages', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pinmesh-cluster-walk-'))
  const pinset = new ShardedPinSet({ logger: pino({ level: 'silent' }) }, { dir, trusted: true, shards: 64 })
  await pinset.start()
  t.after(async () => { await pinset.stop(); await rm(dir, { recursive: true, force: true }) })
  const cids = await makeCids(2500, 'cluster-walk-sharded')
  await pinset.put(cids.map(c => rec(c)))
  const components = {
    pinset,
    tracker: {},
    monitor: { alive: () => [{ peer: 'peer-a' }], onPeerUp: () => () => {} },
    peerLoss: { onPeerGone: () => () => {} },
    rpc: { register () {}, async call (peer: string, _m: string, p: { cids: string[] }) { return p.cids.map(cid => ({ cid, peer, status: 'pinned', attempts: 0, priority: false, updatedAt: 1 })) } },
    logger: pino({ level: 'silent' }),
    self: 'peer-a',
    isTrusted: () => true
  } as unknown as ClusterComponents
  const cluster = new PinsetCluster(components, { replicationMin: 1, replicationMax: 1, repinning: false, connectKubos: false })
  const seen: string[] = []
  let cursor: string | undefined
  let pages = 0
  do {
    const page = await cluster.statusPage({ limit: 1000, ...(cursor !== undefined ? { cursor } : {}) })
    if (pages === 0) await pinset.put([rec((await makeCids(1, 'cluster-walk-sharded-late'))[0] as string)])
    pages++
    seen.push(...page.pins.map(g => g.cid))
    cursor = page.next
  } while (cursor !== undefined)
  assert.equal(pages, 3)
  assert.equal(new Set(seen).size, seen.length, 'no duplicates')
  assert.deepEqual(cids.filter(c => !seen.includes(c)), [], 'no gaps')
  await assert.rejects(cluster.statusPage({ limit: 10, cursor: 'fff.x' }), { name: 'InvalidParametersError' })
})
