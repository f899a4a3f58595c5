import type { Cluster, ClusterPeer, GlobalPinInfo, PinRequest } from '../../../src/cluster/index.js'
import type { PinRecord } from '../../../src/types.js'
import type { TrackerStatus } from '../../../src/tracker/index.js'
import { NotFoundError } from '../../../src/errors.js'
import { canonicalCid } from '../../../src/utils/cid.js'
import { MapPinset } from '../../fixtures/map-pinset.js'

export const SELF = '12D3KooWSelf'
export const OTHER = '12D3KooWOther'

/** An in-memory Cluster for API tests: pins land at once; statuses come from `statusOf`. */
export function fakeCluster (): Cluster & { statusOf: Map<string, TrackerStatus>, statusAllCalls: number } {
  const pinset = new MapPinset({ shards: 4 })
  const pins = pinset.map
  const statusOf = new Map<string, TrackerStatus>()
  const info = (r: PinRecord): GlobalPinInfo => ({
    cid: r.cid, name: r.name, allocations: [...r.allocations], replicationMin: r.replicationMin, replicationMax: r.replicationMax,
    peerMap: {
      [SELF]: { cid: r.cid, peer: SELF, status: statusOf.get(r.cid) ?? 'pinned', attempts: 0, priority: false, updatedAt: 1 },
      [OTHER]: { cid: r.cid, peer: OTHER, status: 'pinned', attempts: 0, priority: false, updatedAt: 1 }
    }
  })
  const record = (q: PinRequest): PinRecord => ({
    cid: canonicalCid(q.cid), name: q.name ?? '', mode: q.mode ?? 'recursive', replicationMin: q.replicationMin ?? -1,
    replicationMax: q.replicationMax ?? -1, allocations: [], metadata: q.metadata ?? {}, createdAt: 1, updatedAt: 1, updatedBy: SELF
  })
  const peers: ClusterPeer[] = [{ id: OTHER, peername: 'other', addresses: [], connected: true, alive: true, freeSpace: 1 << 30, queued: 0 }]
  const self = {
    statusOf,
    statusAllCalls: 0,
    identity: () => ({ id: SELF, peername: 'self', clusterName: 'test', addresses: [], version: '0.0.0', trusted: true }),
    peers: () => peers,
    async pin (q: PinRequest) { const r = record(q); pins.set(r.cid, r); return r },
    async pinMany (qs: readonly PinRequest[]) { return qs.map(q => { const r = record(q); pins.set(r.cid, r); return r }) },
    async unpin (cid: string) {
      const key = canonicalCid(cid)
      const r = pins.get(key)
      if (r === undefined) throw new NotFoundError(`${key} is not in the cluster pinset`)
      pins.delete(key)
      return r
    },
    async unpinMany (cids: readonly string[]) { let n = 0; for (const c of cids) if (pins.delete(canonicalCid(c))) n++; return n },
    get: (cid: string) => pins.get(canonicalCid(cid)),
    pins: (o?: { signal?: AbortSignal }) => pinset.scan(o),
    pinPage: async (o: { cursor?: string, limit: number }) => await pinset.page(o),
    async status (cid: string) {
      const r = pins.get(canonicalCid(cid))
      if (r === undefined) throw new NotFoundError(`${canonicalCid(cid)} is not in the cluster pinset`)
      return info(r)
    },
    async * statusAll () { self.statusAllCalls++; for await (const batch of pinset.scan()) yield * batch.map(info) },
    async statusPage (o: { cursor?: string, limit: number }) {
      const page = await pinset.page(o)
      return { pins: page.pins.map(info), ...(page.next !== undefined ? { next: page.next } : {}) }
    },
    async recover (cid: string) { return await self.status(cid) },
    async recoverAll () { return { [SELF]: 0, [OTHER]: 0 } },
    async adopt (q: { cids?: string[] }) { return { adopted: [], inPinset: (q.cids ?? []).map(canonicalCid) } },
    pinsetStats: () => ({ pins: pins.size, queued: 3 })
  }
  return self as unknown as Cluster & { statusOf: Map<string, TrackerStatus>, statusAllCalls: number }
}
