import { test } from 'node:test'
import assert from 'node:assert/strict'
import { create } from 'kubo-rpc-client'
import { CID } from 'multiformats/cid'
import { addUnpinned, type KuboDaemon } from '../fixtures/kubo.js'
import { kuboClusterPerFile, type TestPeer } from '../fixtures/cluster.js'
import { httpRequest } from '../fixtures/http.js'
import { waitFor } from '../fixtures/wait-for.js'

// 3 real Kubo daemons, each with its own pinmesh process; pins go in through the Kubo API.

const cluster = kuboClusterPerFile(3)


async function kuboHolds (kubo: KuboDaemon, cid: string): Promise<boolean> {
  const r = await kubo.cli(['pin', 'ls', '--type=recursive', cid])
  return r.code === 0 && r.stdout.startsWith(cid)
}

async function holders (cid: string): Promise<number[]> {
  const out: number[] = []
  for (const [i, k] of cluster.kubos.entries()) if (await kuboHolds(k, cid)) out.push(i)
  return out
}

const A = (): TestPeer => cluster.peers[0] as TestPeer
const C = (): TestPeer => cluster.peers[2] as TestPeer

test('ipfs pin add through pinmesh A pins content that only Kubo B has on every allocated Kubo, printing what Kubo prints', async () => {
  const cid = await addUnpinned(cluster.kubos[1] as KuboDaemon, 'only Kubo B has this\n')
  const viaPinmesh = await cluster.kubos[0]?.cli(['pin', 'add', cid], { api: A().proc.proxyMultiaddr })
  assert.equal(viaPinmesh?.code, 0, viaPinmesh?.stderr)
  // Kubo-like: pin add returns once the pin is held (default replication: every peer).
  assert.deepEqual(await holders(cid), [0, 1, 2])
  const direct = await cluster.kubos[1]?.cli(['pin', 'add', cid])
  assert.equal(viaPinmesh?.stdout, direct?.stdout)
  assert.equal(viaPinmesh?.stdout, `pinned ${cid} recursively\n`)
  assert.equal(viaPinmesh?.stderr, direct?.stderr)
})

test('replication=2: exactly 2 Kubos hold the pin; status shows pinned x2 and remote x1', async () => {
  const cid = await addUnpinned(cluster.kubos[2] as KuboDaemon, 'two copies please\n')
  const r = await httpRequest(`${A().proc.proxyUrl}/api/v0/pin/add?arg=${cid}&replication=2`)
  assert.equal(r.status, 200, r.body.toString())
  assert.equal(r.body.toString(), `{"Pins":["${cid}"]}\n`)
  const status = await A().admin.status(cid)
  const counts: Record<string, number> = {}
  for (const i of Object.values(status.peerMap)) counts[i.status] = (counts[i.status] ?? 0) + 1
  assert.deepEqual(counts, { pinned: 2, remote: 1 })
  assert.equal(status.allocations.length, 2)
  assert.equal((await holders(cid)).length, 2)
})

test('pin rm through peer C unpins on every Kubo, and pin ls through each peer agrees', async () => {
  const cid = await addUnpinned(cluster.kubos[0] as KuboDaemon, 'short-lived pin\n')
  assert.equal((await cluster.kubos[0]?.cli(['pin', 'add', cid], { api: A().proc.proxyMultiaddr }))?.code, 0)
  assert.deepEqual(await holders(cid), [0, 1, 2])
  for (const p of cluster.peers) assert.match((await cluster.kubos[0]?.cli(['pin', 'ls', cid], { api: p.proc.proxyMultiaddr }))?.stdout ?? '', new RegExp(`^${cid} recursive`))
  const rm = await cluster.kubos[0]?.cli(['pin', 'rm', cid], { api: C().proc.proxyMultiaddr })
  assert.equal(rm?.stdout, `unpinned ${cid}\n`)
  await waitFor(async () => (await holders(cid)).length === 0, { timeoutMs: 15_000, message: 'unpinned on every Kubo' })
  for (const p of cluster.peers) {
    const ls = await cluster.kubos[0]?.cli(['pin', 'ls', cid], { api: p.proc.proxyMultiaddr })
    assert.equal(ls?.code, 1)
    assert.match(ls?.stderr ?? '', /is not pinned/)
  }
  const again = await cluster.kubos[0]?.cli(['pin', 'rm', cid], { api: A().proc.proxyMultiaddr })
  const kubo = await cluster.kubos[0]?.cli(['pin', 'rm', cid])
  assert.equal(again?.code, kubo?.code)
  assert.equal(again?.stderr, kubo?.stderr)
})

