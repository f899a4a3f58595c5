import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { encodeStateAsParts } from '../../../src/pinset/state-parts.js'

/** Three writers inserting at the front, in turns, with deletions: items refer across clients. */
function history (): Y.Doc[] {
  const docs = [new Y.Doc(), new Y.Doc(), new Y.Doc()]
  const sync = (): void => {
    for (const a of docs) for (const b of docs) if (a !== b) Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)))
  }
  for (let round = 0; round < 30; round++) {
    for (const [i, d] of docs.entries()) {
      const arr = d.getArray<string>('pins')
      arr.insert(0, Array.from({ length: 20 }, (_, k) => `r${round}-d${i}-${k}-${'x'.repeat(40)}`))
      if (arr.length > 50) arr.delete(3 + round % 7, 4)
      d.getMap<string>('meta').set(`k${round % 5}`, `v${round}-${i}`)
    }
    if (round % 3 !== 2) sync()
  }
  sync()
  return docs
}

function applyParts (from: Y.Doc, to: Y.Doc, maxBytes: number): number {
  let n = 0
  for (const part of encodeStateAsParts(from, Y.encodeStateVector(to), maxBytes)) {
    Y.applyUpdate(to, part)
    n++
    assert.equal(to.store.pendingStructs, null, `part ${n} applied without waiting for a later one`)
  }
  return n
}

test('a state sent in small parts rebuilds the same document, each part applicable on arrival', () => {
  const [a] = history() as [Y.Doc]
  const fresh = new Y.Doc()
  const parts = applyParts(a, fresh, 2000)
  assert.ok(parts > 10, `expected many parts, got ${parts}`)
  assert.equal(fresh.store.pendingDs, null)
  assert.deepEqual(fresh.getArray('pins').toArray(), a.getArray('pins').toArray())
  assert.deepEqual(fresh.getMap('meta').toJSON(), a.getMap('meta').toJSON())
  assert.deepEqual(Y.encodeStateVector(fresh), Y.encodeStateVector(a))
  assert.ok(Y.equalDeleteSets(Y.createDeleteSetFromStructStore(fresh.store), Y.createDeleteSetFromStructStore(a.store)))
})

test('parts start from what the receiver already has, even inside a struct', () => {
  const a = new Y.Doc()
  const b = new Y.Doc()
  a.getArray<string>('pins').insert(0, Array.from({ length: 100 }, (_, i) => `v${i}`))
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a))
  a.getArray<string>('pins').insert(0, ['new1', 'new2'])
  b.getArray<string>('pins').insert(0, ['fromB'])
  // Items of a written after b's copy: only those go out.
  const update = [...encodeStateAsParts(a, Y.encodeStateVector(b), 1 << 20)]
  assert.ok(update.reduce((n, u) => n + u.length, 0) < 100)
  for (const u of update) Y.applyUpdate(b, u)
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)))
  assert.deepEqual(b.getArray('pins').toArray(), a.getArray('pins').toArray())
  assert.equal(b.getArray('pins').length, 103)
})

test('a document changed between two parts still arrives whole', () => {
  const [a] = history() as [Y.Doc]
  const fresh = new Y.Doc()
  let n = 0
  for (const part of encodeStateAsParts(a, Y.encodeStateVector(fresh), 3000)) {
    Y.applyUpdate(fresh, part)
    const arr = a.getArray<string>('pins')
    // Splits existing structs and appends new ones while parts are still being produced.
    if (n++ % 3 === 0 && n < 10) { arr.delete(10, 2); arr.insert(5, [`late-${n}`]) }
  }
  assert.ok(n > 10)
  assert.equal(fresh.store.pendingStructs, null)
  assert.deepEqual(fresh.getArray('pins').toArray(), a.getArray('pins').toArray())
})

test('nothing to send gives one empty-struct update', () => {
  const [a, b] = history() as [Y.Doc, Y.Doc]
  const parts = [...encodeStateAsParts(a, Y.encodeStateVector(b), 1000)]
  assert.equal(parts.length, 1)
  const before = b.getArray('pins').toArray()
  Y.applyUpdate(b, parts[0] as Uint8Array)
  assert.deepEqual(b.getArray('pins').toArray(), before)
})
