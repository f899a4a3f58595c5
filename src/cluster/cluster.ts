import { setTimeout as delay } from 'node:timers/promises'
import type { Logger } from '../logger.js'
import type { PinRecord } from '../types.js'
import type { PinSet, PinPage } from '../pinset/index.js'
import type { PinTracker, PinInfo, KnownStatus } from '../tracker/index.js'
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
import { pinProgress } from './progress.js'
import { parseGoBool, queryFlag } from '../utils/go-bool.js'
import { assertPinName } from '../utils/pin-name.js'
import { withTimeout } from '../utils/signals.js'
import { KeyedListeners } from '../utils/keyed-listeners.js'
import { fanout, pinnedRoot, type FanoutOutput, type FanoutResult, type OpenDestination, type AddDestination } from '../adder/index.js'
import type { AdoptRequest, AdoptResult, Cluster, ClusterIdentity, ClusterPeer, ClusterRepoStat, GlobalPinInfo, GlobalPinPage, ListedPin, PinLsType, PinRequest, UploadRequest } from './types.js'
import { PinListing, REFS_METHOD, refsOf } from './pin-listing.js'

/** How long a cluster-wide `repo/gc` may run on each peer (Kubo's own gc has no deadline). */
const REPO_GC_TIMEOUT_MS = 24 * 3600_000
/**
 * Most CIDs in one `tracker.statusMany` call, and the most pins a page of the cluster-wide status
 * may hold: the answer stays a few MiB, well under the RPC's message cap.
 */
