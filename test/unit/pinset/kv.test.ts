import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { YArrayKv, type KvChange } from '../../../src/pinset/kv.js'
import { encodeRecord, decodeRecord } from '../../../src/pinset/record-codec.js'
import type { PinRecord } from '../../../src/types.js'

function rec (cid: string, over: Partial<PinRecord> = {}): string {
  return encodeRecord({ cid, name: '', mode: 'recursive', replicationMin: -1, replicationMax: -1, allocations: [], metadata: {}, createdAt: 1, updatedAt: 1, updatedBy: 'p', ...over })
}

function replica (resolveConflicts = true): { kv: YArrayKv, changes: KvChange[] } {
  const kv = new YArrayKv(new Y.Doc(), { resolveConflicts })
  const changes: KvChange[] = []
  kv.onChange((c) => changes.push(...c))
  return { kv, changes }
}

function sync (a: YArrayKv, b: YArrayKv): void {
  Y.applyUpdate(b.doc, Y.encodeStateAsUpdate(a.doc, Y.encodeStateVector(b.doc)), 'remote')
  Y.applyUpdate(a.doc, Y.encodeStateAsUpdate(b.doc, Y.encodeStateVector(a.doc)), 'remote')
}

test('set, overwrite and delete keys, with one change event per net change', () => {
  const { kv, changes } = replica()
  kv.write([rec('a'), rec('b')], [], 'local')
  assert.equal(kv.size, 2)
  kv.write([rec('a', { name: 'renamed', updatedAt: 2 })], [], 'local')
  assert.equal(decodeRecord(kv.get('a') as string).name, 'renamed')
  kv.write([], ['b', 'missing'], 'local')
  assert.deepEqual([...kv.keys()], ['a'])
  assert.deepEqual(changes.map(c => [c.key, c.before === undefined ? '-' : 'v', c.after === undefined ? '-' : 'v']), [
    ['a', '-', 'v'], ['b', '-', 'v'], ['a', 'v', 'v'], ['b', 'v', '-']
  ])
})

test('remote changes reach the index and emit the same kind of events', () => {
  const a = replica()
  const b = replica()
  a.kv.write([rec('x'), rec('y')], [], 'local')
  sync(a.kv, b.kv)
  assert.deepEqual([...b.kv.keys()].sort(), ['x', 'y'])
  a.kv.write([], ['x'], 'local')
  sync(a.kv, b.kv)
  assert.deepEqual([...b.kv.keys()], ['y'])
  assert.deepEqual(b.changes.map(c => c.key), ['x', 'y', 'x'])
})

test('concurrent writes of one key converge on the later update everywhere', async () => {
  const a = replica()
  const b = replica()
  a.kv.write([rec('k', { name: 'from-a', updatedAt: 5 })], [], 'local')
  b.kv.write([rec('k', { name: 'from-b', updatedAt: 7 })], [], 'local')
  sync(a.kv, b.kv)
  assert.equal(decodeRecord(a.kv.get('k') as string).name, 'from-b')
  assert.equal(decodeRecord(b.kv.get('k') as string).name, 'from-b')
  await new Promise((resolve) => setImmediate(resolve))
  sync(a.kv, b.kv)
  // The losing copy was deleted: one live element remains.
  assert.equal(a.kv.doc.getArray('pins').length, 1)
  assert.equal(b.kv.doc.getArray('pins').length, 1)
})

test('a concurrent delete and update keep the update', () => {
  const a = replica()
  const b = replica()
  a.kv.write([rec('k')], [], 'local')
  sync(a.kv, b.kv)
  a.kv.write([], ['k'], 'local')
  b.kv.write([rec('k', { name: 'updated', updatedAt: 3 })], [], 'local')
  sync(a.kv, b.kv)
  assert.equal(decodeRecord(a.kv.get('k') as string).name, 'updated')
  assert.equal(decodeRecord(b.kv.get('k') as string).name, 'updated')
})

test('churn leaves an encoded state close to that of a fresh set', () => {
  const churned = replica()
  // CIDv1 length: the records must be pin-sized for the comparison to mean anything.
  const keys = Array.from({ length: 5000 }, (_, i) => `bafkrei${i.toString().padStart(52, '0')}`)
  for (let i = 0; i < keys.length; i += 500) churned.kv.write(keys.slice(i, i + 500).map(k => rec(k)), [], 'local')
  const gone = keys.filter((_, i) => i % 10 !== 0)
  for (let i = 0; i < gone.length; i += 100) churned.kv.write([], gone.slice(i, i + 100), 'local')
  const fresh = replica()
  fresh.kv.write(keys.filter((_, i) => i % 10 === 0).map(k => rec(k)), [], 'local')
  assert.equal(churned.kv.size, fresh.kv.size)
  const c = Y.encodeStateAsUpdate(churned.kv.doc).length
  const f = Y.encodeStateAsUpdate(fresh.kv.doc).length
  assert.ok(c < 2 * f, `churned ${c} B vs fresh ${f} B`)
})

test('keys written by hundreds of clients are read, overwritten and deleted like any other', () => {
  const hub = replica()
  // More writers than the index's compact form holds (256 clients), so both forms are in use.
  for (let i = 0; i < 300; i++) {
    const w = replica()
    w.kv.write([rec(`k${i}`, { name: `w${i}` })], [], 'local')
    Y.applyUpdate(hub.kv.doc, Y.encodeStateAsUpdate(w.kv.doc), 'remote')
  }
  assert.equal(hub.kv.size, 300)
  assert.equal(decodeRecord(hub.kv.get('k299') as string).name, 'w299')
  assert.deepEqual([...hub.kv.values()].map(v => decodeRecord(v).name).sort(), Array.from({ length: 300 }, (_, i) => `w${i}`).sort())
  hub.kv.write([rec('k299', { name: 'again', updatedAt: 2 })], ['k280', 'k3'], 'local')
  assert.equal(decodeRecord(hub.kv.get('k299') as string).name, 'again')
  assert.equal(hub.kv.has('k280'), false)
  assert.equal(hub.kv.has('k3'), false)
  assert.equal(hub.kv.size, 298)
  assert.equal(hub.kv.tombstoneCount(), 3)
})

test('a replica without listeners (loading a stored state) indexes it and still removes losing copies', async () => {
  const a = replica()
  const b = replica()
  a.kv.write([rec('k', { name: 'from-a', updatedAt: 5 }), rec('x')], [], 'local')
  b.kv.write([rec('k', { name: 'from-b', updatedAt: 7 }), rec('y')], [], 'local')
  b.kv.write([], ['y'], 'local')
  const stored = Y.mergeUpdates([Y.encodeStateAsUpdate(a.kv.doc), Y.encodeStateAsUpdate(b.kv.doc)])
  const loaded = new YArrayKv(new Y.Doc(), { resolveConflicts: true })
  Y.applyUpdate(loaded.doc, stored, 'load')
  assert.deepEqual([...loaded.keys()].sort(), ['k', 'x'])
  assert.equal(decodeRecord(loaded.get('k') as string).name, 'from-b')
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(loaded.doc.getArray('pins').length, 2)
})
