/**
 * When a peer counts as gone, as pure functions of what this peer observed (no clock, no I/O).
 *
 * A slow peer is not a dead one. Late metrics alone prove little: under CPU load the sender may
 * publish late, and this peer's own timers may fire before it has read the metrics waiting in its
 * sockets (after a stall, Node runs due timers before pending I/O). So a peer is gone only when
 * its metrics are past their TTL, extended by this peer's own stalls, AND it stopped answering
 * libp2p pings: a ping answered means reachable, and a SIGSTOPped peer, whose TCP connection the
 * kernel keeps open, is caught by pings timing out.
 */

/** One liveness probe (a libp2p ping, dialling if no connection is open) of a peer whose metrics are late. */
export interface Probe {
  /** When the probe started, by this peer's clock (ms). */
  at: number
  /**
   * `ok`: the peer answered. `timeout`: no answer within the probe timeout (the peer may be stopped,
   * or merely slow). `error`: failed before the timeout (connection refused or reset: nothing answers
   * at the peer's addresses, which load alone does not cause).
   */
  result: 'ok' | 'timeout' | 'error'
  /** The longest stall of this peer's own event loop while the probe ran (ms). */
  stallMs: number
}

export interface LivenessPolicy {
  /** Failed probes in a row, since the last answered one, that make a peer gone. */
  failedProbes: number
  /** Timed-out probes make a peer gone only when the failures span at least this long (from the first one's start). */
  windowMs: number
  /**
   * A failed probe during which this peer's own event loop stalled this long or more does not count:
   * its timeout may have fired before the answer, already in the socket, was read.
   */
  maxStallMs: number
}

/** What this peer knows about another peer whose liveness is in question. */
export interface LivenessFacts {
  /** This peer's clock (ms). */
  now: number
  /** When the peer's latest metrics expire by their TTL (receipt + TTL). */
  expiresAt: number
  /** The longest stall of this peer's own event loop since those metrics were received (ms). */
  stallMs: number
  /** Probes made since the metrics expired, oldest first. */
  probes: readonly Probe[]
}

/** `alive`: metrics current. `late`: metrics expired, but the peer answers or was not proven unreachable yet. `gone`: both. */
export type Liveness = 'alive' | 'late' | 'gone'

/**
 * Whether metrics that expire at `expiresAt` are expired at `now`. The TTL is extended by `stallMs`,
 * how long this peer's own event loop stalled since they arrived: while it stood still it could not
 * read newer metrics, so it has no evidence that the sender went quiet.
 */
export function metricsExpired (expiresAt: number, now: number, stallMs: number): boolean {
  return now >= expiresAt + Math.max(0, stallMs)
}

/** The liveness of a peer (see the module comment for the reasoning). */
export function peerLiveness (f: LivenessFacts, p: LivenessPolicy): Liveness {
  if (!metricsExpired(f.expiresAt, f.now, f.stallMs)) return 'alive'
  let failures: Probe[] = []
  for (const probe of f.probes) {
    if (probe.result === 'ok') failures = []
    else if (probe.stallMs < p.maxStallMs) failures.push(probe)
  }
  const needed = Math.max(1, p.failedProbes)
  if (failures.length < needed) return 'late'
  // Refused or reset, several times in a row: nothing listens there any more (killed, crashed).
  if (failures.slice(-needed).every(x => x.result === 'error')) return 'gone'
  // Timeouts may be a slow peer: they must go on for a while.
  return f.now - (failures[0] as Probe).at >= p.windowMs ? 'gone' : 'late'
}
