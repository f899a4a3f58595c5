import { anySignal, type ClearableSignal } from 'any-signal'

export type { ClearableSignal }

/**
 * `parents` combined with a timeout of `ms` (none when undefined). Call `clear()` once the work is
 * done, so long-lived parents do not keep a listener per call.
 *
 * Why not `AbortSignal.any([parent, AbortSignal.timeout(ms)])`: on Node 20 and 24 the combined
 * signal holds its sources weakly, so a timeout signal that nothing else listens to can be
 * garbage-collected before it fires, and the deadline never comes (see the unit test). any-signal
 * listens on every source, which keeps the timeout alive until it fires or is cleared.
 */
export function withTimeout (parents: ReadonlyArray<AbortSignal | undefined>, ms: number | undefined): ClearableSignal {
  return anySignal(ms === undefined ? [...parents] : [...parents, AbortSignal.timeout(ms)])
}

/** Whether `signal` was aborted by a timeout (AbortSignal.timeout's reason) rather than by a caller. */
export function abortedByTimeout (signal: AbortSignal): boolean {
  return signal.aborted && (signal.reason as Error | undefined)?.name === 'TimeoutError'
}
