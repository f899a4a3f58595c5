import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { ShardSketch, encodeInsert } from '../../../src/pinset/shard-sketch.js'
import { YArrayKv } from '../../../src/pinset/kv.js'

const value = (key: string, v = 'x'): string => `${key}\x1f${v}`
const snapshotOf = (doc: Y.Doc): Uint8Array => Y.encodeSnapshot(Y.snapshot(doc))

/** A shard document with `n` keys written in batches, a few deleted, as kv.ts leaves one. */
function shardDoc (n: number, prefix = 'k'): { doc: Y.Doc, kv: YArrayKv } {
  const doc = new Y.Doc()
  const kv = new YArrayKv(doc, { resolveConflicts: true })
  for (let i = 0; i < n; i += 10) kv.write(Array.from({ length: Math.min(10, n - i) }, (_, j) => value(`${prefix}${i + j}`)), [], 'local')
  kv.write([], [`${prefix}3`, `${prefix}7`], 'local')
  return { doc, kv }
}

const sketchOf = (doc: Y.Doc, kv: YArrayKv): ShardSketch => ShardSketch.of(doc, kv.keys(), kv.size, new Map())

test('a sketch answers for the document it was taken of: keys, state vector, snapshot', () => {
  const { doc, kv } = shardDoc(50)
  const s = sketchOf(doc, kv)
  for (const k of kv.keys()) assert.equal(s.mayHold(k), true, k)
  let falsePositives = 0
  for (let i = 0; i < 10_000; i++) if (s.mayHold(`absent${i}`)) falsePositives++
  assert.ok(falsePositives < 200, `false positives: ${falsePositives} of 10,000`)
  assert.deepEqual(s.stateVector(), Y.encodeStateVector(doc))
  assert.deepEqual(s.snapshot(), snapshotOf(doc))
})

test('insert: the update adds the values where the decoded shard would, and the sketch stays equal to the document', () => {
  const { doc, kv } = shardDoc(40)
  const s = sketchOf(doc, kv)
  const copy = new Y.Doc()
  const copyKv = new YArrayKv(copy, { resolveConflicts: true })
  Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc))
  // Two inserts in a row continue one client's clock.
  const u1 = s.insert([value('new1'), value('new2')])
  const u2 = s.insert([value('new3')])
  for (const u of [u1, u2]) Y.applyUpdate(copy, u)
  assert.equal(copy.store.pendingStructs, null)
  assert.equal(copyKv.size, kv.size + 3)
  for (const k of ['new1', 'new2', 'new3']) { assert.equal(copyKv.get(k), value(k)); assert.equal(s.mayHold(k), true) }
  assert.deepEqual(s.stateVector(), Y.encodeStateVector(copy))
  assert.deepEqual(s.snapshot(), snapshotOf(copy))
  // The writer client is the document's own: a decoded shard that goes on writing with it leaves one client.
  assert.equal(s.writerClient, doc.clientID)
  copy.clientID = s.writerClient
  copyKv.write([value('new4')], [], 'local')
  const clients = [...Y.decodeStateVector(Y.encodeStateVector(copy)).keys()]
  assert.deepEqual(clients, [doc.clientID])
})

test('insert updates reach the same document on every replica, in any order', () => {
  const { doc, kv } = shardDoc(20)
  const base = Y.encodeStateAsUpdate(doc)
  const a = sketchOf(doc, kv)
  const other = new Y.Doc()
  Y.applyUpdate(other, base)
  const otherKv = new YArrayKv(other, { resolveConflicts: true })
  const b = ShardSketch.of(other, otherKv.keys(), otherKv.size, new Map())
  const ua = a.insert([value('fromA')])
  const ub = b.insert([value('fromB1'), value('fromB2')])
  const d1 = new Y.Doc(); Y.applyUpdate(d1, base); Y.applyUpdate(d1, ua); Y.applyUpdate(d1, ub)
  const d2 = new Y.Doc(); Y.applyUpdate(d2, base); Y.applyUpdate(d2, ub); Y.applyUpdate(d2, ua)
  assert.deepEqual(d1.getArray('pins').toArray(), d2.getArray('pins').toArray())
  assert.deepEqual(snapshotOf(d1), snapshotOf(d2))
})