test('a pin removed behind pinmesh\'s back is reported unexpectedly_unpinned, then pinned again without a command', async () => {
  const cid = await addUnpinned(cluster.kubos[1] as KuboDaemon, 'keep me pinned\n')
  assert.equal((await cluster.kubos[0]?.cli(['pin', 'add', cid], { api: A().proc.proxyMultiaddr }))?.code, 0)
  const b = cluster.peers[1] as TestPeer
  assert.equal((await cluster.kubos[1]?.cli(['pin', 'rm', cid]))?.code, 0)
  const seen = await waitFor(async () => (await b.admin.status(cid)).peerMap[b.proc.peerId]?.status === 'unexpectedly_unpinned', { timeoutMs: 5_000, intervalMs: 20, message: 'reported unexpectedly_unpinned' })
  assert.ok(seen)
  await waitFor(async () => await kuboHolds(cluster.kubos[1] as KuboDaemon, cid), { timeoutMs: 15_000, message: 'pinned again on Kubo B' })
  await waitFor(async () => (await b.admin.status(cid)).peerMap[b.proc.peerId]?.status === 'pinned', { timeoutMs: 5_000 })
})

test('kubo-rpc-client pin.add/addAll/rm/rmAll/ls/update through pinmesh behave as against Kubo', async () => {
  const client = create({ url: `${A().proc.proxyUrl}/api/v0` })
  const k = cluster.kubos[0] as KuboDaemon
  const [c1, c2, c3, c4] = await Promise.all(['rpc one\n', 'rpc two\n', 'rpc three\n', 'rpc four\n'].map(async t => await addUnpinned(k, t)))
  const added = await client.pin.add(CID.parse(c1 as string))
  assert.equal(added.toString(), c1)
  const all: string[] = []
  for await (const c of client.pin.addAll([CID.parse(c2 as string), { cid: CID.parse(c3 as string), recursive: false }])) all.push(c.toString())
  assert.deepEqual(all, [c2, c3])
  const listed = new Map<string, string>()
  for await (const p of client.pin.ls()) listed.set(p.cid.toString(), p.type)
  assert.equal(listed.get(c1 as string), 'recursive')
  assert.equal(listed.get(c3 as string), 'direct')
  const one: Array<{ cid: string, type: string }> = []
  for await (const p of client.pin.ls({ paths: [CID.parse(c3 as string)] })) one.push({ cid: p.cid.toString(), type: p.type })
  assert.deepEqual(one, [{ cid: c3, type: 'direct' }])
  const updated = await client.pin.update(CID.parse(c1 as string), CID.parse(c4 as string))
  assert.deepEqual(updated.map(String), [c1, c4])
  assert.equal(await kuboHolds(k, c4 as string), true)
  const removed = await client.pin.rm(CID.parse(c4 as string))
  assert.equal(removed.toString(), c4)
  const rmAll: string[] = []
  for await (const c of client.pin.rmAll([{ cid: CID.parse(c2 as string) }, { cid: CID.parse(c3 as string) }])) rmAll.push(c.toString())
  assert.deepEqual(rmAll, [c2, c3])
  await assert.rejects(client.pin.rm(CID.parse(c2 as string)), /not pinned or pinned indirectly/)
  const left: string[] = []
  for await (const p of client.pin.ls()) left.push(p.cid.toString())
  for (const c of [c1, c2, c3, c4]) assert.ok(!left.includes(c as string), `${c} is gone from pin ls`)
})

test('repo/stat (and its alias stats/repo) sums the cluster\'s Kubos; repo/gc runs on every peer', async () => {
  let direct = 0
  let max = 0
  for (const k of cluster.kubos) {
    const s = JSON.parse((await httpRequest(`${k.apiUrl}/api/v0/repo/stat?size-only=true`)).body.toString()) as Record<string, number>
    direct += s.RepoSize as number
    max += s.StorageMax as number
  }
  for (const command of ['repo/stat', 'stats/repo']) {
    const sum = JSON.parse((await httpRequest(`${A().proc.proxyUrl}/api/v0/${command}`)).body.toString()) as Record<string, number>
    assert.equal(sum.StorageMax, max, command)
    assert.ok(Math.abs((sum.RepoSize as number) - direct) < direct * 0.2, `${command} summed ${sum.RepoSize} vs ${direct}`)
  }
  const garbage = await Promise.all(cluster.kubos.map(async (k, i) => await addUnpinned(k, `garbage ${i}\n`)))
  const gc = await httpRequest(`${C().proc.proxyUrl}/api/v0/repo/gc`)
  assert.equal(gc.status, 200)
  // Kubo's gc names blocks by multihash (as raw CIDv1), so compare multihashes.
  const hashes = gc.body.toString().split('\n').filter(l => l !== '').map(l => Buffer.from(CID.parse((JSON.parse(l) as { Key: { '/': string } }).Key['/']).multihash.bytes).toString('hex'))
  for (const [i, g] of garbage.entries()) {
    assert.ok(hashes.includes(Buffer.from(CID.parse(g).multihash.bytes).toString('hex')), `garbage of Kubo ${i} collected`)
    assert.equal((await cluster.kubos[i]?.cli(['block', 'stat', '--offline', g]))?.code, 1)
  }
})
