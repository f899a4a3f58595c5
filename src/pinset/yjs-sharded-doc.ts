import { needsCompaction, type EpochId } from './epoch.js'
import type { YjsPinSet } from './yjs-pinset.js'
import type { ShardedDoc, ShardId, ShardSummary, EpochOffer } from './types.js'

/**
 * Serves YjsPinSets (one per shard, already started) as a ShardedDoc: what the replicator syncs
 * until the sharded pinset replaces YjsPinSet (the daemon uses one shard). Every call decodes
 * nothing: the documents are all in memory.
 */
export class YjsShardedDoc implements ShardedDoc {
  private readonly docs: readonly YjsPinSet[]
  constructor (docs: readonly YjsPinSet[]) { this.docs = docs }

  get shards (): number { return this.docs.length }
  summary (): ShardSummary[] { return this.docs.map(d => ({ epoch: d.epoch(), digest: d.digest() })) }
  epoch (shard: ShardId): EpochId { return this.doc(shard).epoch() }
  stateVector (shard: ShardId): Uint8Array { return this.doc(shard).stateVector() }
  diff (shard: ShardId, stateVector: Uint8Array): Uint8Array { return this.doc(shard).diff(stateVector) }
  applyRemote (shard: ShardId, updates: readonly Uint8Array[], fromPeer: string, epoch: EpochId): boolean { return this.doc(shard).applyRemote(updates, fromPeer, epoch) }
  hasMissingDependencies (shard: ShardId): boolean { return this.doc(shard).hasMissingDependencies() }
  onLocalUpdate (fn: (shard: ShardId, update: Uint8Array, epoch: EpochId) => void): () => void {
    const offs = this.docs.map((d, shard) => d.onLocalUpdate((u, e) => { fn(shard, u, e) }))
    return () => { for (const off of offs) off() }
  }

  epochOffer (shard: ShardId): EpochOffer | undefined { return this.doc(shard).epochOffer() }
  async adoptEpoch (shard: ShardId, offer: EpochOffer, fromPeer: string): Promise<boolean> { return await this.doc(shard).adoptEpoch(offer, fromPeer) }
  compactionCandidates (minTombstones: number): ShardId[] {
    const out: ShardId[] = []
    this.docs.forEach((d, shard) => { if (needsCompaction(d.compactionFigures(), minTombstones)) out.push(shard) })
    return out
  }

  async rebuild (shard: ShardId, leader: string): Promise<EpochId> { return await this.doc(shard).rebuild(leader) }

  private doc (shard: ShardId): YjsPinSet {
    const d = this.docs[shard]
    if (d === undefined) throw new RangeError(`shard ${shard} out of range (${this.docs.length} shards)`)
    return d
  }
}
