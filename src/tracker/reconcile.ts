import type { PinMode, PinRecord } from '../types.js'
import type { KuboPinType } from '../kubo/types.js'

/** Whether `record` is allocated to `peer` (an empty allocation with replication -1 means every peer). */
export function isAllocatedTo (record: Pick<PinRecord, 'allocations' | 'replicationMin' | 'replicationMax'>, peer: string): boolean {
  if (record.allocations.length === 0) return record.replicationMin === -1 && record.replicationMax === -1
  return record.allocations.includes(peer)
}

/** Whether Kubo's hold on a CID satisfies a pin of `mode` (a recursive pin covers a direct one). */
export function satisfies (held: KuboPinType | undefined, mode: PinMode): boolean {
  if (held === 'recursive') return true
  return held === 'direct' && mode === 'direct'
}

export interface ReconcileInput {
  /** Pins of the pinset: the whole of it, or one batch of a walk (the diff of each pin stands alone). */
  pins: Iterable<PinRecord>
  /** This peer. */
  self: string
  /** What Kubo holds (recursive and direct pins). */
  kubo: ReadonlyMap<string, KuboPinType>
  /** CIDs with an operation in flight or waiting: left alone (any lookup, e.g. the operation table itself). */
  busy: { has: (cid: string) => boolean }
}

export interface ReconcileActions {
  /** Allocated here, Kubo lacks them. */
  pin: PinRecord[]
  /** In the pinset, not allocated here, and Kubo holds them. */
  unpin: PinRecord[]
}

/**
 * The pure diff between what the pinset wants of this peer and what its Kubo holds. Kubo pins
 * that are not in the pinset at all are not pinmesh's and are never touched.
 */
export function reconcile (input: ReconcileInput): ReconcileActions {
  const pin: PinRecord[] = []
  const unpin: PinRecord[] = []
  for (const r of input.pins) {
    if (input.busy.has(r.cid)) continue
    const held = input.kubo.get(r.cid)
    if (isAllocatedTo(r, input.self)) {
      if (!satisfies(held, r.mode)) pin.push(r)
    } else if (held !== undefined) {
      unpin.push(r)
    }
  }
  return { pin, unpin }
}

/** Exponential backoff: min doubling per attempt, capped at max. */
export function retryDelay (attempts: number, minMs: number, maxMs: number): number {
  return Math.min(maxMs, minMs * 2 ** Math.max(0, attempts - 1))
}

/** IPFS Cluster's priority rule: recent pins that have not failed too often go first. */
export function isPriority (record: Pick<PinRecord, 'updatedAt'>, attempts: number, now: number, maxAgeMs: number, maxRetries: number): boolean {
  return now - record.updatedAt < maxAgeMs && attempts <= maxRetries
}
