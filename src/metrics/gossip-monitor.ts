import type { AbortOptions, Libp2p, PeerId } from '@libp2p/interface'
import { TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub'
import type { Logger } from '../logger.js'
import type { Monitor, PeerMetrics, ReceivedMetrics } from './types.js'
import { decodeMetrics, encodeMetrics, metricsTopic } from './wire.js'
import { withTimeout } from '../utils/signals.js'
import type { StallClock } from './loop-lag.js'
import { metricsExpired } from './liveness.js'

/** What the node measures for each metrics message. */
export interface MetricsSample {
  /** This peer's Kubo (id and swarm addresses with /p2p/); undefined when Kubo did not answer. */
  kubo?: { id: string, addresses: string[] }
  /** Free bytes in Kubo's repo (StorageMax - RepoSize); undefined when Kubo did not answer. */
  freeSpace?: number
  /** Pins waiting in this peer's tracker queue. */
  queued: number
}

export interface GossipMonitorComponents {
  libp2p: Libp2p<{ pubsub: GossipSub }>
  logger: Logger
  /** Names the gossip topic: clusters with different names never see each other's metrics. */
  clusterName: string
  self: {
    peername: string
    /** This peer's swarm addresses, each ending in /p2p/<peer id>. */
    addresses: () => string[]
  }
  /**
   * Measures this peer (Kubo's repo/stat and id, the tracker's queue). It should answer within
   * `sampleTimeoutMs` and honour `signal`. When it throws or times out, the metrics go out
   * anyway, without `kubo` and `freeSpace` and with the last known queue length.
   */
  sample: (options: AbortOptions) => Promise<MetricsSample>
  /** Whether a peer may hold pins. Metrics of untrusted peers are dropped (logged once per peer). */
  trust: (peerId: string) => boolean
  /**
   * Dials a peer at an address ending in /p2p/<id> (`ClusterNet.connect`). Without it, peers
   * are not discovered through their metrics.
   */
  connect?: (address: string, options?: AbortOptions) => Promise<void>
  /** The clock for every expiry, cooldown and `sentAt` (tests pass a fake one). @default Date.now */
  now?: () => number
  /**
   * This process's event-loop stalls. A peer's TTL is extended by the stalls since its metrics
   * arrived (see `metricsExpired`), so a peer that was itself stopped or starved does not take
   * others for down before reading the metrics waiting in its sockets. @default no extension
   */
  stalls?: StallClock
}

export interface GossipMonitorInit {
  /** How often this peer publishes its metrics. */
  intervalMs: number
  /** How long this peer's metrics stay valid after receipt; sent along with them. */
  ttlMs: number
  /** Tags published for allocation. */
  tags: Readonly<Record<string, string>>
  /** How often expiries are checked. @default ttlMs / 4 */
  checkIntervalMs?: number
  /** A sample taking longer than this is abandoned. @default ttlMs / 2 */
  sampleTimeoutMs?: number
  /** Least time between two attempts to connect to the same peer learnt from its metrics. @default 10000 */
  discoveryCooldownMs?: number
  /** Upper bound on a sender's `ttlMs`, so a misconfigured peer cannot stay alive for long after it went. @default 3600000 */
  maxTtlMs?: number
}

/** Counters for tests and diagnostics. */
export interface GossipMonitorStats {
  /** Metrics messages this peer published. */
  published: number
  /** Metrics accepted from other peers. */
  received: number
  /** Messages dropped as unsigned, malformed or forged (`peer` is not the signer). */
  rejected: number
  /** Messages dropped because the signer is not trusted. */
  untrusted: number
  /** Samples that failed or timed out. */
  sampleFailures: number
  /** Connection attempts to peers learnt from their metrics. */
  discoveryDials: number
  /** Expiry checks run. */
  checks: number
}

/**
 * A `Monitor` over gossipsub, as IPFS Cluster's pubsub monitor.
 *
 * - Publishes this peer's metrics on `metricsTopic(clusterName)` at start, every `intervalMs`
 *   and on `publishNow()` (calls made while one is running are coalesced into one more), and
 *   records them locally, so this peer is in `alive()` too.
 * - Accepts a message only if it is signed, its `peer` is the signer (`msg.from`, never the
 *   relaying peer) and the signer is trusted; anything else is not forwarded either.
 * - A peer's metrics expire `ttlMs` (the sender's, at most `maxTtlMs`) after receipt by this
 *   peer's clock, plus the time this peer's own event loop stood still since (`stalls`); the
 *   sender's clock (`sentAt`) is never used for expiry.
 * - `onPeerDown` fires once when a peer's metrics expire (found by a check every
 *   `checkIntervalMs`, or by the arrival of its next metrics, in which case down comes before
 *   up); `onPeerUp` fires when metrics arrive from a peer that is not alive. Never for this peer.
 * - A trusted peer whose metrics arrive while no connection to it is open is dialled at one of
 *   its addresses (at most once per `discoveryCooldownMs`), so every peer ends up connected to
 *   every other.
 * - This peer is in `alive()` from its first publish until `stop()`, whatever the TTL.
 * - `stop()` forgets every peer: after a restart, each peer comes up again.
 */
export class GossipMonitor implements Monitor {
  private readonly c: GossipMonitorComponents
  private readonly init: Required<GossipMonitorInit>
  private readonly log: Logger
  private readonly topic: string
  private readonly now: () => number
  private readonly store = new Map<string, ReceivedMetrics>()
  private readonly downListeners = new Set<(peer: string, last: ReceivedMetrics) => void>()
  private readonly upListeners = new Set<(metrics: ReceivedMetrics) => void>()
  // The validator and the 'message' event get the same Message object: decode once.
  private readonly decoded = new WeakMap<Message, PeerMetrics>()
  private readonly warned = new Set<string>()
  private readonly lastDial = new Map<string, number>()
  private readonly dialing = new Set<string>()
  private readonly timers: NodeJS.Timeout[] = []
  private readonly counters: GossipMonitorStats = { published: 0, received: 0, rejected: 0, untrusted: 0, sampleFailures: 0, discoveryDials: 0, checks: 0 }
  private stopController = new AbortController()
  private selfId = ''
  private started = false
  private inflight?: Promise<void>
  private pending?: Promise<void>
  private lastQueued = 0
  private sampleFailing = false
  private cleanup?: () => void

  constructor (components: GossipMonitorComponents, init: GossipMonitorInit) {
    this.c = components
    this.init = {
      intervalMs: init.intervalMs,
      ttlMs: init.ttlMs,
      tags: init.tags,
      checkIntervalMs: init.checkIntervalMs ?? Math.max(10, Math.floor(init.ttlMs / 4)),
      sampleTimeoutMs: init.sampleTimeoutMs ?? Math.max(10, Math.floor(init.ttlMs / 2)),
      discoveryCooldownMs: init.discoveryCooldownMs ?? 10_000,
      maxTtlMs: init.maxTtlMs ?? 3_600_000
    }
    this.log = components.logger
    this.topic = metricsTopic(components.clusterName)
    this.now = components.now ?? Date.now
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    this.stopController = new AbortController()
    const pubsub = this.c.libp2p.services.pubsub
    this.selfId = this.c.libp2p.peerId.toString()
    pubsub.topicValidators.set(this.topic, (_relay: PeerId, msg: Message) => this.validate(msg))
    const onMessage = (evt: CustomEvent<Message>): void => { this.onMessage(evt.detail) }
    pubsub.addEventListener('message', onMessage)
    this.cleanup = () => { pubsub.removeEventListener('message', onMessage) }
    pubsub.subscribe(this.topic)
    this.timers.push(setInterval(() => { void this.publishNow() }, this.init.intervalMs))
    this.timers.push(setInterval(() => { this.checkNow() }, this.init.checkIntervalMs))
    for (const t of this.timers) t.unref()
    // Not awaited: start() must not wait on Kubo; the first sample may take up to sampleTimeoutMs.
    void this.publishNow()
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    for (const t of this.timers.splice(0)) clearInterval(t)
    this.stopController.abort()
    this.cleanup?.()
    this.cleanup = undefined
    const pubsub = this.c.libp2p.services.pubsub
    pubsub.topicValidators.delete(this.topic)
    try { pubsub.unsubscribe(this.topic) } catch { /* libp2p may already be stopping */ }
    await Promise.allSettled([this.inflight, this.pending])
    this.store.clear()
    this.lastDial.clear()
  }

  alive (): ReceivedMetrics[] {
    const now = this.now()
    return [...this.store.values()].filter(m => this.isAlive(m, now)).sort((a, b) => a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0)
  }

  get (peer: string): ReceivedMetrics | undefined {
    const m = this.store.get(peer)
    return m !== undefined && this.isAlive(m, this.now()) ? m : undefined
  }

  onPeerDown (fn: (peer: string, last: ReceivedMetrics) => void): () => void {
    this.downListeners.add(fn)
    return () => { this.downListeners.delete(fn) }
  }

  onPeerUp (fn: (metrics: ReceivedMetrics) => void): () => void {
    this.upListeners.add(fn)
    return () => { this.upListeners.delete(fn) }
  }

  /** Samples and publishes now. Does nothing when not started; never throws. */
  async publishNow (): Promise<void> {
    if (!this.started) return
    if (this.pending !== undefined) { await this.pending; return }
    if (this.inflight !== undefined) {
      this.pending = this.inflight.then(async () => {
        this.pending = undefined
        if (this.started) await this.runPublish()
      })
      await this.pending
      return
    }
    await this.runPublish()
  }

  /** Fires `onPeerDown` for every peer whose metrics expired. Runs every `checkIntervalMs`; exposed for tests. */
  checkNow (): void {
    this.counters.checks++
    const now = this.now()
    for (const [peer, m] of this.store) {
      if (peer !== this.selfId && this.expired(m, now)) this.markDown(m)
    }
  }

  stats (): GossipMonitorStats { return { ...this.counters } }

  private runPublish (): Promise<void> {
    const run: Promise<void> = this.publishOnce()
      .catch((err: unknown) => { this.log.error({ err }, 'publishing metrics failed') })
      .finally(() => { if (this.inflight === run) this.inflight = undefined })
    this.inflight = run
    return run
  }

  private async publishOnce (): Promise<void> {
    const sample = await this.takeSample()
    if (!this.started) return
    const now = this.now()
    const metrics: PeerMetrics = {
      peer: this.selfId,
      peername: this.c.self.peername,
      addresses: this.c.self.addresses(),
      kubo: sample.kubo === undefined ? undefined : { id: sample.kubo.id, addresses: [...sample.kubo.addresses] },
      freeSpace: sample.freeSpace,
      queued: sample.queued,
      tags: { ...this.init.tags },
      sentAt: now,
      ttlMs: this.init.ttlMs
    }
    this.store.set(this.selfId, Object.freeze({ ...metrics, receivedAt: now, expiresAt: now + this.init.ttlMs }))
    try {
      const { recipients } = await this.c.libp2p.services.pubsub.publish(this.topic, encodeMetrics(metrics))
      this.counters.published++
      if (recipients.length === 0) this.log.debug('metrics published to no peer')
    } catch (err) {
      if (this.started) this.log.warn({ err }, 'publishing metrics failed')
    }
  }

  private async takeSample (): Promise<{ kubo?: { id: string, addresses: string[] }, freeSpace?: number, queued: number }> {
    const signal = withTimeout([this.stopController.signal], this.init.sampleTimeoutMs)
    try {
      const s = await raceAbort(Promise.resolve().then(async () => await this.c.sample({ signal })), signal)
      const queued = Number.isFinite(s.queued) && s.queued >= 0 ? Math.floor(s.queued) : 0
      this.lastQueued = queued
      if (this.sampleFailing) this.log.info('sampling metrics works again')
      this.sampleFailing = false
      return {
        kubo: s.kubo,
        // A full repo (RepoSize above StorageMax) reports as 0 free, not as a negative number receivers would reject.
        freeSpace: s.freeSpace !== undefined && Number.isFinite(s.freeSpace) ? Math.max(0, Math.floor(s.freeSpace)) : undefined,
        queued
      }
    } catch (err) {
      this.counters.sampleFailures++
      if (this.started && !this.sampleFailing) this.log.warn({ err }, 'sampling metrics failed; publishing them without Kubo figures')
      this.sampleFailing = true
      return { queued: this.lastQueued }
    } finally {
      signal.clear()
    }
  }

  /** Accepts signed, well-formed metrics whose `peer` is the signer and a trusted peer. */
  private validate (msg: Message): TopicValidatorResult {
    if (msg.type !== 'signed') {
      this.counters.rejected++
      return TopicValidatorResult.Reject
    }
    const from = msg.from.toString()
    let m: PeerMetrics
    try {
      m = decodeMetrics(msg.data)
    } catch (err) {
      this.counters.rejected++
      this.log.debug({ err, peer: from }, 'malformed metrics message')
      return TopicValidatorResult.Reject
    }
    if (m.peer !== from) {
      this.counters.rejected++
      this.warnOnce(`forged:${from}`, { peer: from, claimed: m.peer }, 'dropping metrics signed by a peer other than the one they describe')
      return TopicValidatorResult.Reject
    }
    if (!this.c.trust(from)) {
      this.counters.untrusted++
      this.warnOnce(`untrusted:${from}`, { peer: from }, 'ignoring metrics from an untrusted peer; it will not be allocated pins')
      // Ignore, not Reject: the relaying peer did nothing wrong and must not be penalised.
      return TopicValidatorResult.Ignore
    }
    this.decoded.set(msg, m)
    return TopicValidatorResult.Accept
  }

  private onMessage (msg: Message): void {
    if (msg.topic !== this.topic || msg.type !== 'signed' || !this.started) return
    const m = this.decoded.get(msg)
    if (m === undefined) return
    this.decoded.delete(msg)
    if (m.peer === this.selfId) return
    this.counters.received++
    const now = this.now()
    const previous = this.store.get(m.peer)
    if (previous !== undefined && this.expired(previous, now)) this.markDown(previous)
    const wasAlive = this.store.has(m.peer)
    const received: ReceivedMetrics = Object.freeze({ ...m, receivedAt: now, expiresAt: now + Math.min(m.ttlMs, this.init.maxTtlMs) })
    this.store.set(m.peer, received)
    if (!wasAlive) {
      this.log.info({ peer: m.peer, peername: m.peername }, 'peer is up')
      for (const fn of this.upListeners) this.callListener(() => { fn(received) })
    }
    this.discover(received, msg.from)
  }

  private markDown (m: ReceivedMetrics): void {
    this.store.delete(m.peer)
    this.lastDial.delete(m.peer)
    this.log.warn({ peer: m.peer, peername: m.peername }, 'peer metrics expired')
    for (const fn of this.downListeners) this.callListener(() => { fn(m.peer, m) })
  }

  /** Dials a peer we hear of but are not connected to, trying its addresses in the order it gave them. */
  private discover (m: ReceivedMetrics, peerId: PeerId): void {
    const connect = this.c.connect
    if (connect === undefined || this.dialing.has(m.peer)) return
    if (this.c.libp2p.getConnections(peerId).length > 0) return
    const now = this.now()
    const last = this.lastDial.get(m.peer)
    if (last !== undefined && now - last < this.init.discoveryCooldownMs) return
    // Only addresses that name the peer itself: a peer cannot make us dial somebody else.
    const addresses = m.addresses.filter(a => a.endsWith(`/p2p/${m.peer}`))
    if (addresses.length === 0) return
    this.lastDial.set(m.peer, now)
    this.dialing.add(m.peer)
    this.counters.discoveryDials++
    const signal = this.stopController.signal
    void (async () => {
      let lastErr: unknown
      for (const address of addresses) {
        if (signal.aborted) return
        try {
          await connect(address, { signal })
          this.log.info({ peer: m.peer, address }, 'connected to a peer learnt from its metrics')
          return
        } catch (err) { lastErr = err }
      }
      if (!signal.aborted) this.log.debug({ err: lastErr, peer: m.peer }, 'could not connect to a peer learnt from its metrics')
    })().finally(() => { this.dialing.delete(m.peer) })
  }

  // This peer is alive while started, even if its last publish is older than the TTL (a slow sample, a stalled event loop).
  private isAlive (m: ReceivedMetrics, now: number): boolean {
    return !this.expired(m, now) || (m.peer === this.selfId && this.started)
  }

  private expired (m: ReceivedMetrics, now: number): boolean {
    return metricsExpired(m.expiresAt, now, this.c.stalls?.stallSince(m.receivedAt) ?? 0)
  }

  private callListener (fn: () => void): void {
    try { fn() } catch (err) { this.log.error({ err }, 'a peer up/down listener threw') }
  }

  private warnOnce (key: string, fields: Record<string, unknown>, message: string): void {
    if (this.warned.has(key)) return
    this.warned.add(key)
    this.log.warn(fields, message)
  }
}

/** Settles with `p`, or rejects with the signal's reason as soon as it aborts. */
async function raceAbort<T> (p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {})
    throw signal.reason
  }
  return await new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort) })
  })
}
