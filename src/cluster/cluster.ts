import type { Logger } from '../logger.js'
import type { PinRecord } from '../types.js'
import type { PinSet } from '../pinset/index.js'
import type { PinTracker, PinInfo } from '../tracker/index.js'
import type { KuboClient } from '../kubo/types.js'
import type { Monitor, PeerLossDetector, ReceivedMetrics } from '../metrics/types.js'
import type { Allocator, AllocationCandidate } from '../allocator/types.js'
import type { Rpc } from '../rpc/index.js'
import type { Startable } from '../lifecycle.js'
import { NotFoundError, InvalidParametersError, KuboApiError, RpcError } from '../errors.js'
import { canonicalCid } from '../utils/cid.js'
import { isAllocatedTo } from '../tracker/index.js'
import { electedPeer } from './election.js'
import { pinOptionsFromQuery } from './pin-options.js'
import { queryFlag } from '../utils/go-bool.js'
import { fanout, pinnedRoot, type FanoutOutput, type FanoutResult, type OpenDestination, type AddDestination } from '../adder/index.js'
import type { Cluster, ClusterIdentity, ClusterPeer, ClusterRepoStat, GlobalPinInfo, PinRequest, UploadRequest } from './types.js'

export interface ClusterComponents {
  pinset: PinSet
  tracker: PinTracker
  kubo: KuboClient
  monitor: Monitor
  /** Says which peers are gone (metrics expired and unreachable), as opposed to slow: only their pins are re-allocated. */
  peerLoss: Pick<PeerLossDetector, 'onPeerGone'>
  allocator: Allocator
  rpc: Rpc
  logger: Logger
  self: string
  isTrusted: (peer: string) => boolean
  identity: () => ClusterIdentity
  /** Peers the swarm knows (connected or not). */
  netPeers: () => Array<{ id: string, addresses: readonly string[], connected: boolean, lastSeen?: number }>
  /** Replication counters to report with the pinset figures. */
  replicationStats?: () => Readonly<Record<string, number>>
  /** Opens a peer's Kubo (this peer's over HTTP, others' over libp2p) for an upload. */
  openDestination: OpenDestination
  /** The clock, for tests. @default Date.now */
  now?: () => number
}

export interface ClusterInit {
  /** Defaults for pins that do not say. -1 = every peer. */
  replicationMin: number
  replicationMax: number
  /** Re-allocate pins of peers that are gone. */
  repinning: boolean
  /** swarm/connect this peer's Kubo to the others'. */
  connectKubos: boolean
  /** How often expired pins are removed and Kubos reconnected. @default 10000 */
  maintenanceIntervalMs?: number
  /** How often waitPinned looks at the peers' status. @default 200 */
  statusPollMs?: number
  /** Timeout of one status call to another peer. @default 15000 */
  statusTimeoutMs?: number
}

/** The cluster facade: allocation, the pinset as the one state path, and cluster-wide status. */
export class PinsetCluster implements Cluster, Startable {
  private readonly c: ClusterComponents
  private readonly init: Required<ClusterInit>
  private readonly log: Logger
  private readonly now: () => number
  private readonly cleanups: Array<() => void> = []
  private timer?: NodeJS.Timeout

  constructor (components: ClusterComponents, init: ClusterInit) {
    this.c = components
    this.init = { maintenanceIntervalMs: 10_000, statusPollMs: 200, statusTimeoutMs: 15_000, ...init }
    this.log = components.logger
    this.now = components.now ?? Date.now
  }

