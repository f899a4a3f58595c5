import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { ClusterNet } from '../../../src/net/index.js'
import { startTestNet, randomSecret } from '../../fixtures/net.js'
import { waitFor } from '../../fixtures/wait-for.js'

async function assertCannotConnect (from: ClusterNet, to: ClusterNet): Promise<void> {
  await assert.rejects(from.connect(to.addresses()[0]!), { name: 'PeerDialError' })
  await waitFor(() => from.libp2p.getConnections().length === 0 && to.libp2p.getConnections().length === 0, { message: 'no connection left on either side' })
  assert.equal(from.listPeers().some(p => p.connected), false)
  assert.equal(to.listPeers().some(p => p.connected), false)
}

// The listener still accepts a peer holding its secret after turning the others away.
async function assertHealthy (t: Parameters<typeof startTestNet>[0], listener: ClusterNet, secret: string): Promise<void> {
  const friend = await startTestNet(t, { secret })
  await friend.connect(listener.addresses()[0]!)
  await waitFor(() => listener.listPeers().some(p => p.id === friend.peerId && p.connected), { message: 'listener accepted the right secret' })
}

test('peers with different secrets cannot connect, and the listener stays healthy', async (t) => {
  const secret = randomSecret()
  const listener = await startTestNet(t, { secret })
  const stranger = await startTestNet(t, { secret: randomSecret() })
  await assertCannotConnect(stranger, listener)
  await assertHealthy(t, listener, secret)
})

test('a peer without a secret cannot connect to one with a secret', async (t) => {
  const secret = randomSecret()
  const listener = await startTestNet(t, { secret })
  const open = await startTestNet(t, { secret: '' })
  await assertCannotConnect(open, listener)
  await assertHealthy(t, listener, secret)
})

test('a peer with a secret cannot connect to one without', async (t) => {
  const listener = await startTestNet(t, { secret: '' })
  const closed = await startTestNet(t, { secret: randomSecret() })
  await assertCannotConnect(closed, listener)
  await assertHealthy(t, listener, '')
})
