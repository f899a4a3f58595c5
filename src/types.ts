/** Shared domain types. Types only: no values live here. */

/** How Kubo pins a CID: the whole DAG, or the root block only. */
export type PinMode = 'recursive' | 'direct'

/**
 * One pin in the cluster pinset.
 * `replicationMin`/`replicationMax` of -1 mean "every peer".
 */
export interface PinRecord {
  /** The CID, in its canonical string form (CIDv0 stays `Qm…`, CIDv1 is base32). */
  readonly cid: string
  readonly name: string
  readonly mode: PinMode
  readonly replicationMin: number
  readonly replicationMax: number
  /** Peer ids that should hold the pin; empty with replication -1 means everywhere. */
  readonly allocations: readonly string[]
  readonly metadata: Readonly<Record<string, string>>
  /** Unix ms after which the pin is removed; undefined for never. */
  readonly expireAt?: number
  /** Unix ms when the pin was first added. */
  readonly createdAt: number
  /** Unix ms of the last change; concurrent changes of one CID keep the latest. */
  readonly updatedAt: number
  /** Peer id of the peer that wrote this version. */
  readonly updatedBy: string
}
