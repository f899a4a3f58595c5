import { test } from 'node:test'
import type { TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino, type Logger } from 'pino'
import { GossipMonitor, encodeMetrics, metricsTopic, type GossipMonitorInit, type MetricsSample, type PeerMetrics } from '../../../src/metrics/index.js'
import type { ClusterNet } from '../../../src/net/index.js'
import { schema, type MetricsConfig } from '../../../src/config/index.js'
import { randomSecret, startTestNet } from '../../fixtures/net.js'
import { waitFor } from '../../fixtures/wait-for.js'

const CLUSTER = 'metrics-test'
const FAST: GossipMonitorInit = { intervalMs: 100, ttlMs: 1000, tags: { group: 'default' }, discoveryCooldownMs: 200 }
// The `metrics` config section is a valid init as it is.
const metricsSection: MetricsConfig = {
  intervalMs: schema.metrics.intervalMs.default, ttlMs: schema.metrics.ttlMs.default, tags: schema.metrics.tags.default
}
const DEFAULTS: GossipMonitorInit = metricsSection

interface TestPeer {
  net: ClusterNet
  monitor: GossipMonitor
  ups: string[]
  downs: string[]
}

interface PeerOptions {
  secret: string
  bootstrap?: string[]
  dataDir?: string
  net?: ClusterNet
  peername?: string
  sample?: () => Promise<MetricsSample>
  trust?: (peer: string) => boolean
  now?: () => number
  discovery?: boolean
  logger?: Logger
  init?: Partial<GossipMonitorInit>
  stalls?: { stallSince: (since: number) => number }
}

const silent = pino({ level: 'silent' })

async function startPeer (t: TestContext, o: PeerOptions): Promise<TestPeer> {
  const net = o.net ?? await startTestNet(t, { secret: o.secret, bootstrap: o.bootstrap ?? [], ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}) })
  const peername = o.peername ?? `peer-${net.peerId.slice(-6)}`
  const monitor = new GossipMonitor({
    libp2p: net.libp2p,
    logger: o.logger ?? silent,
    clusterName: CLUSTER,
    self: { peername, addresses: () => net.addresses() },
    sample: o.sample ?? (async () => ({ kubo: { id: `kubo-${peername}`, addresses: [] }, freeSpace: 1000, queued: 0 })),
    trust: o.trust ?? (() => true),
    ...(o.discovery !== false ? { connect: async (address: string, options?: { signal?: AbortSignal }) => { await net.connect(address, options) } } : {}),
    ...(o.now !== undefined ? { now: o.now } : {}),
    ...(o.stalls !== undefined ? { stalls: o.stalls } : {})
  }, { ...FAST, ...o.init })
  const peer: TestPeer = { net, monitor, ups: [], downs: [] }
  monitor.onPeerUp((m) => { peer.ups.push(m.peer) })
  monitor.onPeerDown((id) => { peer.downs.push(id) })
  t.after(async () => { await monitor.stop() })
  await monitor.start()
  return peer
}

const alivePeers = (p: TestPeer): string[] => p.monitor.alive().map(m => m.peer)
const count = (list: string[], id: string): number => list.filter(x => x === id).length
const connected = (a: ClusterNet, b: ClusterNet): boolean => a.libp2p.getConnections().some(c => c.remotePeer.toString() === b.peerId)

test('three peers see each other alive, with their metrics, and each comes up once', async (t) => {
  const secret = randomSecret()
  const a = await startPeer(t, { secret, peername: 'a', init: { tags: { region: 'eu' } } })
  const b = await startPeer(t, { secret, peername: 'b', bootstrap: a.net.addresses() })
  const c = await startPeer(t, { secret, peername: 'c', bootstrap: a.net.addresses() })
  const all = [a, b, c].map(p => p.net.peerId).sort()
  for (const p of [a, b, c]) {
    await waitFor(() => alivePeers(p).join() === all.join(), { message: `${p.net.peerId} sees all three alive` })
  }
  const m = b.monitor.get(a.net.peerId)
  assert.ok(m !== undefined)
  assert.equal(m.peername, 'a')
  assert.deepEqual(m.tags, { region: 'eu' })
  assert.equal(m.freeSpace, 1000)
  assert.deepEqual(m.kubo, { id: 'kubo-a', addresses: [] })
  assert.deepEqual(m.addresses, a.net.addresses())
  assert.equal(m.expiresAt - m.receivedAt, FAST.ttlMs)
  for (const p of [a, b, c]) {
    assert.deepEqual([...p.ups].sort(), all.filter(id => id !== p.net.peerId), 'up once per other peer, never for itself')
    assert.deepEqual(p.downs, [])
  }
})

