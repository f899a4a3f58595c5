import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pinOptionsFromQuery } from '../../../src/cluster/index.js'

test('pin options: replication, metadata, user allocations and expiry from IPFS Cluster\'s names', () => {
  const q = new URLSearchParams('replication=2&meta-team=a&meta-=x&user-allocations=p1, p2,&expire-in=1m')
  assert.deepEqual(pinOptionsFromQuery(q, 1000), {
    replicationMin: 2, replicationMax: 2, metadata: { team: 'a' }, userAllocations: ['p1', 'p2'], expireAt: 61_000
  })
  assert.deepEqual(pinOptionsFromQuery(new URLSearchParams('replication=3&replication-min=1'), 0), { replicationMin: 1, replicationMax: 3 })
  assert.deepEqual(pinOptionsFromQuery(new URLSearchParams('replication-min=-1&replication-max=-1'), 0), { replicationMin: -1, replicationMax: -1 })
  assert.deepEqual(pinOptionsFromQuery(new URLSearchParams('name=x&pin=true'), 0), {})
})

for (const [query, message] of [
  ['replication=two', /could not convert value "two" to type "int"/],
  ['replication-min=', /could not convert value ""/],
  ['replication-max=1.5', /could not convert value "1.5"/],
  ['replication=0', /replication must be a positive whole number or -1/],
  ['replication-min=-2', /replication-min must be a positive whole number or -1/],
  ['expire-in=soon', /expire-in:/],
  ['expire-in=500ms', /expire-in must be at least 1s/]
] as const) {
  test(`pin options reject ${query}`, () => {
    assert.throws(() => pinOptionsFromQuery(new URLSearchParams(query), 0), (err: Error) => err.name === 'InvalidParametersError' && message.test(err.message))
  })
}