export const MAX_STATUS_BATCH = 10_000
/** CIDs per `tracker.statusMany` call when the whole pinset is walked (statusAll). */
const STATUS_BATCH = 1000
/** Pins re-allocated or expired are written this many at a time while the pinset is walked. */
const WRITE_CHUNK = 1000

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
  /**
   * waitPinned: the pause before asking a peer again after its wait call failed (peer down, or a
   * pinmesh without `tracker.waitStatus`: then it is polled with `tracker.status`), and the least
   * time between two progress reports from one peer (progress is followed only for a caller that
   * passes onProgress). @default 200
   */
  statusPollMs?: number
  /** waitPinned: how long one wait for news from a peer's tracker lasts before it is renewed. @default 10000 */
  statusWaitMs?: number
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
  /** Set while a maintenance pass walks the pinset: a walk of a big pinset outlasts the interval, and passes must not overlap. */
  private maintaining = false
  /** The re-allocation walks of gone peers, one after the other. */
  private reallocating: Promise<void> = Promise.resolve()
  /** waitPinned callers by CID, told when this peer's pinset changes that pin. */
  private readonly recordWatchers = new KeyedListeners()

  constructor (components: ClusterComponents, init: ClusterInit) {
    this.c = components
    this.init = { maintenanceIntervalMs: 10_000, statusPollMs: 200, statusWaitMs: 10_000, statusTimeoutMs: 15_000, ...init }
    this.log = components.logger
    this.now = components.now ?? Date.now
  }

  async start (): Promise<void> {
    const { rpc, tracker, kubo } = this.c
    rpc.register('tracker.status', { policy: 'trusted', handle: async (p, _c, o) => await tracker.status(canonicalCid((p as { cid: string }).cid), o) })
    rpc.register('tracker.waitStatus', { policy: 'trusted', handle: async (p, _c, o) => await tracker.waitStatus(canonicalCid((p as { cid: string }).cid), { ...waitParams(p), signal: o.signal }) })
    rpc.register('tracker.statusMany', { policy: 'trusted', handle: async (p, _c, o) => { const q = statusManyParams(p); return await tracker.statusMany(q.cids, { refresh: q.refresh, signal: o.signal }) } })
    rpc.register('tracker.recover', { policy: 'trusted', handle: async (p, _c, o) => await tracker.recover(canonicalCid((p as { cid: string }).cid), o) })
    rpc.register('tracker.recoverAll', { policy: 'trusted', handle: async (_p, _c, o) => await tracker.recoverAll(o) })
    rpc.register('kubo.repoStat', { policy: 'trusted', handle: async (p, _c, o) => await kubo.repoStat({ ...o, sizeOnly: (p as { sizeOnly?: boolean } | undefined)?.sizeOnly ?? true }) })
    rpc.register(REFS_METHOD, { policy: 'trusted', handle: async (p, _c, o) => await refsOf(kubo, (p as { cids: string[] }).cids, o.signal) })
    rpc.register('kubo.repoGc', {
      policy: 'trusted',
      maxMs: REPO_GC_TIMEOUT_MS,
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
      if (this.recordWatchers.size > 0) {
        for (const r of change.added) this.recordWatchers.emit(r.cid)
        for (const u of change.updated) this.recordWatchers.emit(u.after.cid)
        for (const r of change.removed) this.recordWatchers.emit(r.cid)
      }
    }))
    // One re-allocation walk at a time: two interleaved walks could each write a pin from the record as it was before the other's change.
    this.cleanups.push(this.c.peerLoss.onPeerGone((peer) => { this.reallocating = this.reallocating.then(async () => { await this.onPeerGone(peer) }) }))
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
  pins (options: { signal?: AbortSignal } = {}): AsyncIterable<readonly PinRecord[]> { return this.c.pinset.scan(options) }
  async pinPage (options: { cursor?: string, limit: number, signal?: AbortSignal }): Promise<PinPage> { return await this.c.pinset.page(options) }
  pinsetStats (): Record<string, number> { return { ...this.c.pinset.stats(), ...this.c.replicationStats?.(), queued: this.c.tracker.queued() } }

  async pin (request: PinRequest, options: { signal?: AbortSignal } = {}): Promise<PinRecord> {
    const [record] = await this.pinMany([request], options)
    return record as PinRecord
  }

  async pinMany (requests: readonly PinRequest[], options: { signal?: AbortSignal } = {}): Promise<PinRecord[]> {
    const now = this.now()
    const candidates = this.candidates()
    const aliveSet = new Set(candidates.map(c => c.peer))
    // One lookup for the batch: a pinset shard is decoded once, not once per pin.
    const known = this.c.pinset.getMany(requests.map(r => canonicalCid(r.cid)))
    const records = requests.map((r): PinRecord => {
      const cid = canonicalCid(r.cid)
      const existing = known.get(cid)
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
    const all = cids.map(canonicalCid)
    const known = this.c.pinset.getMany(all)
    const keys = all.filter(k => known.has(k))
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
    const alive = this.trustedAlive()
    const holders = record.allocations.length > 0 ? record.allocations : alive
    const peerMap: Record<string, PinInfo> = {}
    await Promise.all(holders.map(async (peer) => {
      peerMap[peer] = await this.askStatus(peer, key, options)
    }))
    for (const peer of alive) peerMap[peer] ??= { cid: key, peer, status: 'remote', attempts: 0, priority: false, updatedAt: this.now() }
    return this.globalInfo(record, peerMap)
  }

  async * statusAll (options: { signal?: AbortSignal } = {}): AsyncIterable<GlobalPinInfo> {
    let first = true
    for await (const batch of this.c.pinset.scan(options)) {
      for (let i = 0; i < batch.length; i += STATUS_BATCH) {
        yield * await this.globalStatus(batch.slice(i, i + STATUS_BATCH), first, options)
        first = false
      }
    }
  }

  async statusPage (options: { cursor?: string, limit: number, signal?: AbortSignal }): Promise<GlobalPinPage> {
    if (!Number.isInteger(options.limit) || options.limit < 1 || options.limit > MAX_STATUS_BATCH) throw new InvalidParametersError(`limit must be a whole number from 1 to ${MAX_STATUS_BATCH}, got ${options.limit}`)
    const page = await this.c.pinset.page(options)
    // The first page of a walk has every peer list its Kubo's pins anew; later pages reuse that listing.
    const pins = await this.globalStatus(page.pins, options.cursor === undefined, options)
    return { pins, ...(page.next !== undefined ? { next: page.next } : {}) }
  }

  /** Every live trusted peer's status of `records`, one bounded `tracker.statusMany` call per peer. */
  private async globalStatus (records: readonly PinRecord[], refresh: boolean, options: { signal?: AbortSignal }): Promise<GlobalPinInfo[]> {
    if (records.length === 0) return []
    const alive = this.trustedAlive()
    const cids = records.map(r => r.cid)
    const byPeer = new Map<string, Map<string, PinInfo> | string>()
    await Promise.all(alive.map(async (peer) => {
      try {
        const list = await this.c.rpc.call<PinInfo[]>(peer, 'tracker.statusMany', { cids, refresh }, { signal: options.signal, timeoutMs: this.init.statusTimeoutMs * (refresh ? 4 : 1) })
        byPeer.set(peer, new Map(list.map(i => [i.cid, i])))
      } catch (err) {
        options.signal?.throwIfAborted()
        byPeer.set(peer, (err as Error).message)
      }
    }))
    const out: GlobalPinInfo[] = []
    for (const record of records) {
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

  /**
   * Event-driven: one long-poll (`tracker.waitStatus`) per allocated peer, answered by that peer's
   * tracker when its own pin operation ends, and a look at this peer's pinset when the pin
   * changes here. No peer's Kubo is asked anything.
   */
  async waitPinned (cid: string, options: { signal?: AbortSignal, onProgress?: (nodes: number, bytes: number) => void } = {}): Promise<GlobalPinInfo> {
    const key = canonicalCid(cid)
    options.signal?.throwIfAborted()
    const done = new AbortController()
    // Ends every long-poll of this wait once it is decided; the caller's signal gets one listener, removed by clear().
    const signal = withTimeout([options.signal, done.signal], undefined)
    const seen = new Map<string, PinInfo>()
    const watching = new Set<string>()
    let relevant: readonly string[] = []
    let unwatch = (): void => {}
    let onAbort = (): void => {}
    try {
      return await new Promise<GlobalPinInfo>((resolve, reject) => {
        const check = (): void => {
          try {
            const record = this.c.pinset.get(key)
            if (record === undefined) throw new NotFoundError(`${key} is not in the cluster pinset`)
            relevant = record.allocations.length > 0 ? record.allocations : this.trustedAlive()
            const needed = record.replicationMin > 0 ? Math.min(record.replicationMin, relevant.length) : relevant.length
            const states = relevant.map(p => seen.get(p))
            // Before deciding too: the final count, as Kubo's last progress line has it.
            const progress = options.onProgress !== undefined ? pinProgress(p => seen.get(p), relevant, this.c.self) : undefined
            if (progress !== undefined) options.onProgress?.(progress.nodes, progress.bytes)
            if (states.filter(s => s?.status === 'pinned').length >= needed) {
              const peerMap: Record<string, PinInfo> = {}
              for (const [p, s] of seen) if (relevant.includes(p)) peerMap[p] = s
              for (const p of this.trustedAlive()) if (!relevant.includes(p)) peerMap[p] = { cid: key, peer: p, status: 'remote', attempts: 0, priority: false, updatedAt: this.now() }
              resolve(this.globalInfo(record, peerMap))
              return
            }
            const failed = states.filter(s => s?.status === 'pin_error')
            if (relevant.length - failed.length < needed) throw new Error(failed[0]?.error ?? 'pin failed on the allocated peers')
            for (const peer of relevant) {
              if (watching.has(peer) || seen.get(peer)?.status === 'pinned') continue
              watching.add(peer)
              const watch = { signal, seen, progress: options.onProgress !== undefined, relevant: () => relevant.includes(peer), changed: check }
              this.watchPeer(peer, key, watch).catch(() => {}).finally(() => { watching.delete(peer) })
            }
          } catch (err) {
            reject(err)
          }
        }
        onAbort = () => { reject(signal.reason) }
        signal.addEventListener('abort', onAbort, { once: true })
        unwatch = this.recordWatchers.add(key, check)
        check()
      })
    } finally {
      signal.removeEventListener('abort', onAbort)
      unwatch()
      done.abort()
      signal.clear()
    }
  }

  /**
   * Follows one peer's status of `cid` into `w.seen` until it is pinned there, the peer is no
   * longer relevant, or the wait ends; calls `w.changed` after each answer.
   */
  private async watchPeer (peer: string, cid: string, w: { signal: AbortSignal, seen: Map<string, PinInfo>, progress: boolean, relevant: () => boolean, changed: () => void }): Promise<void> {
    const waitMs = this.init.statusWaitMs
    while (!w.signal.aborted && w.relevant()) {
      const last = w.seen.get(peer)
      const known: KnownStatus | undefined = last === undefined ? undefined : { status: last.status, updatedAt: last.updatedAt, attempts: last.attempts, ...(last.progress !== undefined ? { progress: last.progress } : {}) }
      let info: PinInfo
      try {
        const params = { cid, known, progress: w.progress, progressDelayMs: this.init.statusPollMs, timeoutMs: waitMs }
        info = await this.c.rpc.call<PinInfo>(peer, 'tracker.waitStatus', params, { signal: w.signal, timeoutMs: waitMs + this.init.statusTimeoutMs, channel: true })
      } catch (err) {
        if (w.signal.aborted) return
        this.log.debug({ err, peer, cid }, 'waiting for a peer\'s pin status failed; asking it again shortly')
        await delay(this.init.statusPollMs, undefined, { signal: w.signal })
        info = await this.askStatus(peer, cid, { signal: w.signal })
      }
      w.seen.set(peer, info)
      w.changed()
      if (info.status === 'pinned') return
    }
  }

  private trustedAlive (): string[] {
    return this.c.monitor.alive().map(m => m.peer).filter(p => this.c.isTrusted(p))
  }

  async recover (cid: string, options: { signal?: AbortSignal } = {}): Promise<GlobalPinInfo> {
    const key = canonicalCid(cid)
    const alive = this.trustedAlive()
    await Promise.allSettled(alive.map(async (peer) => await this.c.rpc.call(peer, 'tracker.recover', { cid: key }, { signal: options.signal, timeoutMs: this.init.statusTimeoutMs })))
    return await this.status(key, options)
  }

  async recoverAll (options: { signal?: AbortSignal } = {}): Promise<Record<string, number | string>> {
    const out: Record<string, number | string> = {}
    const alive = this.trustedAlive()
    await Promise.all(alive.map(async (peer) => {
      try { out[peer] = await this.c.rpc.call<number>(peer, 'tracker.recoverAll', {}, { signal: options.signal, timeoutMs: this.init.statusTimeoutMs * 4 }) } catch (err) { out[peer] = (err as Error).message }
    }))
    return out
  }

  async resolve (path: string, options: { signal?: AbortSignal, strict?: boolean } = {}): Promise<string> {
    return await this.c.kubo.resolve(path, options)
  }

  listPins (options: { type: PinLsType, signal?: AbortSignal }): AsyncIterable<ListedPin> {
    return this.pinListing().list(options.type, options.signal)
  }

  async checkPins (cids: readonly string[], options: { type: PinLsType, signal?: AbortSignal }): Promise<Array<ListedPin | undefined>> {
    const listing = this.pinListing()
    const out: Array<ListedPin | undefined> = []
    for (const cid of cids) out.push(await listing.check(canonicalCid(cid), options.type, options.signal))
    return out
  }

  async adopt (request: AdoptRequest, options: { signal?: AbortSignal } = {}): Promise<AdoptResult> {
    const { cids, ...clusterOptions } = request
    const local = new Map<string, { mode: PinRecord['mode'], name: string }>()
    for await (const p of this.c.kubo.pinLs(options)) if (p.type !== 'indirect') local.set(canonicalCid(p.cid), { mode: p.type, name: p.name ?? '' })
    // `all` leaves out cluster pins this peer's tracker is removing from Kubo (a pin/rm just made).
    const wanted = cids === undefined ? [...local.keys()].filter(cid => !this.c.tracker.leaving(cid)) : [...new Set(cids.map(canonicalCid))]
    for (const cid of wanted) {
      if (!local.has(cid)) throw new InvalidParametersError(`${cid} is not pinned recursively or directly in this peer's kubo`)
    }
    const inPinset = wanted.filter(cid => this.c.pinset.has(cid))
    const fresh = wanted.filter(cid => !this.c.pinset.has(cid))
    if (fresh.length === 0) return { adopted: [], inPinset }
    const allocations = this.adoptAllocations(clusterOptions)
    const adopted = await this.pinMany(fresh.map(cid => {
      const p = local.get(cid) as { mode: PinRecord['mode'], name: string }
      return { ...clusterOptions, cid, mode: p.mode, name: p.name, allocations }
    }), options)
    this.log.info({ count: adopted.length }, 'adopted pins of this peer\'s kubo into the pinset')
    return { adopted, inPinset }
  }

  /** Allocations for adopted pins: this peer (its Kubo holds them already), then others as the options ask. */
  private adoptAllocations (r: Omit<PinRequest, 'cid'>): string[] {
    const { min, max } = this.replication({ cid: '', ...r })
    if (min === -1 && max === -1) return []
    const self = this.c.self
    const allocations = this.c.allocator.allocate({ current: [], priority: [self, ...(r.userAllocations ?? [])], blacklist: [], min, max, candidates: this.candidates() })
    return allocations.includes(self) ? allocations : [self, ...allocations.slice(0, Math.max(0, max - 1))]
  }

  private pinListing (): PinListing {
    return new PinListing({
      kubo: this.c.kubo,
      rpc: this.c.rpc,
      logger: this.log,
      scan: (signal) => this.c.pinset.scan({ signal }),
      get: (cid) => this.c.pinset.get(cid),
      leaving: (cid) => this.c.tracker.leaving(cid),
      holders: (record) => {
        const alive = this.trustedAlive().filter(p => p !== this.c.self)
        return record.allocations.length > 0 ? record.allocations.filter(p => alive.includes(p)) : alive
      }
    })
  }

  async repoStat (options: { signal?: AbortSignal, sizeOnly?: boolean } = {}): Promise<ClusterRepoStat> {
    const alive = this.trustedAlive()
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
    const alive = this.trustedAlive()
    const peers = alive.includes(this.c.self) ? alive : [this.c.self, ...alive]
    for (const peer of peers) {
      try {
        const r = await this.c.rpc.call<{ cids: string[], errors: string[] }>(peer, 'kubo.repoGc', {}, { signal: options.signal, timeoutMs: REPO_GC_TIMEOUT_MS })
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
    const query = single || request.command === 'add' ? unpinnedQuery(request.command, request.query) : request.query
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
    const pins = await this.pinMany(cids.map(cid => ({
      ...o.pin,
      cid,
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
    let changed: Array<{ before: PinRecord, after: PinRecord }> = []
    let total = 0
    // Written a chunk at a time as the walk goes: neither the pinset nor the changes are held whole.
    // The walk yields between batches, so a pin may have been unpinned or changed since it was read:
    // only those still as read are written (a later pass sees the others as they are now).
    const flush = async (): Promise<void> => {
      const chunk = changed.filter(c => sameRecord(this.c.pinset.get(c.before.cid), c.before)).map(c => c.after)
      changed = []
      if (chunk.length === 0) return
      await this.c.pinset.put(chunk)
      total += chunk.length
    }
    try {
      for await (const batch of this.c.pinset.scan()) {
        for (const record of batch) {
          if (!record.allocations.includes(dead)) continue
          if (electedPeer(record.cid, electorate) !== this.c.self) continue
          const current = record.allocations.filter(p => live.has(p))
          if (current.length >= record.replicationMin) continue
          try {
            const allocations = this.c.allocator.allocate({ current, priority: [], blacklist: [dead], min: record.replicationMin, max: record.replicationMax, candidates })
            // updatedAt stays the time of the last request: a re-allocation is not one, and so loses to a
            // concurrent unpin (see ShardedPinSet.removeWins) and to a concurrent change asked for by a user.
            changed.push({ before: record, after: { ...record, allocations, updatedBy: this.c.self } })
          } catch (err) {
            this.log.warn({ err, cid: record.cid }, 'cannot re-allocate a pin of a peer that went down')
          }
          if (changed.length >= WRITE_CHUNK) await flush()
        }
      }
      await flush()
    } catch (err) {
      this.log.warn({ err, peer: dead, pins: total }, 're-allocating the pins of a peer that went down failed')
      return
    }
    if (total > 0) this.log.info({ peer: dead, pins: total }, 're-allocated pins of a peer that went down')
  }

  private async maintain (): Promise<void> {
    if (this.maintaining) return
    this.maintaining = true
    try {
      const electorate = this.candidates().map(c => c.peer)
      const now = this.now()
      const isExpired = (r: PinRecord | undefined): boolean => r?.expireAt !== undefined && r.expireAt <= now
      let expired: string[] = []
      let removed = 0
      // Removed a chunk at a time during the walk; a pin renewed since it was read (the walk yields) is kept.
      const flush = async (): Promise<void> => {
        const chunk = expired.filter(cid => isExpired(this.c.pinset.get(cid)))
        expired = []
        if (chunk.length === 0) return
        await this.c.pinset.remove(chunk)
        removed += chunk.length
      }
      for await (const batch of this.c.pinset.scan()) {
        for (const r of batch) {
          if (!isExpired(r) || electedPeer(r.cid, electorate) !== this.c.self) continue
          expired.push(r.cid)
          if (expired.length >= WRITE_CHUNK) await flush()
        }
      }
      await flush()
      if (removed > 0) this.log.info({ count: removed }, 'removed expired pins')
      if (this.init.connectKubos) for (const m of this.c.monitor.alive()) await this.connectKubo(m)
    } catch (err) {
      this.log.warn({ err }, 'cluster maintenance failed')
    } finally {
      this.maintaining = false
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

/**
 * The cluster options of an upload, from Kubo's query plus IPFS Cluster's names. The pins are
 * named only when asked (`name`, or add's `pin-name`), as Kubo and IPFS Cluster name theirs.
 * @throws KuboApiError with Kubo's text for a `pin-name` over 255 bytes.
 */
function uploadOptions (q: URLSearchParams, command: UploadRequest['command']): { local: boolean, pin: Omit<PinRequest, 'cid'> } {
  const pin = pinOptionsFromQuery(q, Date.now())
  const pinName = command === 'add' ? q.get('pin-name') : null
  if (pinName !== null) assertPinName(pinName, 'add')
  const name = q.get('name') ?? pinName
  if (name !== null) pin.name = name
  return { local: queryFlag(q, 'local', false), pin }
}

/**
 * The query the destinations' Kubos get: `pin=false`, since each allocated peer's tracker pins.
 * add's `pin-name` is dropped with it (Kubo refuses a pin name without pin; the cluster pin takes
 * it), but stays when the client itself said pin=false, so Kubo answers its own error; a `pin`
 * value Kubo cannot parse is left for Kubo to refuse.
 */
function unpinnedQuery (command: UploadRequest['command'], query: string): string {
  const q = new URLSearchParams(query)
  const asked = q.get('pin')
  const pin = asked === null ? command === 'add' : parseGoBool(asked)
  if (pin === undefined) return query
  if (command === 'add' && pin) q.delete('pin-name')
  q.set('pin', 'false')
  return q.toString()
}

/** The CIDs Kubo's own options say to pin: what `ipfs add`, `dag import`, `block put`, `dag put` would pin. */
function pinnedBy (command: UploadRequest['command'], q: URLSearchParams, results: Array<Record<string, unknown>>): string[] {
  switch (command) {
    case 'add': {
      if (!queryFlag(q, 'pin', true) || queryFlag(q, 'only-hash', false) || queryFlag(q, 'n', false)) return []
      const wrap = queryFlag(q, 'wrap-with-directory', false) || queryFlag(q, 'w', false)
      // Kubo pins each top-level entry, or only the wrapping directory (named "").
      return results
        .filter(r => typeof r.Name === 'string' && (wrap ? r.Name === '' : !(r.Name as string).includes('/')))
        .map(r => r.Hash as string)
    }
    case 'dag/import': {
      if (!queryFlag(q, 'pin-roots', true)) return []
      return results.map(r => pinnedRoot(r.Root)).filter((cid): cid is string => cid !== undefined)
    }
    case 'block/put':
      return results.filter(r => typeof r.Key === 'string').map(r => r.Key as string)
    case 'dag/put':
      return results.map(r => (r.Cid as { '/': string } | undefined)?.['/']).filter((c): c is string => typeof c === 'string')
  }
}

function unwrapRpc (err: unknown): unknown {
  return err instanceof RpcError && err.cause !== undefined ? err.cause : err
}

/** Whether the pinset's record `now` is still the version `read` (same request, same allocations). */
function sameRecord (now: PinRecord | undefined, read: PinRecord): boolean {
  return now !== undefined && now.updatedAt === read.updatedAt && now.updatedBy === read.updatedBy &&
    now.allocations.length === read.allocations.length && now.allocations.every((p, i) => p === read.allocations[i])
}

/** `tracker.statusMany` parameters from another peer, checked: a trusted peer, but still JSON, and bounded. */
function statusManyParams (p: unknown): { cids: string[], refresh: boolean } {
  const o = (typeof p === 'object' && p !== null ? p : {}) as Record<string, unknown>
  if (!Array.isArray(o.cids) || !o.cids.every(c => typeof c === 'string')) throw new InvalidParametersError('cids must be a list of CIDs')
  if (o.cids.length > MAX_STATUS_BATCH) throw new InvalidParametersError(`at most ${MAX_STATUS_BATCH} CIDs per status call, got ${o.cids.length}`)
  // The caller's CIDs come from its pinset, canonical already; one that is not is just not found.
  return { cids: o.cids as string[], refresh: o.refresh === true }
}

/** Bounds on a remote caller's long-poll. */
const MAX_WAIT_MS = 60_000

/** `tracker.waitStatus` parameters from another peer, checked: it is a trusted peer, but still JSON. */
function waitParams (p: unknown): { timeoutMs: number, known?: KnownStatus, progress: boolean, progressDelayMs: number } {
  const o = (typeof p === 'object' && p !== null ? p : {}) as Record<string, unknown>
  const ms = (v: unknown): number => typeof v === 'number' && Number.isFinite(v) ? Math.min(Math.max(v, 0), MAX_WAIT_MS) : 0
  const timeoutMs = ms(o.timeoutMs)
  const k = o.known as Record<string, unknown> | undefined
  const known: KnownStatus | undefined = typeof k === 'object' && k !== null && typeof k.status === 'string'
    ? {
        status: k.status as KnownStatus['status'],
        updatedAt: typeof k.updatedAt === 'number' ? k.updatedAt : 0,
        attempts: typeof k.attempts === 'number' ? k.attempts : 0,
        ...(typeof k.progress === 'object' && k.progress !== null ? { progress: { nodes: Number((k.progress as { nodes?: unknown }).nodes) || 0, bytes: Number((k.progress as { bytes?: unknown }).bytes) || 0 } } : {})
      }
    : undefined
  return { timeoutMs, progress: o.progress === true, progressDelayMs: ms(o.progressDelayMs), ...(known !== undefined ? { known } : {}) }
}
