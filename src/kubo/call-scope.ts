import { AbortError } from '../errors.js'

/**
 * The cancellation of one Kubo call: the caller's signal combined (AbortSignal.any) with a
 * deadline of the call's own. The deadline can be re-armed, which turns it into an idle timeout
 * for streams (pin/add progress, pin/ls lines).
 */
export class CallScope {
  /** Aborts when the caller aborts or the deadline passes; hand it to undici. */
  readonly signal: AbortSignal
  private readonly caller: AbortSignal | undefined
  private readonly own = new AbortController()
  private readonly timer: NodeJS.Timeout | undefined

  /** `ms` of 0 means no deadline; `onDeadline` makes the error the call fails with. */
  constructor (caller: AbortSignal | undefined, ms: number, onDeadline: () => Error) {
    this.caller = caller
    this.signal = caller === undefined ? this.own.signal : AbortSignal.any([caller, this.own.signal])
    if (ms > 0) {
      this.timer = setTimeout(() => { this.own.abort(onDeadline()) }, ms)
      // The request's socket keeps the process alive while it matters; the timer alone must not.
      this.timer.unref()
    }
  }

  /** Starts the deadline over (idle timeouts). */
  rearm (): void { this.timer?.refresh() }

  dispose (): void { clearTimeout(this.timer) }

  /** Throws the abort reason if the caller has aborted already. */
  throwIfAborted (): void {
    if (this.caller?.aborted === true) throw abortReason(this.caller)
  }

  /**
   * What the caller should see for `err`, thrown while the call ran: the caller's own abort
   * reason if it aborted, the deadline's error if that fired, else `err` itself.
   */
  explain (err: unknown): unknown {
    if (this.caller?.aborted === true) return abortReason(this.caller)
    if (this.own.signal.aborted) return this.own.signal.reason
    return err
  }
}

/** The reason a signal was aborted with, as an Error (an AbortError wrapping anything else). */
export function abortReason (signal: AbortSignal): Error {
  const reason: unknown = signal.reason
  return reason instanceof Error ? reason : new AbortError(undefined, { cause: reason })
}
