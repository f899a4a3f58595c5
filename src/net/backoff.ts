/** Bounds of the redial backoff, in ms. */
export interface BackoffRange { minMs: number, maxMs: number }

/**
 * Wait before redial number `attempt` (0-based): `minMs · 2^attempt`, capped at `maxMs`, times a jitter factor in
 * [0.8, 1.2) so peers that lost each other at the same moment do not redial in lockstep; never above `maxMs`.
 * `random` returns a number in [0, 1).
 */
export function redialDelay (attempt: number, range: BackoffRange, random: () => number = Math.random): number {
  const base = Math.min(range.maxMs, range.minMs * 2 ** Math.min(attempt, 52))
  return Math.round(Math.min(range.maxMs, base * (0.8 + 0.4 * random())))
}
