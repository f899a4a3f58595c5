import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FAST_CLUSTER_ARGS } from '../fixtures/cluster.js'
import { runLoad, formatLoadTable, loadSummary } from './load.scenario.js'

// Fast settings, except Kubo's no-progress pin timeout: 2 s is too short when the suite's other files share the
// 2 cores, and a pin_error fails the client's pin/add.
const TEST_ARGS = FAST_CLUSTER_ARGS.filter((a, i, all) => a !== '--kubo-pin-timeout' && all[i - 1] !== '--kubo-pin-timeout')

// The short version of the load run (the long one is bench/load.bench.ts). No latency assertion: the test
// suite shares 2 cores with other test files.
test('64 clients of mixed forwarded and intercepted calls on 3 peers: zero errors, every acknowledged pin kept', async (t) => {
  const f = await runLoad({
    clients: 64,
    durationMs: Number(process.env.LOAD_TEST_DURATION_MS ?? 12_000),
    clusterArgs: TEST_ARGS,
    log: (m) => { t.diagnostic(m) }
  })
  for (const line of formatLoadTable(f).split('\n')) t.diagnostic(line)
  console.log(loadSummary(f))

  assert.deepEqual(f.errorSamples, [], 'no call failed')
  assert.equal(f.errors, 0)
  for (const k of f.kinds) assert.ok(k.requests > 0, `${k.kind} was exercised`)
  assert.ok(f.pins.expected > 0 && f.pins.unpinned > 0, 'pins and unpins were acknowledged')
  assert.deepEqual(f.pins.samples, [], 'every acknowledged pin on every peer and allocated Kubo; every acknowledged unpin gone')
  assert.equal(f.pins.lostFromPinset, 0)
  assert.equal(f.pins.lostFromKubo, 0)
  assert.equal(f.pins.resurrected, 0)
})
