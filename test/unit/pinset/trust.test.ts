import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { Writable } from 'node:stream'
import type { Logger } from '../../../src/logger.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { TopicValidatorResult, type Message } from '@libp2p/gossipsub'
import { TrustPolicy, gossipVerdict } from '../../../src/pinset/sync/trust.js'

async function newPeer (): Promise<ReturnType<typeof peerIdFromPrivateKey>> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

function capture (): { logger: Logger, lines: () => Array<Record<string, unknown>> } {
  const out: string[] = []
  const sink = new Writable({ write (chunk: Buffer, _e, cb) { out.push(chunk.toString()); cb() } })
  return { logger: pino({ level: 'info' }, sink) as unknown as Logger, lines: () => out.join('').split('\n').filter(l => l !== '').map(l => JSON.parse(l) as Record<string, unknown>) }
}

function signed (from: ReturnType<typeof peerIdFromPrivateKey>): Message {
  return { type: 'signed', from, topic: 't', data: new Uint8Array([1]), sequenceNumber: 1n, signature: new Uint8Array(), key: from.publicKey?.raw ?? new Uint8Array() } as unknown as Message
}

test('gossip counts the signer, never the peer that relayed the message', async () => {
  const [self, trusted, untrusted] = await Promise.all([newPeer(), newPeer(), newPeer()])
  const trust = new TrustPolicy(self.toString(), [trusted.toString()], pino({ level: 'silent' }))
  // The validator is given only the message: whoever relayed it (a trusted peer, say) plays no part.
  assert.equal(gossipVerdict(trust, signed(trusted)), TopicValidatorResult.Accept)
  assert.equal(gossipVerdict(trust, signed(self)), TopicValidatorResult.Accept)
  assert.equal(gossipVerdict(trust, signed(untrusted)), TopicValidatorResult.Reject)
  assert.equal(gossipVerdict(trust, { type: 'unsigned', topic: 't', data: new Uint8Array([1]) } as unknown as Message), TopicValidatorResult.Reject)
})

test("'*' trusts every peer with the secret", async () => {
  const [self, any] = await Promise.all([newPeer(), newPeer()])
  const trust = new TrustPolicy(self.toString(), ['*'], pino({ level: 'silent' }))
  assert.equal(trust.isTrusted(any.toString()), true)
  assert.equal(gossipVerdict(trust, signed(any)), TopicValidatorResult.Accept)
})

test('ignored writes are logged once per untrusted peer, whichever way they came', async () => {
  const [self, u1, u2] = await Promise.all([newPeer(), newPeer(), newPeer()])
  const { logger, lines } = capture()
  const trust = new TrustPolicy(self.toString(), [], logger)
  for (let i = 0; i < 5; i++) {
    gossipVerdict(trust, signed(u1))
    trust.ignored(u1.toString(), 'sync')
  }
  trust.ignored(u2.toString(), 'sync')
  const warned = lines().filter(l => l.msg === 'ignoring pinset changes from an untrusted peer')
  assert.deepEqual(warned.map(l => [l.peer, l.via]), [[u1.toString(), 'gossip'], [u2.toString(), 'sync']])
})
