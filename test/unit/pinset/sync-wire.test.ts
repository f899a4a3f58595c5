import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import {
  pinsetTopic, SYNC_PROTOCOL, DIGEST_BYTES, MAX_MESSAGE_BYTES,
  encodeUpdates, encodeNudge, decodeGossip, updateOverhead, leaderOverhead,
  encodeCatchUp, decodeCatchUp, frames, FrameAssembler, type CatchUpMessage, type ShardUpdate
} from '../../../src/pinset/sync/wire.js'
import type { ShardSummary } from '../../../src/pinset/types.js'

const LEADER_A = '12D3KooWAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
const LEADER_B = '12D3KooWBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB'
const GENESIS = { n: 0, leader: '' }

/** Byte fields as hex, so that Buffers and Uint8Arrays compare equal. */
function plain (m: CatchUpMessage): Record<string, unknown> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v]))
}

function occurrences (haystack: Uint8Array, needle: string): number {
  return Buffer.from(haystack).toString('latin1').split(needle).length - 1
}

test('protocol 3: sync protocol and gossip topic versions', () => {
  assert.equal(SYNC_PROTOCOL, '/pinmesh/pinset-sync/3.0.0')
  assert.match(pinsetTopic('c'), /^\/pinmesh\/pinset\/3\/[0-9a-f]{32}$/)
  assert.notEqual(pinsetTopic('c'), pinsetTopic('d'))
})

test('an updates message carries entries of any shards and epochs, each leader written once', () => {
  const entries: ShardUpdate[] = [
    { shard: 0, epoch: GENESIS, update: randomBytes(10) },
    { shard: 4095, epoch: { n: 3, leader: LEADER_A }, update: randomBytes(300) },
    ...Array.from({ length: 50 }, (_, i) => ({ shard: i * 7, epoch: { n: 1 + i, leader: LEADER_B }, update: randomBytes(i) }))
  ]
  const bytes = encodeUpdates(entries)
  const back = decodeGossip(bytes)
  assert.equal(back.kind, 'updates')
  assert.deepEqual(back.kind === 'updates' && back.entries.map(e => ({ ...e, update: Buffer.from(e.update) })), entries.map(e => ({ ...e, update: Buffer.from(e.update) })))
  assert.equal(occurrences(bytes, LEADER_B), 1)
})

test('an updates message is no bigger than its entries\' overheads plus each leader\'s (what the batcher counts)', () => {
  const entries: ShardUpdate[] = Array.from({ length: 200 }, (_, i) => ({ shard: 4095 - i, epoch: { n: 2 ** 31 + i, leader: i % 2 === 0 ? LEADER_A : LEADER_B }, update: randomBytes(i * 13) }))
  const counted = entries.reduce((n, e) => n + updateOverhead(e.update), 0) + leaderOverhead(LEADER_A) + leaderOverhead(LEADER_B)
  assert.ok(encodeUpdates(entries).length <= counted + 64, `${encodeUpdates(entries).length} > ${counted} + 64`)
})

test('a nudge names shards and their epochs', () => {
  const shards = [{ shard: 1, epoch: { n: 4, leader: LEADER_A } }, { shard: 1000, epoch: { n: 4, leader: LEADER_A } }, { shard: 7, epoch: GENESIS }]
  assert.deepEqual(decodeGossip(encodeNudge(shards)), { kind: 'nudge', shards })
  assert.throws(() => decodeGossip(Uint8Array.of(9)), /unknown pinset gossip message kind 9/)
})

function summaryOf (n: number, f: (i: number) => ShardSummary): ShardSummary[] {
  return Array.from({ length: n }, (_, i) => f(i))
}

const EMPTY = new Uint8Array(DIGEST_BYTES).fill(7)

