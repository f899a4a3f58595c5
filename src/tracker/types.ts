import type { PinRecord } from '../types.js'
import type { Startable } from '../lifecycle.js'

/** Where one pin stands on one peer (IPFS Cluster's tracker statuses). */
export type TrackerStatus =
  | 'queued' | 'pinning' | 'pinned' | 'pin_error'
  | 'unpin_queued' | 'unpinning' | 'unpinned' | 'unpin_error'
  | 'remote' | 'unexpectedly_unpinned' | 'cluster_error'

/** One pin's status on one peer. */
export interface PinInfo {
  cid: string
  peer: string
  status: TrackerStatus
  /** The last error, for *_error statuses (and cluster_error: why the peer did not answer). */
  error?: string
  /** Attempts of the current operation so far. */
  attempts: number
  /** Whether the operation is in the priority lane. */
  priority: boolean
  /**
   * Kubo's progress of a running pin: blocks and bytes fetched so far. On a `pinned` status from
   * `status(cid)`, the final count of a pin this tracker made lately (the whole DAG), if known.
   */
  progress?: { nodes: number, bytes: number }
  /** Unix ms of the last status change. */
  updatedAt: number
}

/** What a waiter last saw of a pin on one peer (see PinTracker.waitStatus). */
export type KnownStatus = Pick<PinInfo, 'status' | 'updatedAt' | 'attempts' | 'progress'>

export interface WaitStatusOptions {
  signal?: AbortSignal
  /** Answer with the status as it is then after this long, news or not. */
  timeoutMs: number
  /** What the caller saw last; news is measured against it (nothing: any settled status is news). */
  known?: KnownStatus
  /** A running pin's progress moving past `known.progress` is news too. @default false */
  progress?: boolean
  /** With `progress`: progress counts as news only this long after the call (at most one report per this long). @default 0 */
  progressDelayMs?: number
}

/**
 * Makes this peer's Kubo hold exactly the pins allocated to it. It learns what to do only from
 * the pinset (track/untrack, called on pinset change events) and from periodic recover passes
 * that compare the pinset with Kubo. Status is computed from the operation table, the pinset and
 * Kubo; nothing of its own is persisted.
 */
export interface PinTracker extends Startable {
  /** The pinset holds `record` (added or changed). */
  track (record: PinRecord): void
  /** `record` was removed from the pinset. */
  untrack (record: PinRecord): void
  /**
   * An upload pinned these CIDs in this peer's Kubo directly (dag/import roots), so the tracker
   * may never hear of them (their pin added and removed before this peer synced): a recover pass
   * a while later unpins those the pinset does not hold.
   */
  pinnedByUpload (cids: readonly string[]): void
  /** This peer's status for one CID (asks Kubo about the pin's own mode only, never for indirect pins). */
  status (cid: string, options?: { signal?: AbortSignal }): Promise<PinInfo>
  /**
   * Resolves with this peer's status of `cid` once there is news for someone waiting for it to be
   * pinned: `pinned`; a failure (`pin_error`) other than `known`; a status off the way to pinned
   * (`remote`, `unpin_*`) other than `known`'s; with `progress`, a running pin's progress moving.
   * The way to pinned (`unpinned`: not in this peer's pinset yet, `queued`, `pinning`,
   * `unexpectedly_unpinned`) is not news. After `timeoutMs` it resolves with the status then.
   * Learnt from this tracker's own operations and what it knows Kubo holds; never asks Kubo.
   * Rejects with the signal's reason when it aborts.
   */
  waitStatus (cid: string, options: WaitStatusOptions): Promise<PinInfo>
  /**
   * This peer's status for every pin in the pinset, streamed a pinset batch (a shard) at a time:
   * one Kubo pin listing, then one array per batch. Never holds every pin's status at once.
   */
  statusAll (options?: { signal?: AbortSignal }): AsyncIterable<PinInfo[]>
  /**
   * This peer's status for each of `cids` (in order; a CID not in the pinset is `unpinned`), from
   * the operation table and what this tracker knows Kubo holds. Kubo's pins are listed anew first
   * when they were never listed, and when `refresh` is set (the first page of a walk) unless the
   * last listing ended less than a second ago or less than ten times its own duration ago (so that
   * a polled first page does not keep Kubo listing its pins). Later pages of a walk reuse that
   * listing, which this tracker keeps current with its own operations.
   */
  statusMany (cids: readonly string[], options?: { refresh?: boolean, signal?: AbortSignal }): Promise<PinInfo[]>
  /** Retries one CID now if it is failing or missing. */
  recover (cid: string, options?: { signal?: AbortSignal }): Promise<PinInfo>
  /**
   * Runs a recover pass now: one Kubo pin listing, then the pinset a batch at a time, each batch
   * reconciled and its operations queued before the next is read. Resolves with the number of
   * operations it queued.
   */
  recoverAll (options?: { signal?: AbortSignal }): Promise<number>
  /** Operations waiting (for metrics and allocation). */
  queued (): number
  /**
   * Whether this tracker is taking `cid` out of this peer's Kubo: an unpin queued, running or
   * failing, or a pin removed from the pinset that the next recover pass unpins if Kubo holds it.
   * Kubo may still list such a CID; it is the cluster's, on its way out, not a pin of Kubo's own.
   */
  leaving (cid: string): boolean
}
