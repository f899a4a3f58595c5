import type { Logger } from '../logger.js'
import { redialDelay, type BackoffRange } from './backoff.js'

/** Dials one peer; rejects when it cannot be reached. Must honour `signal`. */
export type DialPeer = (id: string, signal: AbortSignal) => Promise<void>

interface PeerState {
  attempt: number
  timer?: NodeJS.Timeout
  dialing: boolean
  connectedAt?: number
}

// A connection that lasted less than this counts as a failed attempt, so a peer that accepts and then drops us
// (e.g. a connection gater) is redialled with a growing backoff instead of every redialMinMs.
const STABLE_CONNECTION_MS = 10_000

/**
 * Keeps known peers connected: dials them, and after a failure or a disconnect dials again after
 * `redialDelay(attempt)`, forever, until `stop()`. One timer and at most one dial per peer at a time.
 */
export class Redialer {
  private readonly states = new Map<string, PeerState>()
  private readonly dial: DialPeer
  private readonly range: BackoffRange
  private readonly log: Logger
  private running = false
  private controller = new AbortController()

  constructor (dial: DialPeer, range: BackoffRange, log: Logger) {
    this.dial = dial
    this.range = range
    this.log = log
  }

  start (): void {
    if (this.running) return
    this.running = true
    this.controller = new AbortController()
  }

  /** Cancels every timer and in-flight dial; nothing is scheduled until `start()` again. */
  stop (): void {
    this.running = false
    this.controller.abort()
    for (const s of this.states.values()) clearTimeout(s.timer)
    this.states.clear()
  }

  /** Dials `id` now unless connected or already being dialled; on failure, retries with backoff. */
  dialNow (id: string): void {
    const s = this.state(id)
    clearTimeout(s.timer)
    s.timer = undefined
    void this.attempt(id, s)
  }

  /** The peer is connected (either side dialled): stop redialling it. */
  connected (id: string, now = Date.now()): void {
    const s = this.state(id)
    clearTimeout(s.timer)
    s.timer = undefined
    s.connectedAt = now
  }

  /** The last connection to the peer closed: redial it after the backoff. */
  disconnected (id: string, now = Date.now()): void {
    const s = this.state(id)
    const lived = s.connectedAt === undefined ? 0 : now - s.connectedAt
    s.connectedAt = undefined
    s.attempt = lived >= STABLE_CONNECTION_MS ? 0 : s.attempt + 1
    this.schedule(id, s)
  }

  private state (id: string): PeerState {
    let s = this.states.get(id)
    if (s === undefined) {
      s = { attempt: 0, dialing: false }
      this.states.set(id, s)
    }
    return s
  }

  private schedule (id: string, s: PeerState): void {
    if (!this.running || s.timer !== undefined || s.dialing || s.connectedAt !== undefined) return
    const delayMs = redialDelay(s.attempt, this.range)
    this.log.debug({ peer: id, attempt: s.attempt, delayMs }, 'redial scheduled')
    s.timer = setTimeout(() => { s.timer = undefined; void this.attempt(id, s) }, delayMs)
    s.timer.unref()
  }

  private async attempt (id: string, s: PeerState): Promise<void> {
    if (!this.running || s.dialing || s.connectedAt !== undefined) return
    s.dialing = true
    const signal = this.controller.signal
    try {
      await this.dial(id, signal)
    } catch (err) {
      if (signal.aborted) return
      this.log.debug({ err, peer: id, attempt: s.attempt }, 'dial failed, will retry')
    } finally {
      s.dialing = false
    }
    // Failed, or reached but already dropped again: either way, try again later, and later each time.
    if (this.states.get(id) === s && s.connectedAt === undefined) {
      s.attempt++
      this.schedule(id, s)
    }
  }
}