test('a stopped peer goes down once after the TTL and comes back up when restarted', async (t) => {
  const secret = randomSecret()
  const clock = { now: 1_000_000 }
  // The checker timer is slowed down so that only explicit checkNow() calls matter here.
  const a = await startPeer(t, { secret, now: () => clock.now, init: { checkIntervalMs: 3_600_000 } })
  const dataDir = await mkdtemp(join(tmpdir(), 'pinmesh-metrics-'))
  t.after(async () => { await rm(dataDir, { recursive: true, force: true }) })
  const c1 = await startPeer(t, { secret, dataDir, bootstrap: a.net.addresses() })
  const cId = c1.net.peerId
  await waitFor(() => a.monitor.get(cId), { message: 'a sees c' })
  assert.equal(count(a.ups, cId), 1)

  await c1.monitor.stop()
  await c1.net.stop()
  clock.now += FAST.ttlMs - 1
  a.monitor.checkNow()
  assert.deepEqual(a.downs, [], 'not down before the TTL')
  clock.now += 2
  a.monitor.checkNow()
  assert.deepEqual(a.downs, [cId])
  assert.equal(a.monitor.get(cId), undefined)
  assert.deepEqual(alivePeers(a), [a.net.peerId], 'a itself stays alive')
  for (let i = 0; i < 5; i++) {
    clock.now += FAST.ttlMs
    a.monitor.checkNow()
  }
  assert.deepEqual(a.downs, [cId], 'down fires once')

  const c2 = await startPeer(t, { secret, dataDir, bootstrap: a.net.addresses() })
  assert.equal(c2.net.peerId, cId)
  await waitFor(() => count(a.ups, cId) === 2, { message: 'c comes up again' })
  assert.ok(a.monitor.get(cId) !== undefined)
  assert.deepEqual(a.downs, [cId])
})

test('a peer whose own event loop stood still does not take others for down until the stall is made up', async (t) => {
  const secret = randomSecret()
  const clock = { now: 1_000_000 }
  const stall = { ms: 0 }
  const a = await startPeer(t, { secret, now: () => clock.now, stalls: { stallSince: () => stall.ms }, init: { checkIntervalMs: 3_600_000 } })
  const b = await startPeer(t, { secret, bootstrap: a.net.addresses() })
  const bId = b.net.peerId
  await waitFor(() => a.monitor.get(bId), { message: 'a sees b' })
  await b.monitor.stop()
  // a was stopped (SIGSTOP, CPU starvation) for 10 s: b's metrics may be waiting in its sockets.
  clock.now += 10_000
  stall.ms = 10_000
  a.monitor.checkNow()
  assert.deepEqual(a.downs, [], 'not down: the TTL is extended by the stall')
  assert.ok(a.monitor.get(bId) !== undefined)
  clock.now += FAST.ttlMs
  a.monitor.checkNow()
  assert.deepEqual(a.downs, [bId], 'down once the TTL has passed on top of the stall')
})

test('with the real clock a silent peer is reported down once by the periodic check', async (t) => {
  const secret = randomSecret()
  const init = { ttlMs: 400, intervalMs: 50 }
  const a = await startPeer(t, { secret, init })
  const b = await startPeer(t, { secret, init, bootstrap: a.net.addresses() })
  await waitFor(() => a.monitor.get(b.net.peerId), { message: 'a sees b' })
  await b.monitor.stop()
  await waitFor(() => a.downs.length > 0, { message: 'b goes down' })
  const checks = a.monitor.stats().checks
  await waitFor(() => a.monitor.stats().checks >= checks + 4, { message: 'more checks run' })
  assert.deepEqual(a.downs, [b.net.peerId])
})

test('metrics arriving after an expiry the checker has not seen yet report down, then up', async (t) => {
  const secret = randomSecret()
  const clock = { now: 5_000 }
  const a = await startPeer(t, { secret, now: () => clock.now, init: { checkIntervalMs: 3_600_000 } })
  const b = await startPeer(t, { secret, bootstrap: a.net.addresses() })
  const bId = b.net.peerId
  await waitFor(() => a.monitor.get(bId), { message: 'a sees b' })
  const events: string[] = []
  a.monitor.onPeerDown((id) => { events.push(`down ${id}`) })
  a.monitor.onPeerUp((m) => { events.push(`up ${m.peer}`) })
  clock.now += FAST.ttlMs + 1
  assert.equal(a.monitor.get(bId), undefined, 'expired metrics are not alive even before the check')
  await waitFor(() => events.length >= 2, { message: 'b publishes again' })
  assert.deepEqual(events.slice(0, 2), [`down ${bId}`, `up ${bId}`])
})

