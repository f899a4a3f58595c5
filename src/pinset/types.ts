import type { PinRecord } from '../types.js'
import type { Startable } from '../lifecycle.js'
import type { EpochId } from './epoch.js'

export type { EpochId }

/** What a peer on a newer epoch sends one on an older epoch: the encoded package and its full state. */
export interface EpochOffer { pkg: Uint8Array, state: Uint8Array }

/** What changed in the pinset in one transaction, local or replicated. */
export interface PinSetChange {
  readonly added: readonly PinRecord[]
  readonly updated: ReadonlyArray<{ readonly before: PinRecord, readonly after: PinRecord }>
  readonly removed: readonly PinRecord[]
  /** True when this peer made the change, false when it came from another peer. */
  readonly local: boolean
}

/** One page of pins (see PinSetReader.page). */
export interface PinPage {
  readonly pins: readonly PinRecord[]
  /** Opaque cursor of the next page; undefined on the last page. */
  readonly next?: string
}

/** Read access to the cluster pinset, which every peer holds in full. */
export interface PinSetReader {
  get (cid: string): PinRecord | undefined
  has (cid: string): boolean
  readonly size: number
  /** Every pin, in no particular order, synchronously. Being replaced by `scan` (issue 12): it blocks on a big pinset. */
  list (): IterableIterator<PinRecord>
  /**
   * Every pin, a batch (a shard) at a time, yielding to the event loop between batches, so that a
   * walk of millions of pins neither holds them all in memory nor stalls the peer. Pins written
   * during the walk may or may not be seen. Rejects with the signal's reason when it aborts.
   */
  scan (options?: { signal?: AbortSignal }): AsyncIterable<readonly PinRecord[]>
  /**
   * Up to `limit` pins in a stable order (by shard, then by CID), starting after `cursor` (the
   * previous page's `next`). Rejects with an InvalidParametersError on a cursor it did not make.
   */
  page (options: { cursor?: string, limit: number, signal?: AbortSignal }): Promise<PinPage>
  /**
   * Calls `fn` after every change, local or remote (the tracker hangs on this). The pinset as
   * loaded from disk at start is not announced: list() it after start.
   */
  onChange (fn: (change: PinSetChange) => void): () => void
}

/** Write access. Only the cluster component writes. */
export interface PinSetWriter {
  /**
   * Adds or replaces pins. Resolves once the change is on this peer's disk (fsync'd), which is
   * when a client may be told it is done; replication to other peers follows. Rejects with a
   * PinsetWriteError when it cannot be made durable (a full disk); the change stays in memory and
   * is written once the disk takes writes again, so, like a timed-out request, it may take effect.
   */
  put (records: readonly PinRecord[], options?: { signal?: AbortSignal }): Promise<void>
  /** Removes pins; CIDs not in the pinset are ignored. Resolves once on disk. */
  remove (cids: readonly string[], options?: { signal?: AbortSignal }): Promise<void>
}

/** The replicated document as the sync layer sees it. */
export interface ReplicatedDoc {
  /** The current epoch (see epoch.ts). Updates and state vectors belong to one epoch. */
  epoch (): EpochId
  stateVector (): Uint8Array
  /** Everything the holder of `stateVector` lacks, as one Yjs update. */
  diff (stateVector: Uint8Array): Uint8Array
  /**
   * Applies updates of `epoch` received from `fromPeer` (already checked for trust) in one
   * transaction. Returns false, applying nothing, when `epoch` is not the current one.
   */
  applyRemote (updates: readonly Uint8Array[], fromPeer: string, epoch: EpochId): boolean
  /** True when applied updates wait for updates this peer has not seen yet. */
  hasMissingDependencies (): boolean
  /** Calls `fn` with each local update (and its epoch) once it is on disk, for broadcasting. */
  onLocalUpdate (fn: (update: Uint8Array, epoch: EpochId) => void): () => void
  /** The package and state that move a peer from the previous epoch here; undefined at epoch 0. */
  epochOffer (): EpochOffer | undefined
  /** Moves to a newer epoch offered by `fromPeer` (trusted), carrying this peer's changes across. */
  adoptEpoch (offer: EpochOffer, fromPeer: string): Promise<boolean>
  /** Live pins and tombstones, to decide on a rebuild. */
  compactionFigures (): { pins: number, tombstones: number }
  /** Rebuilds the document from live entries as a new epoch led by `leader` (this peer). */
  rebuild (leader: string): Promise<EpochId>
}

/** A shard's index, 0 ≤ shard < ShardedDoc.shards. A pin's shard is shardOf(cid, shards). */
export type ShardId = number

/** What a peer says of one shard in a sync summary. */
export interface ShardSummary {
  readonly epoch: EpochId
  /**
   * 16 bytes that are equal on two peers when their copies of the shard are the same document
   * (same epoch, same inserted and deleted elements). Computed without decoding a shard that has
   * not changed since its digest was taken.
   */
  readonly digest: Uint8Array
}

/**
 * The replicated pinset as the sync layer sees it: `shards` independent Yjs documents, each with
 * its own epochs. Every method taking a shard accepts any 0 ≤ shard < shards; a shard never
 * written is an empty document of the genesis epoch. Methods may decode a shard from disk.
 */
export interface ShardedDoc {
  readonly shards: number
  /** Every shard's epoch and digest, index = shard id. From memory: no shard is decoded. */
  summary (): ShardSummary[]
  epoch (shard: ShardId): EpochId
  stateVector (shard: ShardId): Uint8Array
  /** Everything the holder of `stateVector` lacks in `shard`, as one Yjs update. */
  diff (shard: ShardId, stateVector: Uint8Array): Uint8Array
  /**
   * Applies updates of `shard` at `epoch` received from `fromPeer` (already checked for trust) in
   * one transaction. Returns false, applying nothing, when `epoch` is not the shard's current one.
   */
  applyRemote (shard: ShardId, updates: readonly Uint8Array[], fromPeer: string, epoch: EpochId): boolean
  /** True when applied updates of `shard` wait for updates this peer has not seen yet. */
  hasMissingDependencies (shard: ShardId): boolean
  /** Calls `fn` with each local update (its shard and epoch) once it is on disk, for broadcasting. */
  onLocalUpdate (fn: (shard: ShardId, update: Uint8Array, epoch: EpochId) => void): () => void
  /** The package and state that move a peer from the shard's previous epoch here; undefined at epoch 0. */
  epochOffer (shard: ShardId): EpochOffer | undefined
  /** Moves `shard` to a newer epoch offered by `fromPeer` (trusted), carrying this peer's changes across. */
  adoptEpoch (shard: ShardId, offer: EpochOffer, fromPeer: string): Promise<boolean>
  /** Shards whose tombstones are worth a new epoch (see epoch.ts needsCompaction). From memory. */
  compactionCandidates (minTombstones: number): ShardId[]
  /** Rebuilds `shard` from its live entries as a new epoch led by `leader` (this peer). */
  rebuild (shard: ShardId, leader: string): Promise<EpochId>
}

/** The pinset as the cluster sees it; the sync layer sees it as a ShardedDoc. */
export interface PinSet extends PinSetReader, PinSetWriter, Startable {
  /** Figures for metrics and tests: live pins, internal elements, bytes on disk. */
  stats (): { pins: number, structs: number, stateBytes: number, logBytes: number, epoch: number, removalsRemembered: number }
}
