import type { Logger } from '../logger.js'
import type { PinRecord } from '../types.js'
import type { PinSet } from '../pinset/index.js'
import { NotFoundError } from '../errors.js'
import { canonicalCid } from '../utils/cid.js'
import type { Cluster, ClusterIdentity, ClusterPeer, PinRequest } from './types.js'

export interface ClusterComponents {
  pinset: PinSet
  logger: Logger
  identity: () => ClusterIdentity
  peers: () => ClusterPeer[]
  /** Replication counters to report with the pinset figures. */
  replicationStats?: () => Readonly<Record<string, number>>
  /** The clock, for tests. @default Date.now */
  now?: () => number
}

export interface ClusterInit {
  /** Defaults for pins that do not say. -1 = every peer. */
  replicationMin: number
  replicationMax: number
}

/** The cluster facade over the replicated pinset. */
export class PinsetCluster implements Cluster {
  private readonly c: ClusterComponents
  private readonly init: ClusterInit
  private readonly now: () => number

  constructor (components: ClusterComponents, init: ClusterInit) {
    this.c = components
    this.init = init
    this.now = components.now ?? Date.now
  }

  identity (): ClusterIdentity { return this.c.identity() }
  peers (): ClusterPeer[] { return this.c.peers() }
  get (cid: string): PinRecord | undefined { return this.c.pinset.get(canonicalCid(cid)) }
  pins (): IterableIterator<PinRecord> { return this.c.pinset.list() }
  pinsetStats (): Record<string, number> { return { ...this.c.pinset.stats(), ...this.c.replicationStats?.() } }

  async pin (request: PinRequest, options: { signal?: AbortSignal } = {}): Promise<PinRecord> {
    const [record] = await this.pinMany([request], options)
    return record as PinRecord
  }

  async pinMany (requests: readonly PinRequest[], options: { signal?: AbortSignal } = {}): Promise<PinRecord[]> {
    const now = this.now()
    const self = this.c.identity().id
    const records = requests.map((r): PinRecord => {
      const cid = canonicalCid(r.cid)
      const existing = this.c.pinset.get(cid)
      return {
        cid,
        name: r.name ?? existing?.name ?? '',
        mode: r.mode ?? existing?.mode ?? 'recursive',
        replicationMin: r.replicationMin ?? this.init.replicationMin,
        replicationMax: r.replicationMax ?? this.init.replicationMax,
        allocations: existing?.allocations ?? [],
        metadata: r.metadata ?? existing?.metadata ?? {},
        ...(r.expireAt !== undefined ? { expireAt: r.expireAt } : {}),
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
        updatedBy: self
      }
    })
    await this.c.pinset.put(records, options)
    this.c.logger.info({ count: records.length, cid: records.length === 1 ? records[0]?.cid : undefined }, 'pins added to pinset')
    return records
  }

  async unpin (cid: string, options: { signal?: AbortSignal } = {}): Promise<PinRecord> {
    const key = canonicalCid(cid)
    const existing = this.c.pinset.get(key)
    if (existing === undefined) throw new NotFoundError(`${key} is not in the cluster pinset`)
    await this.c.pinset.remove([key], options)
    this.c.logger.info({ cid: key }, 'pin removed from pinset')
    return existing
  }

  async unpinMany (cids: readonly string[], options: { signal?: AbortSignal } = {}): Promise<number> {
    const keys = cids.map(canonicalCid).filter(k => this.c.pinset.has(k))
    await this.c.pinset.remove(keys, options)
    this.c.logger.info({ count: keys.length }, 'pins removed from pinset')
    return keys.length
  }
}
