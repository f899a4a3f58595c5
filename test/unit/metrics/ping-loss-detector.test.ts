import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { PingLossDetector, type PingLossDetectorInit, type ReceivedMetrics, type StallClock } from '../../../src/metrics/index.js'
import { waitFor } from '../../fixtures/wait-for.js'

type Probe = (peer: string, options: { signal?: AbortSignal }) => Promise<void>

/** A monitor that reports downs and ups when told to, and a detector over it. */
function setup (t: TestContext, o: { probe: Probe, connected?: boolean, stalls?: StallClock, init?: Partial<PingLossDetectorInit> }): { down: (peer: string, expiresAgoMs?: number) => void, up: (peer: string) => void, gone: string[], detector: PingLossDetector } {
  const downs = new Set<(peer: string, last: ReceivedMetrics) => void>()
  const ups = new Set<(m: ReceivedMetrics) => void>()
  const metrics = (peer: string, expiresAgoMs: number): ReceivedMetrics => {
    const now = Date.now()
    return { peer, peername: peer, addresses: [], kubo: undefined, freeSpace: 0, queued: 0, tags: {}, sentAt: now, ttlMs: 1000, receivedAt: now - 1000 - expiresAgoMs, expiresAt: now - expiresAgoMs }
  }
  const detector = new PingLossDetector({
    monitor: {
      onPeerDown: (fn) => { downs.add(fn); return () => { downs.delete(fn) } },
      onPeerUp: (fn) => { ups.add(fn); return () => { ups.delete(fn) } }
    },
    probe: o.probe,
    connected: () => o.connected ?? true,
    stalls: o.stalls ?? { stallSince: () => 0 },
    logger: pino({ level: 'silent' })
  }, { ttlMs: 1000, probeTimeoutMs: 100, probeIntervalMs: 50, windowMs: 300, ...o.init })
  const gone: string[] = []
  detector.onPeerGone((p) => { gone.push(p) })
  detector.start()
  t.after(async () => { await detector.stop() })
  return {
    down: (peer, expiresAgoMs = 0) => { for (const fn of downs) fn(peer, metrics(peer, expiresAgoMs)) },
    up: (peer) => { for (const fn of ups) fn(metrics(peer, -1000)) },
    gone,
    detector
  }
}

const hang: Probe = async (_peer, { signal }) => await new Promise((_resolve, reject) => {
  signal?.addEventListener('abort', () => { reject(signal.reason) }, { once: true })
})
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

test('a peer whose metrics expired and whose pings time out is gone once the window has passed, once', async (t) => {
  const s = setup(t, { probe: hang })
  const started = Date.now()
  s.down('p')
  await waitFor(() => s.gone.length > 0, { timeoutMs: 5000, message: 'gone' })
  assert.ok(Date.now() - started >= 300, `gone after ${Date.now() - started} ms, before the 300 ms window`)
  await sleep(400)
  assert.deepEqual(s.gone, ['p'])
  assert.deepEqual(s.detector.suspects(), [], 'no longer probed')
})

test('a peer that answers pings is never gone, however late its metrics', async (t) => {
  let probes = 0
  const s = setup(t, { probe: async () => { probes++ } })
  s.down('p')
  await sleep(800)
  assert.deepEqual(s.gone, [])
  assert.ok(probes >= 5, `only ${probes} probes`)
  assert.deepEqual(s.detector.suspects(), ['p'], 'still watched')
  assert.equal(s.detector.stats().late, 1)
})

test('a slow peer that answers some pings (2 of 3 time out) is not gone', async (t) => {
  let n = 0
  const s = setup(t, { probe: async (peer, o) => { if (n++ % 3 !== 2) await hang(peer, o) } })
  s.down('p')
  await sleep(1500)
  assert.deepEqual(s.gone, [])
})

test('refused with no connection open: gone after two probes, without waiting for the window', async (t) => {
  const s = setup(t, { probe: async () => { throw new Error('ECONNREFUSED') }, connected: false, init: { windowMs: 60_000 } })
  s.down('p')
  await waitFor(() => s.gone.length > 0, { timeoutMs: 2000, message: 'gone' })
  assert.equal(s.detector.stats().probes, 2)
})

test('fast failures on an open connection count as timeouts: they need the window', async (t) => {
  const s = setup(t, { probe: async () => { throw new Error('too many outbound streams') }, connected: true, init: { windowMs: 60_000 } })
  s.down('p')
  await sleep(500)
  assert.deepEqual(s.gone, [])
})

test('metrics coming back stop the probing; a later expiry starts it again', async (t) => {
  const s = setup(t, { probe: hang, init: { windowMs: 400 } })
  s.down('p')
  await sleep(150)
  s.up('p')
  assert.deepEqual(s.detector.suspects(), [])
  await sleep(500)
  assert.deepEqual(s.gone, [], 'not gone after it came back')
  s.down('p')
  await waitFor(() => s.gone.length > 0, { timeoutMs: 5000, message: 'gone after expiring again' })
})

test('while this peer itself stalls, failed pings do not count and the TTL is extended', async (t) => {
  const stall = { ms: 5000 }
  const s = setup(t, { probe: hang, stalls: { stallSince: () => stall.ms } })
  s.down('p')
  await sleep(700)
  assert.deepEqual(s.gone, [], 'not gone while this peer stalls')
  stall.ms = 0
  await waitFor(() => s.gone.length > 0, { timeoutMs: 5000, message: 'gone once this peer keeps up again' })
})
