import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { encodeRecord, decodeRecord, encodedCid, encodedUpdatedAt, PeerCodes } from '../../../src/pinset/record-codec.js'
import type { PinRecord } from '../../../src/types.js'

const A = '12D3KooWGzBnM5bWLyGvUXHcCk8R4DKi1HQ2t8ZuY2K5wY7Qn4Ys'
const B = '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK'
const CID = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

function pin (over: Partial<PinRecord> = {}): PinRecord {
  return { cid: CID, name: '', mode: 'recursive', replicationMin: -1, replicationMax: -1, allocations: [], metadata: {}, createdAt: 1764000000000, updatedAt: 1764000000000, updatedBy: A, ...over }
}

const variants: PinRecord[] = [
  pin(),
  pin({ allocations: [A, B], replicationMin: 1, replicationMax: 3, updatedAt: 1764000000123, updatedBy: B }),
  pin({ mode: 'direct', name: 'a "name"\x1e,~with\x1fseparators', metadata: { 'k\x1e': 'v,~' }, expireAt: 1865000000000 }),
  pin({ expireAt: 0, createdAt: 0, updatedAt: 0, updatedBy: 'peerA', allocations: ['peerA', 'peerB'] })
]

test('every field survives encoding, with and without peer codes', () => {
  const codes = new PeerCodes(new Y.Doc())
  for (const r of variants) {
    assert.deepEqual(decodeRecord(encodeRecord(r)), r)
    assert.deepEqual(decodeRecord(encodeRecord(r, codes), codes), r)
    assert.equal(encodedCid(encodeRecord(r, codes)), r.cid)
    assert.equal(encodedUpdatedAt(encodeRecord(r, codes)), r.updatedAt)
  }
})

test('records whose values the compact form cannot hold exactly fall back to version 1 and still round-trip', () => {
  const odd = [pin({ updatedAt: 1.5 }), pin({ allocations: ['a,b'] }), pin({ updatedBy: '~x' }), pin({ replicationMax: 2 ** 60 })]
  for (const r of odd) {
    const v = encodeRecord(r, new PeerCodes(new Y.Doc()))
    assert.ok(v.startsWith(CID + '\x1f['), v)
    assert.deepEqual(decodeRecord(v), r)
  }
})

test('version 1 records, as the previous release wrote them, decode', () => {
  const v1 = `${CID}\x1f[1,1,1,2,["${A}","${B}"],"n",{"k":"v"},1865000000000,1764000000000,1764000000500,"${B}"]`
  assert.deepEqual(decodeRecord(v1), pin({ mode: 'direct', replicationMin: 1, replicationMax: 2, allocations: [A, B], name: 'n', metadata: { k: 'v' }, expireAt: 1865000000000, updatedAt: 1764000000500, updatedBy: B }))
  assert.equal(encodedUpdatedAt(v1), 1764000000500)
  assert.throws(() => decodeRecord(`${CID}\x1f[9,0]`), /unsupported pin record encoding 9/)
})

test('peer ids become short codes that another replica of the document resolves', () => {
  const doc = new Y.Doc()
  const codes = new PeerCodes(doc)
  let v = ''
  doc.transact(() => { v = encodeRecord(pin({ allocations: [A, B], updatedBy: A }), codes) })
  assert.ok(!v.includes(A) && !v.includes(B), v)
  assert.ok(v.length < encodeRecord(pin({ allocations: [A, B] })).length - 80)
  const other = new Y.Doc()
  Y.applyUpdate(other, Y.encodeStateAsUpdate(doc))
  assert.deepEqual(decodeRecord(v, new PeerCodes(other)).allocations, [A, B])
  // Without the codes the reference stays visible rather than turning into a wrong id.
  assert.equal(decodeRecord(v).updatedBy, '~' + A.slice(-8))
})

test('an id whose code is taken by another id is written in full', () => {
  const codes = new PeerCodes(new Y.Doc())
  const twin = '12D3KooWXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX' + A.slice(-8)
  const first = encodeRecord(pin({ updatedBy: A }), codes)
  const second = encodeRecord(pin({ updatedBy: twin }), codes)
  assert.ok(!first.includes(A))
  assert.ok(second.endsWith(twin))
  assert.equal(decodeRecord(first, codes).updatedBy, A)
  assert.equal(decodeRecord(second, codes).updatedBy, twin)
})

test('a key passed to decode is used only when it is the record\'s CID', () => {
  const v = encodeRecord(pin())
  assert.equal(decodeRecord(v, undefined, CID).cid, CID)
  assert.equal(decodeRecord(v, undefined, CID.slice(0, -1) + 'a').cid, CID)
  assert.equal(decodeRecord(v, undefined, CID.slice(0, 10)).cid, CID)
})
