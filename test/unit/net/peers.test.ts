import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CODE_P2P, multiaddr } from '@multiformats/multiaddr'
import { PEERS_FILE_NAME, type ClusterNet } from '../../../src/net/index.js'
import { startTestNet, randomSecret } from '../../fixtures/net.js'
import { waitFor } from '../../fixtures/wait-for.js'

/**
 * A data directory for a node and its restarts, removed after the test once the nodes `track`ed
 * in it have stopped. A running node rewrites peers.json there whenever a peer comes or goes, so
 * removing the directory first (after hooks run in the order they were registered, and this one
 * is registered before the nodes') can fail with ENOTEMPTY, and a failed hook leaves the nodes
 * running and the file hanging.
 */
async function tempDir (t: { after: (fn: () => Promise<void>) => void }): Promise<{ path: string, track: (net: ClusterNet) => ClusterNet }> {
  const path = await mkdtemp(join(tmpdir(), 'pinmesh-peers-'))
  const nets: ClusterNet[] = []
  t.after(async () => {
    for (const net of nets) await net.stop()
    await rm(path, { recursive: true, force: true })
  })
  return { path, track: (net) => { nets.push(net); return net } }
}

const sees = (net: ClusterNet, id: string, connected: boolean): boolean =>
  net.listPeers().some(p => p.id === id && p.connected === connected)

async function readPeersFile (dir: string): Promise<{ version: number, peers: Array<{ id: string, addresses: string[], lastSeen?: number }> }> {
  return JSON.parse(await readFile(join(dir, PEERS_FILE_NAME), 'utf8'))
}

test('listPeers shows a bootstrap peer connected, then disconnected with lastSeen once it stops', async (t) => {
  const secret = randomSecret()
  const a = await startTestNet(t, { secret })
  const b = await startTestNet(t, { secret, bootstrap: a.addresses() })
  await waitFor(() => sees(b, a.peerId, true) && sees(a, b.peerId, true), { message: 'both see each other connected' })

  const seen = b.listPeers()
  assert.equal(seen.length, 1)
  assert.equal(seen[0]?.id, a.peerId)
  assert.deepEqual(seen[0]?.addresses, [multiaddr(a.addresses()[0]).decapsulateCode(CODE_P2P).toString()])
  assert.ok(Math.abs((seen[0]?.lastSeen ?? 0) - Date.now()) < 1000, 'lastSeen is now while connected')

  const beforeStop = Date.now()
  await a.stop()
  const gone = await waitFor(() => b.listPeers().find(p => p.id === a.peerId && !p.connected), { message: 'b sees a disconnected' })
  assert.ok(gone.lastSeen !== undefined && gone.lastSeen >= beforeStop && gone.lastSeen <= Date.now())
  assert.ok(gone.addresses.length > 0, 'the addresses are kept for redials')
})

test('a bootstrap peer that was never reached is listed with no lastSeen', async (t) => {
  const secret = randomSecret()
  const ghost = await startTestNet(t, { secret })
  const address = ghost.addresses()[0]!
  await ghost.stop()
  const a = await startTestNet(t, { secret, bootstrap: [address] })
  assert.deepEqual(a.listPeers().map(p => ({ id: p.id, connected: p.connected, lastSeen: p.lastSeen })), [{ id: ghost.peerId, connected: false, lastSeen: undefined }])
})

test('peers.json is written, and a restarted node without bootstrap peers redials the peers it knew', async (t) => {
  const secret = randomSecret()
  const dir = await tempDir(t)
  const a = await startTestNet(t, { secret })
  const b = dir.track(await startTestNet(t, { secret, dataDir: dir.path, bootstrap: a.addresses() }))
  await waitFor(() => sees(b, a.peerId, true), { message: 'b connected to a' })
  const file = await waitFor(async () => {
    const f = await readPeersFile(dir.path)
    return f.peers.some(p => p.id === a.peerId && p.addresses.length > 0) ? f : undefined
  }, { message: 'peers.json lists a' })
  assert.equal(file.version, 1)

  const stoppedAt = Date.now()
  await b.stop()
  const saved = (await readPeersFile(dir.path)).peers.find(p => p.id === a.peerId)
  assert.ok(saved?.lastSeen !== undefined && saved.lastSeen >= stoppedAt, 'stop records when a was last seen')
  await waitFor(() => sees(a, b.peerId, false), { message: 'a sees b gone' })
  const restarted = dir.track(await startTestNet(t, { secret, dataDir: dir.path, bootstrap: [] }))
  assert.equal(restarted.peerId, b.peerId, 'same identity from the same directory')
  await waitFor(() => sees(restarted, a.peerId, true), { message: 'the restarted node redialled a' })
  assert.equal(restarted.libp2p.getConnections(a.libp2p.peerId)[0]?.direction, 'outbound')
})

test('a known peer that goes away is redialled with backoff when it comes back', async (t) => {
  const secret = randomSecret()
  const dir = await tempDir(t)
  const b = dir.track(await startTestNet(t, { secret, dataDir: dir.path }))
  const bAddress = b.addresses()[0]!
  const a = await startTestNet(t, { secret, bootstrap: [bAddress] })
  await waitFor(() => sees(a, b.peerId, true), { message: 'a connected to b' })

  await b.stop()
  await waitFor(() => sees(a, b.peerId, false), { message: 'a sees b gone' })
  // b comes back on the same port, with its identity but without its peer book, so only a can restore the link.
  await rm(join(dir.path, PEERS_FILE_NAME), { force: true })
  const port = multiaddr(bAddress).getComponents().find(c => c.name === 'tcp')?.value
  const back = dir.track(await startTestNet(t, { secret, dataDir: dir.path, listen: [`/ip4/127.0.0.1/tcp/${port}`] }))
  await waitFor(() => sees(a, back.peerId, true), { message: 'a redialled b' })
  assert.equal(a.libp2p.getConnections(back.libp2p.peerId)[0]?.direction, 'outbound')
})
