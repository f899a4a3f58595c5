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
 * while its metrics are unexpired. `onPeerDown` fires once when a peer's metrics expire;
 * `onPeerUp` when metrics arrive from a peer that was not alive.
 */
export interface Monitor extends Startable {
  /** Latest unexpired metrics per peer, this peer included. */
  alive (): ReceivedMetrics[]
  get (peer: string): ReceivedMetrics | undefined
  onPeerDown (fn: (peer: string) => void): () => void
  onPeerUp (fn: (metrics: ReceivedMetrics) => void): () => void
  /** Publishes now (e.g. after a big change in queue length). */
  publishNow (): Promise<void>
}
