import { test } from 'node:test'
import assert from 'node:assert/strict'
import { addUnpinned, type KuboDaemon } from '../fixtures/kubo.js'
import { kuboClusterPerFile, FAST_CLUSTER_ARGS, type TestPeer } from '../fixtures/cluster.js'
import { makeCids } from '../fixtures/cids.js'
import { httpRequest } from '../fixtures/http.js'
import { waitFor } from '../fixtures/wait-for.js'

// 4 real Kubo daemons with 4 pinmesh processes: content nobody has, queue priority, a peer dying.

// A TTL longer than a quick restart, so the restart below is not a peer loss (that would re-allocate).
const TTL_MS = 4000
const ARGS = [...FAST_CLUSTER_ARGS.map(a => a === '1500ms' ? `${TTL_MS}ms` : a), '--tracker-priority-max-age', '1s', '--cluster-pin-wait', 'committed']

const cluster = kuboClusterPerFile(4, ARGS)


/** The CIDs a Kubo pins recursively, asked of the Kubo directly. */
async function recursivePins (kubo: KuboDaemon): Promise<Set<string>> {
  const r = await httpRequest(`${kubo.apiUrl}/api/v0/pin/ls?type=recursive`)
  assert.equal(r.status, 200, r.body.toString())
  return new Set(Object.keys((JSON.parse(r.body.toString()) as { Keys: Record<string, unknown> | null }).Keys ?? {}))
}

async function pinVia (p: TestPeer, cid: string, query = ''): Promise<void> {
  const r = await httpRequest(`${p.proc.proxyUrl}/api/v0/pin/add?arg=${cid}${query}`)
  assert.equal(r.status, 200, r.body.toString())
}

test('a CID nobody can provide ends in pin_error after the no-progress timeout and is retried; other pins are unaffected', async () => {
  const [nobody] = await makeCids(1, 'nobody-has-this')
  const c = cluster.peers[2] as TestPeer
  const pinnedAt = Date.now()
  await pinVia(c, nobody as string, `&replication=1&user-allocations=${c.proc.peerId}`)
  const failed = await waitFor(async () => {
    const i = (await c.admin.status(nobody as string)).peerMap[c.proc.peerId]
    return i?.status === 'pin_error' ? i : undefined
  }, { timeoutMs: 15_000, message: 'pin_error' })
  assert.match(failed.error ?? '', /progress/i)
  // Not before the no-progress timeout (--kubo-pin-timeout 2s) has passed.
  assert.ok(failed.updatedAt - pinnedAt >= 2000, `pin_error ${failed.updatedAt - pinnedAt} ms after the pin`)
  await waitFor(async () => ((await c.admin.status(nobody as string)).peerMap[c.proc.peerId]?.attempts ?? 0) >= 2, { timeoutMs: 15_000, message: 'retried' })
  const ok = await addUnpinned(cluster.kubos[0] as KuboDaemon, 'available meanwhile\n')
  await pinVia(c, ok, `&replication=1&user-allocations=${c.proc.peerId}&wait=pinned`)
  assert.equal((await c.admin.status(ok)).peerMap[c.proc.peerId]?.status, 'pinned')
})

test('a new pin overtakes 1,000 queued old ones', async () => {
  const d = cluster.peers[3] as TestPeer
  const backlog = await makeCids(1000, 'backlog')
  // Pins for every peer: re-allocation never moves them, even if a slow restart looks like a peer loss.
  assert.equal(await d.admin.pinMany(backlog), 1000)
  // After a restart, older than priorityMaxAge (1 s), the backlog is re-queued in the normal lane.
  await d.proc.stop()
  await new Promise(resolve => setTimeout(resolve, 1200))
  await d.proc.restart()
  await waitFor(async () => ((await d.admin.pinsetStats()).queued ?? 0) > 900, { timeoutMs: 20_000, message: 'backlog queued' })
  const fresh = await addUnpinned(cluster.kubos[1] as KuboDaemon, 'jump the queue\n')
  const started = Date.now()
  await pinVia(d, fresh, `&replication=1&user-allocations=${d.proc.peerId}`)
  await waitFor(async () => (await d.admin.status(fresh)).peerMap[d.proc.peerId]?.status === 'pinned', { timeoutMs: 15_000, message: 'new pin pinned' })
  const queued = (await d.admin.pinsetStats()).queued ?? 0
  assert.ok(queued > 800, `the new pin was done in ${Date.now() - started} ms while ${queued} old ones still waited`)
  await d.admin.unpinMany(backlog)
})