  async start (): Promise<void> {
    const { rpc, tracker, kubo } = this.c
    rpc.register('tracker.status', { policy: 'trusted', handle: async (p, _c, o) => await tracker.status(canonicalCid((p as { cid: string }).cid), o) })
    rpc.register('tracker.statusAll', { policy: 'trusted', handle: async (_p, _c, o) => await tracker.statusAll(o) })
    rpc.register('tracker.recover', { policy: 'trusted', handle: async (p, _c, o) => await tracker.recover(canonicalCid((p as { cid: string }).cid), o) })
    rpc.register('tracker.recoverAll', { policy: 'trusted', handle: async (_p, _c, o) => await tracker.recoverAll(o) })
    rpc.register('kubo.repoStat', { policy: 'trusted', handle: async (p, _c, o) => await kubo.repoStat({ ...o, sizeOnly: (p as { sizeOnly?: boolean } | undefined)?.sizeOnly ?? true }) })
    rpc.register('kubo.repoGc', {
      policy: 'trusted',
      handle: async (_p, _c, o) => {
        const cids: string[] = []
        const errors: string[] = []
        for await (const r of kubo.repoGc(o)) { if (r.cid !== undefined) cids.push(r.cid); if (r.error !== undefined) errors.push(r.error) }
        return { cids, errors }
      }
    })
    this.cleanups.push(this.c.pinset.onChange((change) => {
      for (const r of change.added) tracker.track(r)
      for (const u of change.updated) tracker.track(u.after)
      for (const r of change.removed) tracker.untrack(r)
    }))
    this.cleanups.push(this.c.peerLoss.onPeerGone((peer) => { void this.onPeerGone(peer) }))
    this.cleanups.push(this.c.monitor.onPeerUp((m) => { void this.connectKubo(m) }))
    this.timer = setInterval(() => { void this.maintain() }, this.init.maintenanceIntervalMs)
    this.timer.unref()
  }

  async stop (): Promise<void> {
    clearInterval(this.timer)
    for (const fn of this.cleanups.splice(0)) fn()
  }

  identity (): ClusterIdentity { return this.c.identity() }

  peers (): ClusterPeer[] {
    const alive = new Map(this.c.monitor.alive().map(m => [m.peer, m]))
    const out: ClusterPeer[] = []
    for (const p of this.c.netPeers()) {
      const m = alive.get(p.id)
      out.push({
        id: p.id,
        addresses: [...p.addresses],
        connected: p.connected,
        ...(p.lastSeen !== undefined ? { lastSeen: p.lastSeen } : {}),
        alive: m !== undefined,
        ...(m !== undefined ? { peername: m.peername, kubo: m.kubo, freeSpace: m.freeSpace, queued: m.queued } : {})
      })
    }
    return out
  }

  get (cid: string): PinRecord | undefined { return this.c.pinset.get(canonicalCid(cid)) }
  pins (): IterableIterator<PinRecord> { return this.c.pinset.list() }
  pinsetStats (): Record<string, number> { return { ...this.c.pinset.stats(), ...this.c.replicationStats?.(), queued: this.c.tracker.queued() } }

  async pin (request: PinRequest, options: { signal?: AbortSignal } = {}): Promise<PinRecord> {
    const [record] = await this.pinMany([request], options)
    return record as PinRecord
  }

  async pinMany (requests: readonly PinRequest[], options: { signal?: AbortSignal } = {}): Promise<PinRecord[]> {
    const now = this.now()
    const candidates = this.candidates()
    const aliveSet = new Set(candidates.map(c => c.peer))
    const records = requests.map((r): PinRecord => {
      const cid = canonicalCid(r.cid)
      const existing = this.c.pinset.get(cid)
      const { min, max } = this.replication(r)
      const userAllocations = r.userAllocations ?? []
      const allocations = r.allocations !== undefined
        ? [...r.allocations]
        : min === -1 && max === -1
          ? []
        : this.c.allocator.allocate({
          current: (existing?.allocations ?? []).filter(p => aliveSet.has(p)),
          priority: userAllocations,
          blacklist: [],
          min,
          max,
          candidates
        })
      return {
        cid,
        name: r.name ?? existing?.name ?? '',
        mode: r.mode ?? existing?.mode ?? 'recursive',
        replicationMin: min,
        replicationMax: max,
        allocations,
        metadata: r.metadata ?? existing?.metadata ?? {},
        ...(r.expireAt !== undefined ? { expireAt: r.expireAt } : existing?.expireAt !== undefined ? { expireAt: existing.expireAt } : {}),
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
        updatedBy: this.c.self
      }
    })
    await this.c.pinset.put(records, options)
    this.log.info({ count: records.length, cid: records.length === 1 ? records[0]?.cid : undefined, allocations: records.length === 1 ? records[0]?.allocations : undefined }, 'pins added to pinset')
    return records
  }

