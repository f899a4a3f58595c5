import type { PinMode, PinRecord } from '../types.js'

/** What a client asks for when pinning. Unset fields take the cluster's defaults. */
export interface PinRequest {
  cid: string
  name?: string
  mode?: PinMode
  replicationMin?: number
  replicationMax?: number
  metadata?: Record<string, string>
  /** Unix ms. */
  expireAt?: number
}

/** A peer of the cluster as this peer sees it. */
export interface ClusterPeer {
  id: string
  addresses: string[]
  connected: boolean
  /** Unix ms of the last time this peer was seen connected; undefined if never. */
  lastSeen?: number
}

/** This peer's identity. */
export interface ClusterIdentity {
  id: string
  peername: string
  clusterName: string
  addresses: string[]
  version: string
  trusted: boolean
}

/**
 * The cluster as the proxy and admin API use it: the one writer of the pinset.
 * Throws InvalidCidError for a malformed CID, NotFoundError for an unpin of an unknown CID.
 */
export interface Cluster {
  identity (): ClusterIdentity
  peers (): ClusterPeer[]
  pin (request: PinRequest, options?: { signal?: AbortSignal }): Promise<PinRecord>
  /** Pins many CIDs at once, sharing writes and fsyncs. */
  pinMany (requests: readonly PinRequest[], options?: { signal?: AbortSignal }): Promise<PinRecord[]>
  unpin (cid: string, options?: { signal?: AbortSignal }): Promise<PinRecord>
  /** Unpins many; CIDs not in the pinset are skipped. Returns how many were removed. */
  unpinMany (cids: readonly string[], options?: { signal?: AbortSignal }): Promise<number>
  get (cid: string): PinRecord | undefined
  pins (): IterableIterator<PinRecord>
  /** Pinset figures: pins, internal elements, bytes on disk, replication traffic. */
  pinsetStats (): Record<string, number>
}