test('repinning: a peer holding pins dies; within 2x the metrics TTL each of its pins is held by 2 live peers again', async (t) => {
  const a = cluster.peers[0] as TestPeer
  const cids = await Promise.all(Array.from({ length: 6 }, async (_, i) => await addUnpinned(cluster.kubos[i % 4] as KuboDaemon, `replicated ${i}\n`)))
  for (const cid of cids) await pinVia(a, cid, '&replication=2&wait=pinned')
  const counts = new Map<string, number>()
  for (const cid of cids) for (const p of (await a.admin.status(cid)).allocations) counts.set(p, (counts.get(p) ?? 0) + 1)
  const victimId = [...counts.entries()].sort((x, y) => y[1] - x[1])[0]?.[0] as string
  const victim = cluster.peers.find(p => p.proc.peerId === victimId) as TestPeer
  const affected: string[] = []
  for (const cid of cids) if ((await a.admin.status(cid)).allocations.includes(victimId)) affected.push(cid)
  const observer = cluster.peers.find(p => p !== victim) as TestPeer
  // A blink shorter than the TTL changes nothing: no re-allocation, no repin storm.
  const before = await Promise.all(cids.map(async cid => await observer.admin.allocation(cid)))
  victim.proc.process.kill('SIGSTOP')
  await new Promise(resolve => setTimeout(resolve, TTL_MS / 2))
  victim.proc.process.kill('SIGCONT')
  await new Promise(resolve => setTimeout(resolve, TTL_MS))
  assert.deepEqual(await Promise.all(cids.map(async cid => await observer.admin.allocation(cid))), before)
  await victim.proc.kill()
  const killedAt = Date.now()
  // The victim's Kubo still runs (only its pinmesh died): it does not count as a live holder.
  const liveKubos = cluster.peers.flatMap((p, i) => p === victim ? [] : [{ id: p.proc.peerId, kubo: cluster.kubos[i] as KuboDaemon }])
  await waitFor(async () => {
    const kuboPins = new Map(await Promise.all(liveKubos.map(async ({ id, kubo }) => [id, await recursivePins(kubo)] as const)))
    for (const cid of affected) {
      const s = await observer.admin.status(cid)
      const live = Object.entries(s.peerMap).filter(([id, i]) => id !== victimId && i.status === 'pinned')
      if (live.length < 2) return false
      // Checked on Kubo itself: each holder's Kubo pins it, and at least 2 live Kubos do.
      if (!live.every(([id]) => kuboPins.get(id)?.has(cid) === true)) return false
      if ([...kuboPins.values()].filter(pins => pins.has(cid)).length < 2) return false
    }
    return true
  }, { timeoutMs: 2 * TTL_MS + 1000, intervalMs: 100, message: 'every affected pin held by 2 live peers, in their Kubos' })
  const took = Date.now() - killedAt
  t.diagnostic(`re-replicated in ${took} ms (TTL ${TTL_MS} ms)`)
  assert.ok(took <= 2 * TTL_MS, `re-replicated in ${took} ms`)
  await victim.proc.restart()
})

test('a pin past its expiry is removed from the pinset and unpinned everywhere', async () => {
  const a = cluster.peers[0] as TestPeer
  const cid = await addUnpinned(cluster.kubos[0] as KuboDaemon, 'expires soon\n')
  await pinVia(a, cid, '&expire-in=2s&wait=pinned')
  const rec = await a.admin.allocation(cid)
  assert.ok(rec.expireAt !== undefined && rec.expireAt > Date.now())
  await waitFor(async () => {
    for (const p of cluster.peers) {
      try { await p.admin.allocation(cid); return false } catch { /* gone here */ }
    }
    return true
  }, { timeoutMs: 15_000, message: 'expired pin removed from every pinset' })
  await waitFor(async () => {
    for (const k of cluster.kubos) if ((await k.cli(['pin', 'ls', '--type=recursive', cid])).code === 0) return false
    return true
  }, { timeoutMs: 15_000, message: 'unpinned on every Kubo' })
})