test('HELLO: a new peer\'s summary (every shard alike) takes a few bytes; listed shards round-trip exactly', () => {
  const fresh = summaryOf(4096, () => ({ epoch: GENESIS, digest: EMPTY }))
  const bytes = encodeCatchUp({ type: 'hello', shards: 4096, summary: fresh })
  assert.ok(bytes.length < 40, `${bytes.length} bytes`)
  assert.deepEqual(decodeCatchUp(bytes), { type: 'hello', shards: 4096, summary: fresh })

  const mixed = summaryOf(1024, i => i % 3 === 0
    ? { epoch: GENESIS, digest: EMPTY }
    : { epoch: { n: i % 5, leader: i % 2 === 0 ? LEADER_A : LEADER_B }, digest: randomBytes(DIGEST_BYTES) })
  const back = decodeCatchUp(encodeCatchUp({ type: 'hello', shards: 1024, summary: mixed }))
  assert.ok(back.type === 'hello')
  assert.equal(back.summary.length, 1024)
  back.summary.forEach((s, i) => {
    assert.deepEqual(s.epoch, mixed[i]?.epoch, `shard ${i}`)
    assert.deepEqual(Buffer.from(s.digest), Buffer.from(mixed[i]?.digest as Uint8Array), `shard ${i}`)
  })
})

test('HELLO: a full summary costs about 20 bytes a shard, leaders once', () => {
  const full = summaryOf(1024, () => ({ epoch: { n: 1, leader: LEADER_A }, digest: randomBytes(DIGEST_BYTES) }))
  const bytes = encodeCatchUp({ type: 'hello', shards: 1024, summary: full })
  assert.ok(bytes.length <= 1024 * 20 + 100, `${bytes.length} bytes`)
  assert.equal(occurrences(bytes, LEADER_A), 1)
})

test('HELLO: malformed summaries are refused', () => {
  assert.throws(() => encodeCatchUp({ type: 'hello', shards: 1, summary: [{ epoch: GENESIS, digest: new Uint8Array(8) }] }), /16 bytes/)
  const ok = encodeCatchUp({ type: 'hello', shards: 2, summary: [{ epoch: GENESIS, digest: EMPTY }, { epoch: GENESIS, digest: EMPTY }] })
  const zero = Uint8Array.from(ok)
  zero[1] = 0
  assert.throws(() => decodeCatchUp(zero), /invalid shard count 0/)
  assert.throws(() => decodeCatchUp(ok.subarray(0, ok.length - 3)), /./)
})

test('step 1, step 2, offer, done and end round-trip; shard ids are checked against the shard count', () => {
  const messages: CatchUpMessage[] = [
    { type: 'step1', shard: 5, epoch: { n: 2, leader: LEADER_A }, stateVector: Uint8Array.of(1, 2, 3) },
    { type: 'step2', shard: 5, epoch: GENESIS, update: randomBytes(1000) },
    { type: 'step2', shard: 6, epoch: GENESIS, update: new Uint8Array(0) },
    { type: 'offer', shard: 15, pkg: randomBytes(40), state: randomBytes(100) },
    { type: 'done' },
    { type: 'end' }
  ]
  for (const m of messages) {
    const back = decodeCatchUp(encodeCatchUp(m), 16)
    assert.deepEqual(plain(back), plain(m))
  }
  assert.throws(() => decodeCatchUp(encodeCatchUp({ type: 'step1', shard: 16, epoch: GENESIS, stateVector: new Uint8Array(1) }), 16), /shard 16 out of range/)
  assert.throws(() => decodeCatchUp(Uint8Array.of(77)), /unknown pinset sync message type 77/)
})

test('frames cut a message into payloads of at most 1 MiB that reassemble; the assembler bounds a message', () => {
  const message = randomBytes(MAX_MESSAGE_BYTES * 2 + 5)
  const parts = [...frames(message)]
  assert.equal(parts.length, 3)
  assert.ok(parts.every(f => f.length <= MAX_MESSAGE_BYTES + 1))
  const a = new FrameAssembler(message.length)
  const out = parts.map(f => a.push(f))
  assert.deepEqual(out.slice(0, 2), [undefined, undefined])
  assert.deepEqual(Buffer.from(out[2] as Uint8Array), message)
  const small = new FrameAssembler(MAX_MESSAGE_BYTES)
  assert.throws(() => { for (const f of parts) small.push(f) }, /larger than/)
})
