import type { PinMode, PinRecord } from '../types.js'
import type { PinInfo } from '../tracker/index.js'
import type { PinPage } from '../pinset/index.js'

/** What a client asks for when pinning. Unset fields take the cluster's defaults. */
export interface PinRequest {
  /** A CID, or (through the proxy) an IPFS path already resolved to one. */
  cid: string
  name?: string
  mode?: PinMode
  replicationMin?: number
  replicationMax?: number
  metadata?: Record<string, string>
  /** Unix ms. */
  expireAt?: number
  /** Peers to allocate to first (`user-allocations`). */
  userAllocations?: string[]
  /** Allocations decided already (an add's destinations): used as they are. */
  allocations?: string[]
}

/** An upload through the cluster: `add` or `dag/import` fanned out, or `block/put`/`dag/put` with pin=true. */
export interface UploadRequest {
  command: 'add' | 'dag/import' | 'block/put' | 'dag/put'
  /** Kubo's query string as the client sent it. */
  query: string
  contentType: string
  body: AsyncIterable<Uint8Array>
  signal?: AbortSignal
}

export type { FanoutOutput as UploadOutput, FanoutResult as UploadResult } from '../adder/index.js'

/** The `type` of Kubo's `pin/ls`. */
export type PinLsType = 'recursive' | 'direct' | 'indirect' | 'all'

/** One pin as `pin/ls` reports it; `via` is the recursive pin an indirect one is held through (when known). */
export interface ListedPin {
  cid: string
  type: 'recursive' | 'direct' | 'indirect'
  /** The pin's name ('' for indirect pins and unnamed ones). */
  name: string
  via?: string
}

/**
 * Pins of this peer's Kubo to bring into the cluster pinset, with the cluster options they get
 * (the defaults where unset). Each keeps its Kubo name and mode.
 */
export interface AdoptRequest extends Omit<PinRequest, 'cid' | 'name' | 'mode' | 'allocations'> {
  /** The CIDs to adopt; undefined adopts every recursive and direct pin of this Kubo not in the pinset. */
  cids?: string[]
}

/** What an adoption did. */
export interface AdoptResult {
  /** The new cluster pins. */
  adopted: PinRecord[]
  /** Pins that were in the cluster pinset already (left as they are). */
  inPinset: string[]
}

