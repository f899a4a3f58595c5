import type { AbortOptions } from '@libp2p/interface'
import type { Logger } from '../logger.js'
import type { Monitor, PeerLossDetector, ReceivedMetrics } from './types.js'
import type { StallClock } from './loop-lag.js'
import { peerLiveness, type LivenessPolicy, type Probe } from './liveness.js'
import { withTimeout } from '../utils/signals.js'

export interface PingLossDetectorComponents {
  /** Whose metrics expire (`onPeerDown`) and come back (`onPeerUp`). */
  monitor: Pick<Monitor, 'onPeerDown' | 'onPeerUp'>
  /**
   * Checks that a peer answers over libp2p (a ping, dialling it if no connection is open). Resolves
   * when it answered; rejects otherwise, and as soon as `signal` aborts.
   */
  probe: (peer: string, options: AbortOptions) => Promise<void>
  /** Whether a libp2p connection to the peer is open now. */
  connected: (peer: string) => boolean
  /** This process's event-loop stalls (a `LoopLag`, started before this detector). */
  stalls: StallClock
  logger: Logger
  /** The clock. @default Date.now */
  now?: () => number
}

export interface PingLossDetectorInit {
  /** The metrics TTL; the defaults below derive from it. */
  ttlMs: number
  /** One probe is abandoned (a `timeout`) after this long. @default ttlMs / 4, within 100 ms … 5 s */
  probeTimeoutMs?: number
  /** A new probe starts this long after the previous one started (or when it ends, if later). @default probeTimeoutMs / 2 */
  probeIntervalMs?: number
  /** See `LivenessPolicy.failedProbes`. @default 2 */
  failedProbes?: number
  /** See `LivenessPolicy.windowMs`. @default ttlMs / 2 */
  windowMs?: number
  /** See `LivenessPolicy.maxStallMs`. @default probeTimeoutMs / 2 */
  maxStallMs?: number
}

/** Counters for tests and diagnostics. */
export interface PingLossDetectorStats {
  probes: number
  failedProbes: number
  /** Peers declared gone. */
  gone: number
  /** Peers whose metrics expired but that answered a ping (slow, not gone). */
  late: number
}

/**
 * A `PeerLossDetector` that pings each peer whose metrics expired, until its metrics come back or
 * `peerLiveness` says it is gone (then `onPeerGone` fires once, and the peer is not probed again
 * until its metrics come back and expire again). Probes of one peer never overlap.
 */
export class PingLossDetector implements PeerLossDetector {
  private readonly c: PingLossDetectorComponents
  private readonly policy: LivenessPolicy
  private readonly timeoutMs: number
  private readonly intervalMs: number
  private readonly log: Logger
  private readonly now: () => number
  private readonly goneListeners = new Set<(peer: string) => void>()
  private readonly watching = new Map<string, AbortController>()
  private readonly running = new Set<Promise<void>>()
  private readonly counters: PingLossDetectorStats = { probes: 0, failedProbes: 0, gone: 0, late: 0 }
  private cleanups: Array<() => void> = []
  private started = false

  constructor (components: PingLossDetectorComponents, init: PingLossDetectorInit) {
    this.c = components
    this.timeoutMs = init.probeTimeoutMs ?? Math.min(5000, Math.max(100, Math.floor(init.ttlMs / 4)))
    this.intervalMs = init.probeIntervalMs ?? Math.max(10, Math.floor(this.timeoutMs / 2))
    this.policy = {
      failedProbes: init.failedProbes ?? 2,
      windowMs: init.windowMs ?? Math.floor(init.ttlMs / 2),
      maxStallMs: init.maxStallMs ?? Math.floor(this.timeoutMs / 2)
    }
    this.log = components.logger
    this.now = components.now ?? Date.now
  }

  start (): void {
    if (this.started) return
    this.started = true
    this.cleanups = [
      this.c.monitor.onPeerDown((peer, last) => { this.watch(peer, last) }),
      this.c.monitor.onPeerUp((m) => { this.unwatch(m.peer) })
    ]
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    for (const fn of this.cleanups.splice(0)) fn()
    for (const peer of [...this.watching.keys()]) this.unwatch(peer)
    await Promise.allSettled([...this.running])
  }

  onPeerGone (fn: (peer: string) => void): () => void {
    this.goneListeners.add(fn)
    return () => { this.goneListeners.delete(fn) }
  }

  /** Peers being probed now (metrics expired, not gone yet). */
  suspects (): string[] { return [...this.watching.keys()].sort() }

  stats (): PingLossDetectorStats { return { ...this.counters } }

  private watch (peer: string, last: ReceivedMetrics): void {
    if (!this.started) return
    this.unwatch(peer)
    const controller = new AbortController()
    this.watching.set(peer, controller)
    const run: Promise<void> = this.probeUntilDecided(peer, last, controller.signal)
      .catch((err: unknown) => { this.log.error({ err, peer }, 'probing a peer whose metrics expired failed') })
      .finally(() => {
        this.running.delete(run)
        if (this.watching.get(peer) === controller) this.watching.delete(peer)
      })
    this.running.add(run)
  }

  private unwatch (peer: string): void {
    this.watching.get(peer)?.abort()
    this.watching.delete(peer)
  }

  private async probeUntilDecided (peer: string, last: ReceivedMetrics, signal: AbortSignal): Promise<void> {
    const probes: Probe[] = []
    let reportedLate = false
    while (!signal.aborted) {
      const at = this.now()
      const result = await this.probeOnce(peer, signal)
      if (signal.aborted) return
      const now = this.now()
      probes.push({ at, result, stallMs: this.c.stalls.stallSince(at) })
      // Only the latest streak matters to the policy; keep the list short.
      if (probes.length > 64) probes.splice(0, probes.length - 64)
      this.counters.probes++
      if (result !== 'ok') this.counters.failedProbes++
      const verdict = peerLiveness({ now, expiresAt: last.expiresAt, stallMs: this.c.stalls.stallSince(last.receivedAt), probes }, this.policy)
      if (verdict === 'gone') {
        this.counters.gone++
        this.log.warn({ peer, peername: last.peername, probes: probes.length, lastProbe: result }, 'peer is gone: metrics expired and it does not answer pings')
        for (const fn of this.goneListeners) {
          try { fn(peer) } catch (err) { this.log.error({ err }, 'a peer-gone listener threw') }
        }
        return
      }
      if (result === 'ok' && !reportedLate) {
        reportedLate = true
        this.counters.late++
        this.log.info({ peer, peername: last.peername }, 'peer metrics are late but it answers pings: slow, not gone')
      }
      await sleep(Math.max(0, at + this.intervalMs - this.now()), signal)
    }
  }

  private async probeOnce (peer: string, signal: AbortSignal): Promise<Probe['result']> {
    const started = this.now()
    const timeout = withTimeout([signal], this.timeoutMs)
    try {
      await this.c.probe(peer, { signal: timeout })
      return 'ok'
    } catch {
      if (timeout.aborted || this.now() - started >= this.timeoutMs / 2) return 'timeout'
      // Failed fast with no connection left: the dial was refused or reset, nothing listens there. A
      // fast failure on an open connection (a stream limit, a reset stream) proves nothing more
      // than a timeout does.
      return this.c.connected(peer) ? 'timeout' : 'error'
    } finally {
      timeout.clear()
    }
  }
}

async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>((resolve) => {
    const onAbort = (): void => { clearTimeout(t); resolve() }
    const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve() }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
