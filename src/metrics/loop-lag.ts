import type { Startable } from '../lifecycle.js'

/** How long this process's event loop stood still, as seen by timers firing late. */
export interface StallClock {
  /**
   * The longest stall of the event loop (a timer firing late) within the time from `since` (this
   * peer's clock) to now, counting only the part after `since`, and including a stall going on now
   * (a timer overdue). 0 when the loop kept up.
   */
  stallSince (since: number): number
}

export interface LoopLagInit {
  /** How often the timer is due. @default 100 */
  tickMs?: number
  /** Stalls older than this are forgotten. @default 600000 */
  keepMs?: number
}

/**
 * Measures event-loop stalls with a repeating timer: a timer due every `tickMs` that fires `d` ms
 * late means the loop (or the whole process: CPU starvation, SIGSTOP, a long GC) stood still for
 * about `d` ms. Only stalls of at least `tickMs` are kept.
 */
export class LoopLag implements StallClock, Startable {
  private readonly tickMs: number
  private readonly keepMs: number
  private readonly now: () => number
  /** Stalls, oldest first: when each began and ended. */
  private readonly stalls: Stall[] = []
  private timer?: NodeJS.Timeout
  private last = 0

  constructor (init: LoopLagInit = {}, now: () => number = Date.now) {
    this.tickMs = init.tickMs ?? 100
    this.keepMs = init.keepMs ?? 600_000
    this.now = now
  }

  start (): void {
    if (this.timer !== undefined) return
    this.last = this.now()
    this.timer = setInterval(() => { this.tick() }, this.tickMs)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
    this.stalls.length = 0
  }

  stallSince (since: number): number {
    let max = 0
    for (let i = this.stalls.length - 1; i >= 0; i--) {
      const s = this.stalls[i] as Stall
      if (s.end <= since) break
      max = Math.max(max, s.end - Math.max(s.start, since))
    }
    // A stall going on now: the timer is overdue but has not run yet (other due timers ran first).
    if (this.timer !== undefined) max = Math.max(max, this.now() - Math.max(this.last + this.tickMs, since))
    return max
  }

  /** Records how late this tick came. Exposed for tests. */
  tick (): void {
    const now = this.now()
    const late = now - this.last - this.tickMs
    this.last = now
    if (late >= this.tickMs) this.stalls.push({ start: now - late, end: now })
    while (this.stalls.length > 0 && (this.stalls[0] as Stall).end < now - this.keepMs) this.stalls.shift()
  }
}

interface Stall { start: number, end: number }