test('forged metrics (peer field is not the signer) are dropped', async (t) => {
  const secret = randomSecret()
  const a = await startPeer(t, { secret })
  const victim = await startTestNet(t, { secret })
  const forger = await startTestNet(t, { secret, bootstrap: a.net.addresses() })
  const topic = metricsTopic(CLUSTER)
  const metrics = (peer: string): PeerMetrics => ({
    peer, peername: 'forged', addresses: [], kubo: undefined, freeSpace: 1 << 30, queued: 0, tags: {}, sentAt: Date.now(), ttlMs: 60_000
  })
  const pubsub = forger.libp2p.services.pubsub
  await waitFor(async () => {
    const { recipients } = await pubsub.publish(topic, encodeMetrics(metrics(victim.peerId)))
    return recipients.some(r => r.toString() === a.net.peerId)
  }, { message: 'the forged message reaches a' })
  await pubsub.publish(topic, encodeMetrics(metrics(a.net.peerId)))
  await pubsub.publish(topic, encodeMetrics(metrics(forger.peerId)))
  await waitFor(() => a.monitor.get(forger.peerId), { message: "the forger's honest metrics arrive" })
  await waitFor(() => a.monitor.stats().rejected >= 2, { message: 'both forged messages rejected' })
  assert.equal(a.monitor.get(victim.peerId), undefined)
  assert.notEqual(a.monitor.get(a.net.peerId)?.peername, 'forged')
  assert.deepEqual(a.ups, [forger.peerId])
})

test('an untrusted peer is not alive, is logged once, and still sees the others', async (t) => {
  const secret = randomSecret()
  const lines: Array<{ msg: string, peer?: string }> = []
  const logger = pino({ level: 'warn' }, { write (s: string) { lines.push(JSON.parse(s) as { msg: string }) } })
  const untrustedNet = await startTestNet(t, { secret, start: false })
  const a = await startPeer(t, { secret, logger, trust: (id) => id !== untrustedNet.peerId })
  await untrustedNet.start()
  await untrustedNet.connect(a.net.addresses()[0] as string)
  const d = await startPeer(t, { secret, net: untrustedNet })
  await waitFor(() => a.monitor.stats().untrusted >= 3, { message: 'several messages from d arrive' })
  assert.equal(a.monitor.get(d.net.peerId), undefined)
  assert.deepEqual(alivePeers(a), [a.net.peerId])
  assert.deepEqual(a.ups, [])
  const warnings = lines.filter(l => l.msg.includes('untrusted'))
  assert.equal(warnings.length, 1)
  assert.equal(warnings[0]?.peer, d.net.peerId)
  await waitFor(() => d.monitor.get(a.net.peerId), { message: 'd follows a' })
})

test('peers that only know a common peer connect to each other through their metrics', async (t) => {
  const secret = randomSecret()
  const a = await startPeer(t, { secret })
  const bNet = await startTestNet(t, { secret, bootstrap: a.net.addresses() })
  const cNet = await startTestNet(t, { secret, bootstrap: a.net.addresses() })
  await waitFor(() => connected(bNet, a.net) && connected(cNet, a.net), { message: 'b and c reach a' })
  assert.equal(connected(bNet, cNet), false, 'b and c start unconnected')
  const b = await startPeer(t, { secret, net: bNet })
  const c = await startPeer(t, { secret, net: cNet })
  await waitFor(() => connected(bNet, cNet), { message: 'b and c connect' })
  assert.ok(b.monitor.stats().discoveryDials + c.monitor.stats().discoveryDials >= 1)
  const all = [a, b, c].map(p => p.net.peerId).sort().join()
  for (const p of [a, b, c]) await waitFor(() => alivePeers(p).join() === all, { message: 'everyone alive everywhere' })
})

test('without connect, peers are not discovered', async (t) => {
  const secret = randomSecret()
  const a = await startPeer(t, { secret })
  const b = await startPeer(t, { secret, discovery: false, bootstrap: a.net.addresses() })
  const c = await startPeer(t, { secret, discovery: false, bootstrap: a.net.addresses() })
  await waitFor(() => b.monitor.get(c.net.peerId), { message: "b hears of c through a's relay" })
  assert.equal(connected(b.net, c.net), false)
  assert.equal(b.monitor.stats().discoveryDials, 0)
})