test('accept takes an update that only adds new keys, and refuses what needs the decoded shard', () => {
  const { doc, kv } = shardDoc(30)
  const state = Y.encodeStateAsUpdate(doc)
  const fresh = (): { s: ShardSketch, peer: Y.Doc, peerKv: YArrayKv } => {
    const peer = new Y.Doc()
    Y.applyUpdate(peer, state)
    return { s: sketchOf(doc, kv), peer, peerKv: new YArrayKv(peer, { resolveConflicts: true }) }
  }
  const updateOf = (peer: Y.Doc, fn: () => void): Uint8Array => {
    let u: Uint8Array | undefined
    const on = (x: Uint8Array): void => { u = x }
    peer.on('update', on)
    fn()
    peer.off('update', on)
    return u as Uint8Array
  }

  // A front insert by a decoded peer: taken; the sketch then equals the document with it.
  {
    const { s, peer, peerKv } = fresh()
    const u = updateOf(peer, () => { peerKv.write([value('p1'), value('p2')], [], 'local') })
    assert.deepEqual(s.accept(u), [value('p1'), value('p2')])
    assert.equal(s.accept(u), 'known')
    const mine = new Y.Doc(); Y.applyUpdate(mine, state); Y.applyUpdate(mine, u)
    assert.deepEqual(s.snapshot(), snapshotOf(mine))
    assert.equal(s.mayHold('p1'), true)
  }
  // Rewriting a key the shard holds (a delete and an insert), a deletion, a gap: refused, sketch untouched.
  {
    const { s, peer, peerKv } = fresh()
    const before = s.snapshot()
    assert.equal(s.accept(updateOf(peer, () => { peerKv.write([value('k1', 'y')], [], 'local') })), undefined)
    assert.equal(s.accept(updateOf(peer, () => { peerKv.write([], ['k2'], 'local') })), undefined)
    assert.deepEqual(s.snapshot(), before)
  }
  {
    const { s, peer, peerKv } = fresh()
    const before = s.snapshot()
    const first = updateOf(peer, () => { peerKv.write([value('g1')], [], 'local') })
    const second = updateOf(peer, () => { peerKv.write([value('g2')], [], 'local') })
    assert.equal(s.accept(second), undefined, 'a gap: the first update is missing')
    assert.deepEqual(s.snapshot(), before)
    assert.deepEqual(s.accept(first), [value('g1')])
    assert.deepEqual(s.accept(second), [value('g2')])
  }
  // A new key the filter may hold (here: one this sketch itself inserted), a duplicate within one update: refused.
  {
    const { s, peer, peerKv } = fresh()
    s.insert([value('dup')])
    assert.equal(s.accept(updateOf(peer, () => { peerKv.write([value('dup')], [], 'local') })), undefined)
    assert.equal(s.accept(new Uint8Array([1, 2, 3])), undefined, 'not an update')
  }
  // A peer code new to the shard, with a record using it: taken, and the code is the sketch's from then on;
  // a second value for a code the shard has (Yjs would delete one of the two): refused.
  {
    const { s, peer, peerKv } = fresh()
    const u = updateOf(peer, () => { peer.transact(() => { peer.getMap('peers').set('abcdefgh', 'peer-id-abcdefgh'); peerKv.write([value('coded')], [], 'local') }) })
    assert.deepEqual(s.accept(u), [value('coded')])
    assert.equal(s.codes.get('abcdefgh'), 'peer-id-abcdefgh')
    const mine = new Y.Doc(); Y.applyUpdate(mine, state); Y.applyUpdate(mine, u)
    assert.deepEqual(s.snapshot(), snapshotOf(mine))
    const other = new Y.Doc(); Y.applyUpdate(other, state)
    const again = updateOf(other, () => { other.getMap('peers').set('abcdefgh', 'peer-id-abcdefgh') })
    assert.equal(s.accept(again), undefined)
  }
})

test('empty: the sketch of a shard that holds nothing', () => {
  const s = ShardSketch.empty()
  const doc = new Y.Doc()
  assert.deepEqual(s.snapshot(), snapshotOf(doc))
  assert.deepEqual(s.stateVector(), Y.encodeStateVector(doc))
  const u = s.insert([value('a')])
  Y.applyUpdate(doc, u)
  assert.deepEqual(doc.getArray('pins').toArray(), [value('a')])
  assert.deepEqual(s.snapshot(), snapshotOf(doc))
})

test('encodeInsert gives the bytes Yjs gives for the same insert by a document of that client at that clock', () => {
  for (const [clock, values] of [[0, [value('a')]], [7, [value('b'), value('c\u00e9\u{1F600}')]], [300_000, Array.from({ length: 1000 }, (_, i) => value(`k${i}`, 'y'.repeat(i % 50)))]] as Array<[number, string[]]>) {
    const client = 123456789
    const doc = new Y.Doc()
    doc.clientID = client
    if (clock > 0) {
      // The client's earlier elements, deleted and collected: the state vector is at `clock`.
      doc.getArray<string>('other').insert(0, Array.from({ length: clock }, () => 'x'))
      doc.getArray<string>('other').delete(0, clock)
    }
    let update: Uint8Array | undefined
    doc.on('update', (u: Uint8Array) => { update = u })
    doc.getArray<string>('pins').insert(0, values)
    assert.deepEqual(encodeInsert(client, clock, values), update, `clock ${clock}`)
  }
})
