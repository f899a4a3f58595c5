import { compareEpochs } from '../epoch.js'
import { ShardCountMismatchError } from '../../errors.js'
import type { ShardId, ShardSummary } from '../types.js'

/**
 * What a catch-up exchange moves, from one side's point of view. Both sides compute it from the
 * same two summaries, so their plans mirror each other: one side's `offer` is the other's `adopt`,
 * and `exchange` is the same on both.
 */
export interface SyncPlan {
  /** Shards this peer holds at a newer epoch: it sends its epoch offer. */
  readonly offer: readonly ShardId[]
  /** Shards the other peer holds at a newer epoch: its offer is coming. */
  readonly adopt: readonly ShardId[]
  /** Shards at the same epoch with different digests: state vectors (step 1) and diffs (step 2) both ways. */
  readonly exchange: readonly ShardId[]
}

/** A step this peer starts in an exchange: an offer of its newer epoch, or a step 1 of a shard. */
export interface PlannedStep { readonly shard: ShardId, readonly kind: 'offer' | 'step1' }

function sameDigest (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0
}

/** Which shards differ between two summaries, and how each is settled. Throws ShardCountMismatchError when their lengths differ. */
export function planSync (mine: readonly ShardSummary[], theirs: readonly ShardSummary[]): SyncPlan {
  if (mine.length !== theirs.length) throw new ShardCountMismatchError(mine.length, theirs.length)
  const offer: ShardId[] = []
  const adopt: ShardId[] = []
  const exchange: ShardId[] = []
  for (let shard = 0; shard < mine.length; shard++) {
    const a = mine[shard] as ShardSummary
    const b = theirs[shard] as ShardSummary
    const order = compareEpochs(a.epoch, b.epoch)
    if (order > 0) offer.push(shard)
    else if (order < 0) adopt.push(shard)
    else if (!sameDigest(a.digest, b.digest)) exchange.push(shard)
  }
  return { offer, adopt, exchange }
}

/**
 * The steps this peer starts, in shard order: its offers, and a step 1 for each shard to exchange
 * when it would apply the answer (`wantsAnswers`: the other peer is trusted; an untrusted peer's
 * diffs would be dropped, so they are not asked for).
 */
export function plannedSteps (plan: SyncPlan, wantsAnswers: boolean): PlannedStep[] {
  const steps: PlannedStep[] = plan.offer.map(shard => ({ shard, kind: 'offer' as const }))
  if (wantsAnswers) for (const shard of plan.exchange) steps.push({ shard, kind: 'step1' })
  return steps.sort((x, y) => x.shard - y.shard)
}

/**
 * A shard's share of the pinset-wide fewest tombstones worth new epochs (at least 1): shards fill
 * evenly (by a hash of the CID), so the figure keeps its meaning whatever the shard count.
 */
export function shardMinTombstones (pinsetMin: number, shards: number): number {
  return Math.max(1, Math.ceil(pinsetMin / shards))
}
