import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Message } from '@libp2p/gossipsub'
import { MAX_PUBSUB_MESSAGE_BYTES, type ClusterNet } from '../../../src/net/index.js'
import { startTestNet, randomSecret } from '../../fixtures/net.js'
import { waitFor } from '../../fixtures/wait-for.js'

const TOPIC = 'pinmesh-test'

async function connectedPair (t: Parameters<typeof startTestNet>[0]): Promise<[ClusterNet, ClusterNet, Message[]]> {
  const secret = randomSecret()
  const a = await startTestNet(t, { secret })
  const b = await startTestNet(t, { secret, bootstrap: a.addresses() })
  const received: Message[] = []
  b.libp2p.services.pubsub.addEventListener('message', (evt) => { received.push(evt.detail) })
  a.libp2p.services.pubsub.subscribe(TOPIC)
  b.libp2p.services.pubsub.subscribe(TOPIC)
  await waitFor(() => a.libp2p.services.pubsub.getSubscribers(TOPIC).some(p => p.equals(b.libp2p.peerId)), { message: 'a sees b subscribed' })
  return [a, b, received]
}

test('two peers with the same secret connect and exchange a signed gossipsub message', async (t) => {
  const [a, b, received] = await connectedPair(t)
  const result = await a.libp2p.services.pubsub.publish(TOPIC, new TextEncoder().encode('hello'))
  assert.deepEqual(result.recipients.map(String), [b.peerId])
  const msg = await waitFor(() => received[0], { message: 'b got the message' })
  assert.equal(new TextDecoder().decode(msg.data), 'hello')
  assert.equal(msg.type, 'signed')
  assert.equal(msg.type === 'signed' ? msg.from.toString() : '', a.peerId)
})

test('a gossipsub message of MAX_PUBSUB_MESSAGE_BYTES arrives whole', async (t) => {
  const [a, , received] = await connectedPair(t)
  const payload = new Uint8Array(MAX_PUBSUB_MESSAGE_BYTES).fill(42)
  const result = await a.libp2p.services.pubsub.publish(TOPIC, payload)
  assert.equal(result.recipients.length, 1)
  const msg = await waitFor(() => received[0], { message: 'b got the 1 MiB message' })
  assert.equal(msg.data.byteLength, payload.byteLength)
  assert.ok(msg.data.every(v => v === 42))
})

test('publishing with no subscribed peer resolves with no recipients instead of throwing', async (t) => {
  const a = await startTestNet(t)
  const result = await a.libp2p.services.pubsub.publish(TOPIC, new Uint8Array([1]))
  assert.deepEqual(result.recipients, [])
})