/** A peer of the cluster as this peer sees it. */
export interface ClusterPeer {
  id: string
  peername?: string
  addresses: string[]
  connected: boolean
  /** Unix ms of the last time this peer was seen connected; undefined if never. */
  lastSeen?: number
  /** Whether its metrics are current (it is up and part of allocation). */
  alive?: boolean
  kubo?: { id: string, addresses: string[] }
  freeSpace?: number
  queued?: number
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

/** One pin across the cluster: the pinset's record and every relevant peer's status. */
export interface GlobalPinInfo {
  cid: string
  name: string
  allocations: string[]
  replicationMin: number
  replicationMax: number
  /** Peer id → that peer's status (allocated peers asked; others `remote`; unreachable `cluster_error`). */
  peerMap: Record<string, PinInfo>
}

/** One page of the cluster-wide status. */
export interface GlobalPinPage {
  readonly pins: GlobalPinInfo[]
  /** The cursor of the next page; undefined on the last page. */
  readonly next?: string
}

/** Kubo's repo/stat, summed over the cluster's Kubos. */
export interface ClusterRepoStat {
  repoSize: number
  storageMax: number
  numObjects: number
  /** This peer's Kubo's repo path and version (with `sizeOnly: false`). */
  repoPath: string
  version: string
  peers: number
  errors: string[]
}

/**
 * The cluster as the proxy and admin API use it: the one writer of the pinset.
 * Throws InvalidCidError for a malformed CID, NotFoundError for an unpin of an unknown CID,
 * InsufficientPeersError when fewer peers are available than a pin's replicationMin.
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
  /** Pins `to` with `from`'s options and allocations; removes `from` when `unpin`. */
  update (from: string, to: string, options?: { unpin?: boolean, signal?: AbortSignal }): Promise<PinRecord>
  get (cid: string): PinRecord | undefined
  /** Every pin of the pinset, a batch (a shard) at a time, yielding to the event loop in between (PinSetReader.scan). */
  pins (options?: { signal?: AbortSignal }): AsyncIterable<readonly PinRecord[]>
  /**
   * Up to `limit` pins after `cursor`, in a stable order (PinSetReader.page). Rejects with an
   * InvalidParametersError on a cursor the pinset did not make.
   */
  pinPage (options: { cursor?: string, limit: number, signal?: AbortSignal }): Promise<PinPage>
  /** Where one pin stands on every peer. */
  status (cid: string, options?: { signal?: AbortSignal }): Promise<GlobalPinInfo>
  /**
   * Where every pin stands on every peer, streamed: each live peer is asked about a bounded batch
   * of CIDs at a time (`tracker.statusMany`), never for all its pins in one answer.
   */
  statusAll (options?: { signal?: AbortSignal }): AsyncIterable<GlobalPinInfo>
  /**
   * Where the pins of one page of the pinset (see pinPage) stand on every peer: one call per live
   * peer for those CIDs. A page without `cursor` has every peer list its Kubo's pins anew (see
   * PinTracker.statusMany for how often). Rejects
   * with an InvalidParametersError on a bad cursor or a limit outside 1..10000.
   */
  statusPage (options: { cursor?: string, limit: number, signal?: AbortSignal }): Promise<GlobalPinPage>
  /**
   * Resolves once `cid` is pinned on as many allocated peers as it needs (replicationMin, or
   * every allocated peer), calling `onProgress` with Kubo's fetch progress meanwhile (see
   * pinProgress: this peer's Kubo when it is allocated) and, if known, with the final count before
   * it resolves. Rejects when that can no longer happen (enough peers report pin_error).
   */
  waitPinned (cid: string, options?: { signal?: AbortSignal, onProgress?: (nodes: number, bytes: number) => void }): Promise<GlobalPinInfo>
  /** Retries a failing or missing pin on every peer. */
  recover (cid: string, options?: { signal?: AbortSignal }): Promise<GlobalPinInfo>
  /** Runs a recover pass on every peer; resolves with operations queued per peer. */
  recoverAll (options?: { signal?: AbortSignal }): Promise<Record<string, number | string>>
  /**
   * Resolves a CID or IPFS path to the root CID with the local Kubo. `strict` reads it exactly as
   * Kubo reads a path argument, failing with Kubo's own error (`invalid path "<arg>": …`).
   */
  resolve (path: string, options?: { signal?: AbortSignal, strict?: boolean }): Promise<string>
  /**
   * Kubo's `pin/ls` for the cluster, streamed in Kubo's order (recursive, direct, indirect): the
   * cluster pins, this peer's Kubo pins that are not in the pinset, and (types `all` and
   * `indirect`) every CID below one of those recursive pins that is not pinned itself. Listing
   * indirect pins walks every DAG, on this Kubo and, for cluster pins it does not hold, on a peer
   * that does.
   */
  listPins (options: { type: PinLsType, signal?: AbortSignal }): AsyncIterable<ListedPin>
  /**
   * Kubo's `pin/ls <cid>…` for the cluster: for each CID (in order), how it is pinned as `type`
   * asks, or undefined. Indirect pins name the recursive pin they are held through.
   */
  checkPins (cids: readonly string[], options: { type: PinLsType, signal?: AbortSignal }): Promise<Array<ListedPin | undefined>>
  /**
   * Brings pins of this peer's Kubo into the cluster pinset with their Kubo name and mode,
   * allocated to this peer (and others as the replication options ask), so nothing is unpinned or
   * fetched again here. Throws InvalidParametersError for a CID this Kubo does not pin recursively
   * or directly, InsufficientPeersError as `pin` does.
   */
  adopt (request: AdoptRequest, options?: { signal?: AbortSignal }): Promise<AdoptResult>
  repoStat (options?: { signal?: AbortSignal, sizeOnly?: boolean }): Promise<ClusterRepoStat>
  /** Runs repo/gc on every peer's Kubo. */
  repoGc (options?: { signal?: AbortSignal }): AsyncIterable<{ peer: string, cid?: string, error?: string }>
  /**
   * Streams an upload into the allocated peers' Kubos at once (`add`, `dag/import`; the local
   * Kubo only for `block/put`/`dag/put`), relays Kubo's answer to `out`, then records the
   * cluster pins Kubo's own pin option asked for, with those allocations. Throws before `out.head`
   * for allocation errors; after it, for too few completed destinations or disagreeing CIDs.
   */
  upload (request: UploadRequest, out: import('../adder/index.js').FanoutOutput): Promise<{ pins: PinRecord[], result: import('../adder/index.js').FanoutResult }>
  /** Pinset figures: pins, internal elements, bytes on disk, replication traffic. */
  pinsetStats (): Record<string, number>
}
