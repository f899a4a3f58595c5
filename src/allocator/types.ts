/** One peer as the allocator sees it: its latest valid metrics. */
export interface AllocationCandidate {
  peer: string
  /**
   * Free space in bytes (from Kubo's repo/stat: StorageMax - RepoSize). Undefined when the
   * peer's Kubo did not answer (as in `PeerMetrics.freeSpace`); it then counts as 0.
   */
  freeSpace?: number
  /** Pins waiting in the peer's tracker queue. */
  queued: number
  /** Tags from the peer's config, e.g. { region: 'eu', zone: 'a' }. */
  tags: Readonly<Record<string, string>>
}

export interface AllocationRequest {
  /** Peers already holding (or allocated) the pin that are still alive. */
  current: readonly string[]
  /** Peers the user asked for (`user-allocations`), tried first. */
  priority: readonly string[]
  /** Peers that must not be chosen (e.g. the one that just went down). */
  blacklist: readonly string[]
  /** Least number of holders. -1 with max -1: every candidate. */
  min: number
  /** Most holders. */
  max: number
  /** Live peers with metrics. */
  candidates: readonly AllocationCandidate[]
}

/**
 * Chooses which peers hold a pin. Pure: data in, decision out. Throws InsufficientPeersError
 * when fewer than `min` peers (current + candidates) are available, InvalidParametersError for
 * an impossible min/max.
 */
export interface Allocator {
  allocate (request: AllocationRequest): string[]
}
