import type { Startable } from '../lifecycle.js'

/** What every peer publishes about itself, periodically, on the cluster's metrics topic. */
export interface PeerMetrics {
  /** The publishing pinmesh peer id (checked against the gossip signer). */
  peer: string
  peername: string
  /** pinmesh swarm addresses (with /p2p/), so peers that learn of each other can connect. */
  addresses: string[]
  /** The peer's Kubo: id and swarm addresses (with /p2p/), for `swarm/connect` between Kubos. */
  kubo: { id: string, addresses: string[] } | undefined
  /** Free space in bytes; undefined when the peer's Kubo did not answer repo/stat. */
  freeSpace: number | undefined
  /** Pins waiting in the peer's tracker queue. */
  queued: number
  tags: Record<string, string>
  /** Sender's clock (ms) when published. */
  sentAt: number
  /** How long (ms) after receipt the metrics count as valid. */
  ttlMs: number
}

/** A peer's metrics as received, with when they expire locally. */
export interface ReceivedMetrics extends PeerMetrics { receivedAt: number, expiresAt: number }

/**
 * Publishes this peer's metrics and keeps the latest metrics of every peer. A peer is alive
 * while its metrics are unexpired. `onPeerDown` fires once when a peer's metrics expire, with
 * those last metrics; `onPeerUp` when metrics arrive from a peer that was not alive. Expired
 * metrics make a peer late, not gone: see `PeerLossDetector`.
 */
export interface Monitor extends Startable {
  /** Latest unexpired metrics per peer, this peer included. */
  alive (): ReceivedMetrics[]
  get (peer: string): ReceivedMetrics | undefined
  onPeerDown (fn: (peer: string, last: ReceivedMetrics) => void): () => void
  onPeerUp (fn: (metrics: ReceivedMetrics) => void): () => void
  /** Publishes now (e.g. after a big change in queue length). */
  publishNow (): Promise<void>
}

/**
 * Decides which peers are really gone (for re-allocating their pins), as opposed to slow: a peer
 * whose metrics expired is gone only once it also stops answering over libp2p (see
 * `peerLiveness` in `liveness.ts`). A SIGSTOPped or killed peer is gone; a peer starved of CPU,
 * whose metrics arrive late, is not.
 */
export interface PeerLossDetector extends Startable {
  /**
   * `fn` is called once per loss: when a peer whose metrics expired is found gone. The peer's
   * metrics must come back and expire again before it is called again for that peer.
   */
  onPeerGone (fn: (peer: string) => void): () => void
}
