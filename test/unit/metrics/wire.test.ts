import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { decodeMetrics, encodeMetrics, metricsTopic, MAX_METRICS_BYTES, type PeerMetrics } from '../../../src/metrics/index.js'

const sample: PeerMetrics = {
  peer: '12D3KooWExample',
  peername: 'node-a',
  addresses: ['/ip4/127.0.0.1/tcp/9096/p2p/12D3KooWExample'],
  kubo: { id: '12D3KooWKubo', addresses: ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWKubo'] },
  freeSpace: 123456789,
  queued: 3,
  tags: { group: 'default', region: 'eu' },
  sentAt: 1_700_000_000_000,
  ttlMs: 15_000
}

const json = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))

describe('metrics wire format', () => {
  test('metrics survive an encode/decode round trip', () => {
    assert.deepEqual(decodeMetrics(encodeMetrics(sample)), sample)
  })

  test('a peer whose Kubo is down sends no kubo and no freeSpace fields', () => {
    const data = encodeMetrics({ ...sample, kubo: undefined, freeSpace: undefined })
    const raw = JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown>
    assert.equal('kubo' in raw, false)
    assert.equal('freeSpace' in raw, false)
    const back = decodeMetrics(data)
    assert.equal(back.kubo, undefined)
    assert.equal(back.freeSpace, undefined)
  })

  test('a typical message is small', () => {
    assert.ok(encodeMetrics(sample).byteLength < 1024)
  })

  test('unknown fields are ignored', () => {
    assert.deepEqual(decodeMetrics(json({ ...sample, future: { x: 1 } })), sample)
  })

  test('a "__proto__" tag is kept as data and does not change the prototype', () => {
    const data = new TextEncoder().encode(JSON.stringify(sample).replace('"group"', '"__proto__"'))
    const m = decodeMetrics(data)
    assert.equal(Object.getPrototypeOf(m.tags), Object.prototype)
    assert.equal(Object.getOwnPropertyDescriptor(m.tags, '__proto__')?.value, 'default')
  })

  const bad: Array<[string, Uint8Array]> = [
    ['not JSON', new TextEncoder().encode('{nope')],
    ['not UTF-8', new Uint8Array([0x7b, 0xff, 0x7d])],
    ['an array', json([sample])],
    ['no peer', json({ ...sample, peer: undefined })],
    ['an empty peer', json({ ...sample, peer: '' })],
    ['a negative freeSpace', json({ ...sample, freeSpace: -1 })],
    ['a string queued', json({ ...sample, queued: '3' })],
    ['addresses that are not strings', json({ ...sample, addresses: [1] })],
    ['a tag that is not a string', json({ ...sample, tags: { a: 1 } })],
    ['a kubo without id', json({ ...sample, kubo: { addresses: [] } })],
    ['no sentAt', json({ ...sample, sentAt: undefined })],
    ['more than MAX_METRICS_BYTES', json({ ...sample, padding: 'x'.repeat(MAX_METRICS_BYTES) })]
  ]
  for (const [name, data] of bad) {
    test(`a message with ${name} is rejected`, () => {
      assert.throws(() => decodeMetrics(data))
    })
  }

  test('the topic depends on the cluster name only', () => {
    assert.equal(metricsTopic('a'), metricsTopic('a'))
    assert.notEqual(metricsTopic('a'), metricsTopic('b'))
    assert.match(metricsTopic('pinmesh'), /^\/pinmesh\/metrics\/1\/[0-9a-f]{32}$/)
  })
})
