import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseDuration, formatDuration } from '../../../src/utils/duration.js'
import { parseListenAddress, toHttpUrl } from '../../../src/utils/address.js'

for (const [input, ms] of [['0', 0], ['250ms', 250], ['30s', 30_000], ['2m', 120_000], ['1h30m', 5_400_000], ['1.5s', 1500]] as const) {
  test(`parseDuration("${input}") = ${ms}`, () => { assert.equal(parseDuration(input), ms) })
}
for (const bad of ['', '10', 'soon', '5 s', '1d', 's5']) {
  test(`parseDuration rejects ${JSON.stringify(bad)}`, () => { assert.throws(() => parseDuration(bad), /invalid duration/) })
}
test('formatDuration inverts parseDuration for whole units', () => {
  for (const s of ['0s', '250ms', '30s', '2m', '24h']) assert.equal(formatDuration(parseDuration(s)), s)
})
test('listen addresses: multiaddrs and host:port', () => {
  assert.deepEqual(parseListenAddress('/ip4/127.0.0.1/tcp/9095'), { host: '127.0.0.1', port: 9095 })
  assert.deepEqual(parseListenAddress('/ip6/::1/tcp/0'), { host: '::1', port: 0 })
  assert.deepEqual(parseListenAddress('localhost:80'), { host: 'localhost', port: 80 })
  assert.throws(() => parseListenAddress('/ip4/127.0.0.1/udp/1'), /tcp/)
  assert.throws(() => parseListenAddress('/ip4/127.0.0.1/tcp/70000'), /out of range|65535/)
  assert.throws(() => parseListenAddress('nowhere'), /expected a multiaddr/)
})
test('Kubo endpoints become base URLs', () => {
  assert.equal(toHttpUrl('/ip4/127.0.0.1/tcp/5001'), 'http://127.0.0.1:5001')
  assert.equal(toHttpUrl('/dns4/ipfs0/tcp/5001'), 'http://ipfs0:5001')
  assert.equal(toHttpUrl('http://localhost:5001/'), 'http://localhost:5001')
  assert.throws(() => toHttpUrl('ftp://x'), /http/)
})