  async unpin (cid: string, options: { signal?: AbortSignal } = {}): Promise<PinRecord> {
    const key = canonicalCid(cid)
    const existing = this.c.pinset.get(key)
    if (existing === undefined) throw new NotFoundError(`${key} is not in the cluster pinset`)
    await this.c.pinset.remove([key], options)
    this.log.info({ cid: key }, 'pin removed from pinset')
    return existing
  }

  async unpinMany (cids: readonly string[], options: { signal?: AbortSignal } = {}): Promise<number> {
    const keys = cids.map(canonicalCid).filter(k => this.c.pinset.has(k))
    await this.c.pinset.remove(keys, options)
    this.log.info({ count: keys.length }, 'pins removed from pinset')
    return keys.length
  }

  async update (from: string, to: string, options: { unpin?: boolean, signal?: AbortSignal } = {}): Promise<PinRecord> {
    const fromCid = canonicalCid(from)
    const toCid = canonicalCid(to)
    const old = this.c.pinset.get(fromCid)
    // Kubo's own messages (boxo dspinner), so clients see what they see against Kubo.
    if (old === undefined || old.mode !== 'recursive') throw new KuboApiError('pin/update', 500, "'from' cid was not recursively pinned already")
    const existing = this.c.pinset.get(toCid)
    if (existing?.mode === 'recursive' && fromCid !== toCid) throw new KuboApiError('pin/update', 500, "'to' cid was already recursively pinned")
    const now = this.now()
    const record: PinRecord = { ...old, cid: toCid, createdAt: now, updatedAt: now, updatedBy: this.c.self }
    await this.c.pinset.put([record], options)
    if (options.unpin !== false && fromCid !== toCid) await this.c.pinset.remove([fromCid], options)
    return record
  }

  async status (cid: string, options: { signal?: AbortSignal } = {}): Promise<GlobalPinInfo> {
    const key = canonicalCid(cid)
    const record = this.c.pinset.get(key)
    if (record === undefined) throw new NotFoundError(`${key} is not in the cluster pinset`)
    const alive = this.c.monitor.alive().map(m => m.peer).filter(p => this.c.isTrusted(p))
    const holders = record.allocations.length > 0 ? record.allocations : alive
    const peerMap: Record<string, PinInfo> = {}
    await Promise.all(holders.map(async (peer) => {
      peerMap[peer] = await this.askStatus(peer, key, options)
    }))
    for (const peer of alive) peerMap[peer] ??= { cid: key, peer, status: 'remote', attempts: 0, priority: false, updatedAt: this.now() }
    return this.globalInfo(record, peerMap)
  }

  async statusAll (options: { signal?: AbortSignal } = {}): Promise<GlobalPinInfo[]> {
    const alive = this.c.monitor.alive().map(m => m.peer).filter(p => this.c.isTrusted(p))
    const byPeer = new Map<string, Map<string, PinInfo> | string>()
    await Promise.all(alive.map(async (peer) => {
      try {
        const list = await this.c.rpc.call<PinInfo[]>(peer, 'tracker.statusAll', {}, { signal: options.signal, timeoutMs: this.init.statusTimeoutMs * 4 })
        byPeer.set(peer, new Map(list.map(i => [i.cid, i])))
      } catch (err) {
        byPeer.set(peer, (err as Error).message)
      }
    }))
    const out: GlobalPinInfo[] = []
    for (const record of this.c.pinset.list()) {
      const peerMap: Record<string, PinInfo> = {}
      for (const peer of alive) {
        const got = byPeer.get(peer)
        const now = this.now()
        if (typeof got === 'string') {
          peerMap[peer] = isAllocatedTo(record, peer)
            ? { cid: record.cid, peer, status: 'cluster_error', error: got, attempts: 0, priority: false, updatedAt: now }
            : { cid: record.cid, peer, status: 'remote', attempts: 0, priority: false, updatedAt: now }
        } else {
          peerMap[peer] = got?.get(record.cid) ?? { cid: record.cid, peer, status: isAllocatedTo(record, peer) ? 'queued' : 'remote', attempts: 0, priority: false, updatedAt: now }
        }
      }
      for (const peer of record.allocations) {
        peerMap[peer] ??= { cid: record.cid, peer, status: 'cluster_error', error: 'peer is down (no current metrics)', attempts: 0, priority: false, updatedAt: this.now() }
      }
      out.push(this.globalInfo(record, peerMap))
    }
    return out
  }