test('metrics go out even when sampling fails, times out, or Kubo is down', async (t) => {
  const secret = randomSecret()
  let mode: 'ok' | 'kubo-down' | 'throws' | 'hangs' = 'ok'
  const sample = async (): Promise<MetricsSample> => {
    if (mode === 'ok') return { kubo: { id: 'kubo-b', addresses: ['/ip4/127.0.0.1/tcp/4001/p2p/kubo-b'] }, freeSpace: 500, queued: 7 }
    if (mode === 'kubo-down') return { queued: 2 }
    if (mode === 'throws') throw new Error('tracker exploded')
    return await new Promise<never>(() => {})
  }
  const a = await startPeer(t, { secret })
  const b = await startPeer(t, { secret, sample, bootstrap: a.net.addresses(), init: { sampleTimeoutMs: 50 } })
  const bId = b.net.peerId
  await waitFor(() => a.monitor.get(bId)?.freeSpace === 500, { message: 'normal metrics' })
  assert.equal(a.monitor.get(bId)?.queued, 7)

  mode = 'kubo-down'
  await waitFor(() => a.monitor.get(bId)?.queued === 2, { message: 'metrics without Kubo' })
  assert.equal(a.monitor.get(bId)?.freeSpace, undefined)
  assert.equal(a.monitor.get(bId)?.kubo, undefined)

  mode = 'ok'
  await waitFor(() => a.monitor.get(bId)?.queued === 7, { message: 'back to normal' })
  mode = 'throws'
  await waitFor(() => a.monitor.get(bId)?.freeSpace === undefined, { message: 'metrics after a failed sample' })
  assert.equal(a.monitor.get(bId)?.queued, 7, 'the last known queue length is kept')

  mode = 'hangs'
  const before = a.monitor.get(bId)?.sentAt ?? 0
  await waitFor(() => (a.monitor.get(bId)?.sentAt ?? 0) > before + 200, { message: 'metrics keep coming while the sample hangs' })
  assert.equal(a.monitor.get(bId)?.freeSpace, undefined)
  assert.ok(b.monitor.stats().sampleFailures > 0)
  assert.deepEqual(a.downs, [])
})

test('the default settings check expiries every ttl/4 and publish at start', async (t) => {
  const net = await startTestNet(t)
  const monitor = new GossipMonitor({
    libp2p: net.libp2p, logger: silent, clusterName: CLUSTER, self: { peername: 'solo', addresses: () => net.addresses() },
    sample: async () => ({ queued: 0 }), trust: () => true
  }, DEFAULTS)
  t.after(async () => { await monitor.stop() })
  await monitor.start()
  await waitFor(() => monitor.stats().published === 1, { message: 'published at start' })
  assert.equal(monitor.get(net.peerId)?.ttlMs, 15_000)
})

test('publishNow coalesces concurrent calls and does nothing before start', async (t) => {
  const net = await startTestNet(t)
  let samples = 0
  let release: () => void = () => {}
  const monitor = new GossipMonitor({
    libp2p: net.libp2p,
    logger: silent,
    clusterName: CLUSTER,
    self: { peername: 'solo', addresses: () => net.addresses() },
    sample: async () => {
      samples++
      await new Promise<void>((resolve) => { release = resolve })
      return { freeSpace: 1, queued: 0 }
    },
    trust: () => true
  }, { ...FAST, intervalMs: 3_600_000 })
  t.after(async () => { release(); await monitor.stop() })
  await monitor.publishNow()
  assert.equal(samples, 0)
  assert.deepEqual(monitor.alive(), [])

  await monitor.start()
  await waitFor(() => samples === 1, { message: 'the start publish samples' })
  const calls = [monitor.publishNow(), monitor.publishNow(), monitor.publishNow()]
  release()
  await waitFor(() => samples === 2, { message: 'one more sample for the three calls' })
  release()
  await Promise.all(calls)
  assert.equal(samples, 2)
  assert.equal(monitor.stats().published, 2)
  assert.deepEqual(monitor.alive().map(m => m.peer), [net.peerId])
  await monitor.stop()
  assert.deepEqual(monitor.alive(), [])
})

test('a throwing listener does not stop the others, and unsubscribing works', async (t) => {
  const secret = randomSecret()
  const a = await startPeer(t, { secret })
  const seen: string[] = []
  a.monitor.onPeerUp(() => { throw new Error('listener bug') })
  const off = a.monitor.onPeerUp((m) => { seen.push(m.peer) })
  const offDown = a.monitor.onPeerDown(() => { seen.push('down') })
  offDown()
  const b = await startPeer(t, { secret, bootstrap: a.net.addresses() })
  await waitFor(() => seen.includes(b.net.peerId), { message: 'the second listener runs' })
  off()
  assert.deepEqual(a.ups, [b.net.peerId])
})
