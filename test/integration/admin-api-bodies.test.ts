import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { AdminClient } from '../../src/api/client.js'
import { startKubos, type KuboDaemon } from '../fixtures/kubo.js'
import { startPinmesh, newSecret } from '../fixtures/pinmesh.js'
import { FAST_CLUSTER_ARGS, waitForMesh, type TestPeer } from '../fixtures/cluster.js'
import { httpRequest } from '../fixtures/http.js'
import { waitFor } from '../fixtures/wait-for.js'

// What the admin API answers, field by field, read off the wire of 3 real peers with 3 real Kubos.

let kubos: KuboDaemon[] = []
let peers: TestPeer[] = []
let startedAt = 0
const NAMES = ['bodies-a', 'bodies-b', 'bodies-c']

before(async () => {
  startedAt = Date.now()
  kubos = await startKubos(3)
  const secret = newSecret()
  const first = await startPinmesh({ kuboApi: kubos[0]?.apiMultiaddr, secret, args: [...FAST_CLUSTER_ARGS, '--cluster-peername', NAMES[0] as string] })
  const rest = await Promise.all([1, 2].map(async i => await startPinmesh({
    kuboApi: kubos[i]?.apiMultiaddr, secret, bootstrap: first.swarmAddrs, args: [...FAST_CLUSTER_ARGS, '--cluster-peername', NAMES[i] as string]
  })))
  peers = [first, ...rest].map(proc => ({ proc, admin: new AdminClient({ url: proc.apiUrl }) }))
  await waitForMesh(peers)
})
after(async () => {
  await Promise.all(peers.map(async p => { await p.proc.destroy() }))
  await Promise.all(kubos.map(async k => { await k.destroy() }))
})

async function getJson (peer: TestPeer, path: string): Promise<any> {
  const r = await httpRequest(`${peer.proc.apiUrl}${path}`, { method: 'GET' })
  assert.equal(r.status, 200, r.body.toString())
  assert.match(String(r.headers['content-type']), /^application\/json/)
  return JSON.parse(r.body.toString())
}

async function kuboFreeSpace (kubo: KuboDaemon): Promise<number> {
  const r = await httpRequest(`${kubo.apiUrl}/api/v0/repo/stat?size-only=true`)
  const s = JSON.parse(r.body.toString()) as { RepoSize: number, StorageMax: number }
  return s.StorageMax - s.RepoSize
}

test('/peers: each other peer with its id, name, addresses, Kubo id, connected, last seen, free space and queue length', async () => {
  const [self] = peers as [TestPeer]
  const listed = await getJson(self, '/peers') as Array<Record<string, any>>
  assert.ok(Array.isArray(listed))
  for (const i of [1, 2]) {
    const peer = peers[i] as TestPeer
    const kubo = kubos[i] as KuboDaemon
    const entry = listed.find(e => e.id === peer.proc.peerId)
    assert.ok(entry !== undefined, `peer ${i} is listed`)
    assert.equal(entry.peername, NAMES[i])
    assert.equal(entry.connected, true)
    assert.equal(entry.alive, true)
    assert.ok(Array.isArray(entry.addresses) && entry.addresses.length > 0)
    const swarm = (peer.proc.swarmAddrs[0] as string).replace(/\/p2p\/.*$/, '')
    assert.ok((entry.addresses as string[]).some(a => a.startsWith(swarm)), `${JSON.stringify(entry.addresses)} holds ${swarm}`)
    assert.equal(typeof entry.lastSeen, 'number')
    assert.ok(entry.lastSeen >= startedAt && entry.lastSeen <= Date.now(), `lastSeen ${entry.lastSeen}`)
    assert.equal(entry.kubo?.id, kubo.peerId)
    assert.ok(Array.isArray(entry.kubo?.addresses))
    assert.equal(entry.queued, 0, 'nothing is queued on an idle peer')
    assert.ok(Number.isInteger(entry.freeSpace) && entry.freeSpace > 0)
    // From that Kubo's repo/stat one metrics interval ago; the test repos barely change meanwhile.
    const free = await kuboFreeSpace(kubo)
    assert.ok(Math.abs(entry.freeSpace - free) < 16 << 20, `freeSpace ${entry.freeSpace} vs Kubo's ${free}`)
  }
  assert.ok(listed.every(e => typeof e.id === 'string' && typeof e.connected === 'boolean'))
  assert.ok(!listed.some(e => e.id !== self.proc.peerId && !peers.some(p => p.proc.peerId === e.id)), 'no peer outside the cluster')
})

test('/pins/{cid} and /allocations/{cid}: the record and each peer\'s status', async () => {
  const [self] = peers as [TestPeer]
  const cid = (await kubos[0]?.cli(['block', 'put'], { input: `admin api bodies ${Date.now()}` }))?.stdout.trim() as string
  const pinned = await httpRequest(`${self.proc.apiUrl}/pins/${cid}?replication=2&name=bodies-pin&meta-owner=tests`, { method: 'POST' })
  assert.equal(pinned.status, 200, pinned.body.toString())
  const ids = peers.map(p => p.proc.peerId)

  const status = await waitFor(async () => {
    const s = await getJson(self, `/pins/${cid}`)
    const held = (s.allocations as string[]).filter(id => s.peerMap[id]?.status === 'pinned')
    return held.length === 2 ? s : undefined
  }, { timeoutMs: 20_000, message: 'pinned on its 2 allocations' })
  assert.equal(status.cid, cid)
  assert.equal(status.name, 'bodies-pin')
  assert.equal(status.replicationMin, 2)
  assert.equal(status.replicationMax, 2)
  assert.equal(status.allocations.length, 2)
  assert.ok((status.allocations as string[]).every(id => ids.includes(id)))
  assert.deepEqual(Object.keys(status.peerMap).sort(), [...ids].sort(), 'every peer has a status')
  for (const id of ids) {
    const info = status.peerMap[id]
    assert.equal(info.cid, cid)
    assert.equal(info.peer, id)
    assert.equal(info.status, (status.allocations as string[]).includes(id) ? 'pinned' : 'remote', id)
    assert.equal(typeof info.updatedAt, 'number')
  }
  // The holders' Kubos agree.
  for (const [i, id] of ids.entries()) {
    const ls = await httpRequest(`${(kubos[i] as KuboDaemon).apiUrl}/api/v0/pin/ls?arg=${cid}&type=recursive`)
    assert.equal(ls.status === 200, (status.allocations as string[]).includes(id), `Kubo ${i}: ${ls.body.toString()}`)
  }

  // Every peer answers the same record.
  for (const p of peers) {
    const record = await getJson(p, `/allocations/${cid}`)
    assert.equal(record.cid, cid)
    assert.equal(record.name, 'bodies-pin')
    assert.equal(record.mode, 'recursive')
    assert.equal(record.replicationMin, 2)
    assert.equal(record.replicationMax, 2)
    assert.deepEqual(record.allocations, status.allocations)
    assert.deepEqual(record.metadata, { owner: 'tests' })
    assert.equal(record.updatedBy, self.proc.peerId)
    assert.ok(record.createdAt >= startedAt && record.createdAt <= record.updatedAt && record.updatedAt <= Date.now())
  }
})