  async waitPinned (cid: string, options: { signal?: AbortSignal, onProgress?: (nodes: number, bytes: number) => void } = {}): Promise<GlobalPinInfo> {
    const key = canonicalCid(cid)
    for (;;) {
      options.signal?.throwIfAborted()
      const info = await this.status(key, options)
      const relevant = info.allocations.length > 0 ? info.allocations : Object.keys(info.peerMap)
      const needed = info.replicationMin > 0 ? Math.min(info.replicationMin, relevant.length) : relevant.length
      const states = relevant.map(p => info.peerMap[p])
      const pinned = states.filter(s => s?.status === 'pinned').length
      if (pinned >= needed) return info
      const failed = states.filter(s => s?.status === 'pin_error')
      if (relevant.length - failed.length < needed) throw new Error(failed[0]?.error ?? 'pin failed on the allocated peers')
      const progress = states.filter(s => s?.progress !== undefined).map(s => s?.progress as { nodes: number, bytes: number })
      if (progress.length > 0) {
        const best = progress.reduce((a, b) => (b.nodes > a.nodes ? b : a))
        options.onProgress?.(best.nodes, best.bytes)
      }
      await sleep(this.init.statusPollMs, options.signal)
    }
  }

  async recover (cid: string, options: { signal?: AbortSignal } = {}): Promise<GlobalPinInfo> {
    const key = canonicalCid(cid)
    const alive = this.c.monitor.alive().map(m => m.peer).filter(p => this.c.isTrusted(p))
    await Promise.allSettled(alive.map(async (peer) => await this.c.rpc.call(peer, 'tracker.recover', { cid: key }, { signal: options.signal, timeoutMs: this.init.statusTimeoutMs })))
    return await this.status(key, options)
  }

  async recoverAll (options: { signal?: AbortSignal } = {}): Promise<Record<string, number | string>> {
    const out: Record<string, number | string> = {}
    const alive = this.c.monitor.alive().map(m => m.peer).filter(p => this.c.isTrusted(p))
    await Promise.all(alive.map(async (peer) => {
      try { out[peer] = await this.c.rpc.call<number>(peer, 'tracker.recoverAll', {}, { signal: options.signal, timeoutMs: this.init.statusTimeoutMs * 4 }) } catch (err) { out[peer] = (err as Error).message }
    }))
    return out
  }

  async resolve (path: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    return await this.c.kubo.resolve(path, options)
  }

