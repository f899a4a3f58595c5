import { test } from 'node:test'
import assert from 'node:assert/strict'
import { KuboApiError, isErrorNamed } from '../../../src/errors.js'
import { FakeKubo } from '../../fixtures/fake-kubo.js'
import { kuboClientCompliance, randomCid } from '../../fixtures/kubo-compliance.js'

kuboClientCompliance('FakeKubo', async () => {
  const fake = new FakeKubo()
  return {
    client: fake,
    addBlock: async () => fake.makeAvailable(await randomCid(), { size: 50 }),
    addDag: async () => {
      const child = fake.makeAvailable(await randomCid(), { size: 10 })
      const root = fake.makeAvailable(await randomCid(), { links: { 'file.txt': child }, size: 60 })
      return { root, child, childName: 'file.txt', nodes: 2 }
    },
    teardown: async () => {}
  }
})

test('a stalled pin completes, with progress, once its missing block becomes available', async () => {
  const fake = new FakeKubo()
  const child = await randomCid()
  const root = fake.makeAvailable(await randomCid(), { links: { a: child }, size: 7 })
  const progress: number[] = []
  const pinning = fake.pinAdd(root, { mode: 'recursive', noProgressTimeoutMs: 2000, onProgress: (n) => progress.push(n) })
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.deepEqual(progress, [1])
  assert.equal(await fake.pinType(root), undefined)
  fake.makeAvailable(child, { size: 3 })
  await pinning
  assert.deepEqual(progress, [1, 2])
  assert.equal(await fake.pinType(root), 'recursive')
})

test('a pin that never progresses can wait forever when noProgressTimeoutMs is 0', async () => {
  const fake = new FakeKubo()
  const controller = new AbortController()
  const pinning = fake.pinAdd(await randomCid(), { mode: 'recursive', signal: controller.signal })
  const outcome = await Promise.race([pinning.then(() => 'settled', () => 'settled'), new Promise((resolve) => setTimeout(() => resolve('waiting'), 300))])
  assert.equal(outcome, 'waiting')
  controller.abort()
  await assert.rejects(pinning, (err) => isErrorNamed(err, 'AbortError'))
})

test('injected failures are thrown for the given number of calls, then stop', async () => {
  const fake = new FakeKubo()
  const cid = fake.makeAvailable(await randomCid())
  fake.fail('pinAdd', new KuboApiError('pin/add', 500, 'boom'), { times: 2 })
  await assert.rejects(fake.pinAdd(cid, { mode: 'recursive' }), /boom/)
  await assert.rejects(fake.pinAdd(cid, { mode: 'recursive' }), /boom/)
  await fake.pinAdd(cid, { mode: 'recursive' })
  assert.equal(fake.calls.pinAdd, 3)
  assert.equal(fake.calls.pinRm, 0)
})

test('a failure function picks the calls it fails by argument', async () => {
  const fake = new FakeKubo()
  const [a, b] = [fake.makeAvailable(await randomCid()), fake.makeAvailable(await randomCid())]
  fake.fail('pinAdd', (cid) => cid === a ? new Error('only a') : undefined)
  await assert.rejects(fake.pinAdd(a, { mode: 'direct' }), /only a/)
  await fake.pinAdd(b, { mode: 'direct' })
  fake.clearFailures()
  await fake.pinAdd(a, { mode: 'direct' })
  assert.equal(await fake.pinType(a), 'direct')
})

test('a down Kubo fails every call with KuboUnavailableError until it is back', async () => {
  const fake = new FakeKubo()
  fake.down = true
  await assert.rejects(fake.id(), (err) => isErrorNamed(err, 'KuboUnavailableError'))
  await assert.rejects((async () => { for await (const _ of fake.pinLs()) { /* drain */ } })(), (err) => isErrorNamed(err, 'KuboUnavailableError'))
  fake.down = false
  assert.equal((await fake.id()).id, fake.peerId)
  assert.equal(fake.calls.id, 2)
  assert.equal(fake.calls.pinLs, 1)
})

test('latency delays calls and an abort cuts it short', async () => {
  const fake = new FakeKubo({ latencyMs: 150 })
  let started = Date.now()
  await fake.version()
  assert.ok(Date.now() - started >= 140)
  fake.setLatency('version', 10_000)
  const reason = new Error('enough')
  started = Date.now()
  await assert.rejects(fake.version({ signal: AbortSignal.timeout(100) }), (err) => isErrorNamed(err, 'TimeoutError'))
  await assert.rejects(fake.version({ signal: AbortSignal.abort(reason) }), (err) => err === reason)
  assert.ok(Date.now() - started < 2000)
})

test('swarmConnect records the addresses it was given', async () => {
  const fake = new FakeKubo()
  await fake.swarmConnect(['/ip4/127.0.0.1/tcp/4001/p2p/x', 'junk'])
  assert.deepEqual(fake.swarmAddresses, ['/ip4/127.0.0.1/tcp/4001/p2p/x', 'junk'])
})