  async repoStat (options: { signal?: AbortSignal, sizeOnly?: boolean } = {}): Promise<ClusterRepoStat> {
    const alive = this.c.monitor.alive().map(m => m.peer).filter(p => this.c.isTrusted(p))
    const peers = alive.includes(this.c.self) ? alive : [this.c.self, ...alive]
    const sum: ClusterRepoStat = { repoSize: 0, storageMax: 0, numObjects: 0, repoPath: '', version: '', peers: 0, errors: [] }
    await Promise.all(peers.map(async (peer) => {
      try {
        const s = await this.c.rpc.call<{ repoSize: number, storageMax: number, numObjects: number, repoPath?: string, version?: string }>(peer, 'kubo.repoStat', { sizeOnly: options.sizeOnly ?? true }, { signal: options.signal, timeoutMs: this.init.statusTimeoutMs })
        if (peer === this.c.self) { sum.repoPath = s.repoPath ?? ''; sum.version = s.version ?? '' }
        sum.repoSize += s.repoSize
        sum.storageMax = Math.min(Number.MAX_SAFE_INTEGER, sum.storageMax + s.storageMax)
        sum.numObjects += s.numObjects
        sum.peers++
      } catch (err) {
        if (peer === this.c.self) throw unwrapRpc(err)
        sum.errors.push(`${peer}: ${(err as Error).message}`)
      }
    }))
    return sum
  }

  async * repoGc (options: { signal?: AbortSignal } = {}): AsyncIterable<{ peer: string, cid?: string, error?: string }> {
    const alive = this.c.monitor.alive().map(m => m.peer).filter(p => this.c.isTrusted(p))
    const peers = alive.includes(this.c.self) ? alive : [this.c.self, ...alive]
    for (const peer of peers) {
      try {
        const r = await this.c.rpc.call<{ cids: string[], errors: string[] }>(peer, 'kubo.repoGc', {}, { signal: options.signal, timeoutMs: 24 * 3600_000 })
        for (const cid of r.cids) yield { peer, cid }
        for (const error of r.errors) yield { peer, error }
      } catch (err) {
        yield { peer, error: (err as Error).message }
      }
    }
  }

  async upload (request: UploadRequest, out: FanoutOutput): Promise<{ pins: PinRecord[], result: FanoutResult }> {
    const signal = request.signal ?? new AbortController().signal
    const q = new URLSearchParams(request.query)
    const single = request.command === 'block/put' || request.command === 'dag/put'
    const o = uploadOptions(q, request.command)
    const { min, max } = this.replication({ cid: '', ...o.pin })
    // Where the bytes go: every allocated peer; only this one for `local` and for block/dag put.
    const everywhere = min === -1 && max === -1
    let allocations: string[] = everywhere
      ? this.candidates().map(c => c.peer)
      : this.c.allocator.allocate({ current: [], priority: o.pin.userAllocations ?? [], blacklist: [], min, max, candidates: this.candidates() })
    if ((o.local || single) && !allocations.includes(this.c.self)) allocations = [...allocations.slice(0, Math.max(0, allocations.length - 1)), this.c.self]
    if (allocations.length === 0) allocations = [this.c.self]
    const targets = o.local || single ? [this.c.self] : allocations
    // add, block/put and dag/put pin through the cluster (each allocated peer's tracker), never in the Kubo
    // directly: a peer that never sees the pin (added and removed within one pinset sync) would keep it for ever.
    const query = single || request.command === 'add' ? withParam(request.query, 'pin', 'false') : request.query
    const dests: AddDestination[] = []
    const openFailures: string[] = []
    for (const peer of targets) {
      try { dests.push(await this.c.openDestination(peer, request.command, query, request.contentType, signal)) } catch (err) {
        openFailures.push(`${peer}: ${(err as Error).message}`)
        this.log.warn({ err, peer }, 'cannot open an upload destination')
      }
    }
    const needed = o.local || single ? 1 : Math.max(1, min)
    if (dests.length < needed) throw new Error(`upload needs ${needed} destinations, only ${dests.length} could be opened: ${openFailures.join('; ')}`)
    const result = await fanout(request.body, dests, out, signal)
    if (result.head === undefined || result.head.status !== 200) return { pins: [], result }
    if (result.streamError !== undefined) throw new Error(result.streamError)
    const disagreeing = result.failed.find(f => f.error.startsWith('answered different CIDs'))
    if (disagreeing !== undefined) throw new Error(`destinations disagree on the result: ${disagreeing.peer} ${disagreeing.error}`)
    if (result.completed.length < needed) {
      throw new Error(`upload completed on ${result.completed.length} destinations, replication-min is ${needed}: ${result.failed.map(f => `${f.peer}: ${f.error}`).join('; ')}`)
    }
    for (const f of result.failed) this.log.warn({ peer: f.peer, error: f.error }, 'an upload destination failed; its tracker will fetch the content later')
    const cids = pinnedBy(request.command, q, result.results)
    if (cids.length === 0) return { pins: [], result }
    const pins = await this.pinMany(cids.map(({ cid, name }) => ({
      ...o.pin,
      cid,
      name: o.pin.name ?? name,
      allocations: everywhere ? [] : allocations
    })), { signal })
    return { pins, result }
  }

  /** Candidates for allocation: trusted peers with current metrics. */
  private candidates (): AllocationCandidate[] {
    return this.c.monitor.alive()
      .filter(m => this.c.isTrusted(m.peer))
      .map(m => ({ peer: m.peer, freeSpace: m.freeSpace ?? 0, queued: m.queued, tags: m.tags }))
  }

  private replication (r: PinRequest): { min: number, max: number } {
    let min = r.replicationMin ?? this.init.replicationMin
    let max = r.replicationMax ?? this.init.replicationMax
    if (r.replicationMin !== undefined && r.replicationMax === undefined && min > 0 && (max === -1 || max < min)) max = min
    if (r.replicationMax !== undefined && r.replicationMin === undefined && max > 0 && (min === -1 || min > max)) min = Math.min(max, this.init.replicationMin > 0 ? this.init.replicationMin : 1)
    if ((min === -1) !== (max === -1)) throw new InvalidParametersError(`replication-min and replication-max must both be -1 (every peer) or both positive, got ${min} and ${max}`)
    if (min !== -1 && (min < 1 || max < min)) throw new InvalidParametersError(`replication-min must be at least 1 and at most replication-max, got ${min} and ${max}`)
    return { min, max }
  }

  private async askStatus (peer: string, cid: string, options: { signal?: AbortSignal }): Promise<PinInfo> {
    try {
      return await this.c.rpc.call<PinInfo>(peer, 'tracker.status', { cid }, { signal: options.signal, timeoutMs: this.init.statusTimeoutMs })
    } catch (err) {
      options.signal?.throwIfAborted()
      return { cid, peer, status: 'cluster_error', error: (err as Error).message, attempts: 0, priority: false, updatedAt: this.now() }
    }
  }

  private globalInfo (record: PinRecord, peerMap: Record<string, PinInfo>): GlobalPinInfo {
    return { cid: record.cid, name: record.name, allocations: [...record.allocations], replicationMin: record.replicationMin, replicationMax: record.replicationMax, peerMap }
  }

  /**
   * A peer is gone (its metrics expired and it does not answer pings). For each pin it held that
   * fell below replicationMin, the one peer elected for that CID among the live trusted peers
   * re-allocates it. Pins still at or above replicationMin keep their allocations, so a peer that
   * blinks causes no repinning at all, and a merely slow one is never gone.
   */
  private async onPeerGone (dead: string): Promise<void> {
    this.log.warn({ peer: dead }, 'peer is gone (metrics expired, no answer to pings)')
    if (!this.init.repinning) return
    const candidates = this.candidates().filter(c => c.peer !== dead)
    const live = new Set(candidates.map(c => c.peer))
    const electorate = [...live]
    const changed: PinRecord[] = []
    for (const record of this.c.pinset.list()) {
      if (!record.allocations.includes(dead)) continue
      if (electedPeer(record.cid, electorate) !== this.c.self) continue
      const current = record.allocations.filter(p => live.has(p))
      if (current.length >= record.replicationMin) continue
      try {
        const allocations = this.c.allocator.allocate({ current, priority: [], blacklist: [dead], min: record.replicationMin, max: record.replicationMax, candidates })
        // updatedAt stays the time of the last request: a re-allocation is not one, and so loses to a
        // concurrent unpin (see YjsPinSet.removeWins) and to a concurrent change asked for by a user.
        changed.push({ ...record, allocations, updatedBy: this.c.self })
      } catch (err) {
        this.log.warn({ err, cid: record.cid }, 'cannot re-allocate a pin of a peer that went down')
      }
    }
    if (changed.length > 0) {
      await this.c.pinset.put(changed)
      this.log.info({ peer: dead, pins: changed.length }, 're-allocated pins of a peer that went down')
    }
  }

  private async maintain (): Promise<void> {
    try {
      const electorate = this.candidates().map(c => c.peer)
      const now = this.now()
      const expired: string[] = []
      for (const r of this.c.pinset.list()) {
        if (r.expireAt !== undefined && r.expireAt <= now && electedPeer(r.cid, electorate) === this.c.self) expired.push(r.cid)
      }
      if (expired.length > 0) {
        await this.c.pinset.remove(expired)
        this.log.info({ count: expired.length }, 'removed expired pins')
      }
      if (this.init.connectKubos) for (const m of this.c.monitor.alive()) await this.connectKubo(m)
    } catch (err) {
      this.log.warn({ err }, 'cluster maintenance failed')
    }
  }

  private async connectKubo (m: ReceivedMetrics): Promise<void> {
    if (!this.init.connectKubos || m.peer === this.c.self || m.kubo === undefined || m.kubo.addresses.length === 0) return
    try {
      await this.c.kubo.swarmConnect(m.kubo.addresses, { signal: AbortSignal.timeout(10_000) })
    } catch (err) {
      this.log.debug({ err, peer: m.peer }, 'connecting to a peer\'s kubo failed')
    }
  }
}

/** The cluster options of an upload, from Kubo's query plus IPFS Cluster's names. */
function uploadOptions (q: URLSearchParams, command: UploadRequest['command']): { local: boolean, pin: Omit<PinRequest, 'cid'> } {
  const pin = pinOptionsFromQuery(q, Date.now())
  const name = q.get('name') ?? (command === 'add' ? q.get('pin-name') : null)
  if (name !== null) pin.name = name
  return { local: queryFlag(q, 'local', false), pin }
}

/** The CIDs Kubo's own options say to pin: what `ipfs add`, `dag import`, `block put`, `dag put` would pin. */
function pinnedBy (command: UploadRequest['command'], q: URLSearchParams, results: Array<Record<string, unknown>>): Array<{ cid: string, name?: string }> {
  switch (command) {
    case 'add': {
      if (!queryFlag(q, 'pin', true) || queryFlag(q, 'only-hash', false) || queryFlag(q, 'n', false)) return []
      const wrap = queryFlag(q, 'wrap-with-directory', false) || queryFlag(q, 'w', false)
      // Kubo pins each top-level entry, or only the wrapping directory (named "").
      return results
        .filter(r => typeof r.Name === 'string' && (wrap ? r.Name === '' : !(r.Name as string).includes('/')))
        .map(r => ({ cid: r.Hash as string, ...(r.Name !== r.Hash && r.Name !== '' ? { name: r.Name as string } : {}) }))
    }
    case 'dag/import': {
      if (!queryFlag(q, 'pin-roots', true)) return []
      return results.map(r => pinnedRoot(r.Root)).filter((cid): cid is string => cid !== undefined).map(cid => ({ cid }))
    }
    case 'block/put':
      return results.filter(r => typeof r.Key === 'string').map(r => ({ cid: r.Key as string }))
    case 'dag/put':
      return results.map(r => (r.Cid as { '/': string } | undefined)?.['/']).filter((c): c is string => typeof c === 'string').map(cid => ({ cid }))
  }
}

function withParam (query: string, key: string, value: string): string {
  const q = new URLSearchParams(query)
  q.set(key, value)
  return q.toString()
}

function unwrapRpc (err: unknown): unknown {
  return err instanceof RpcError && err.cause !== undefined ? err.cause : err
}

async function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason) }, { once: true })
  })
}
