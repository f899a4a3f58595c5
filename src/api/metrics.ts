import { Registry, Gauge, Histogram, Counter, collectDefaultMetrics } from 'prom-client'
import type { Cluster, GlobalPinInfo } from '../cluster/index.js'
import type { TrackerStatus } from '../tracker/index.js'
import type { Logger } from '../logger.js'

export interface AdminMetricsInit {
  /** The cluster-wide status behind `pinmesh_pins` and the replication deficit is recomputed at most this often. */
  statusIntervalMs: number
  /** Also export prom-client's process and Node.js metrics (`process_*`, `nodejs_*`). @default true */
  processMetrics?: boolean
  /** A scrape waits this long for a status refresh before answering with the previous figures. @default 5000 */
  scrapeWaitMs?: number
}

export interface AdminMetricsComponents {
  cluster: Cluster
  logger: Logger
}

/** A finished proxy request (see proxy/server.ts `observe`). */
export interface ProxyObservation { command: string, method: string, status: number, seconds: number }

const STATUSES = [
  'queued', 'pinning', 'pinned', 'pin_error', 'unpin_queued', 'unpinning', 'unpinned', 'unpin_error',
  'remote', 'unexpectedly_unpinned', 'cluster_error'
] as const satisfies readonly TrackerStatus[]
const METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'HEAD'])
const BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]
/** Distinct proxy command labels kept; later ones are counted as `other`. */
const MAX_COMMANDS = 100

interface StatusSnapshot { at: number, byStatus: Map<string, number>, deficit: number, /** How long computing it took. */ tookMs?: number }

/**
 * A cluster-wide status that took this long or more (a walk of a big pinset) is recomputed at most
 * every STATUS_BACKOFF times its duration, so that scrapes never keep a walk running back to back.
 */
const SLOW_STATUS_MS = 1000
const STATUS_BACKOFF = 10

/**
 * The Prometheus metrics of one daemon, in a registry of its own (never prom-client's global
 * one, so several nodes can live in one process). Cheap figures are read at scrape time (the
 * pinset's size from its figures, never a walk); the cluster-wide status (one streamed `statusAll`
 * walk) is cached for `statusIntervalMs`, or ten times as long as it took when it took over a second.
 */
export class AdminMetrics {
  readonly registry = new Registry()
  private readonly cluster: Cluster
  private readonly log: Logger
  private readonly init: Required<AdminMetricsInit>
  private readonly apiLatency: Histogram<'route' | 'method' | 'status'>
  private readonly proxyLatency: Histogram<'command' | 'method' | 'status'>
  private readonly statusErrors: Counter
  private readonly commands = new Set<string>()
  private snapshot?: StatusSnapshot
  private refreshing?: Promise<void>

  constructor (components: AdminMetricsComponents, init: AdminMetricsInit) {
    this.cluster = components.cluster
    this.log = components.logger
    this.init = { processMetrics: true, scrapeWaitMs: 5000, ...init }
    const registers = [this.registry]
    const self = this

    new Gauge({
      name: 'pinmesh_pins',
      help: 'Pins of the cluster pinset by their status on this peer (remote: allocated elsewhere)',
      labelNames: ['status'],
      registers,
      async collect () {
        const s = await self.status()
        for (const status of STATUSES) this.set({ status }, s?.byStatus.get(status) ?? 0)
      }
    })
    new Gauge({
      name: 'pinmesh_replication_deficit',
      help: 'Pins held (status pinned) by fewer peers than their replication-min (-1: every live peer)',
      registers,
      async collect () { this.set((await self.status())?.deficit ?? 0) }
    })
    new Gauge({
      name: 'pinmesh_status_age_seconds',
      help: 'Age of the cluster-wide status behind pinmesh_pins and pinmesh_replication_deficit',
      registers,
      collect () { if (self.snapshot !== undefined) this.set((Date.now() - self.snapshot.at) / 1000) }
    })
    this.statusErrors = new Counter({
      name: 'pinmesh_status_errors_total',
      help: 'Failed recomputations of the cluster-wide status for these metrics',
      registers
    })
    new Gauge({
      name: 'pinmesh_pinset_pins',
      help: 'Pins in the cluster pinset',
      registers,
      collect () { this.set(self.cluster.pinsetStats().pins ?? 0) }
    })
    new Gauge({
      name: 'pinmesh_pin_queue_length',
      help: 'Pin and unpin operations waiting in this peer\'s tracker',
      registers,
      collect () { this.set(self.cluster.pinsetStats().queued ?? 0) }
    })
    new Gauge({
      name: 'pinmesh_peers',
      help: 'Other cluster peers this peer knows of, is connected to, and sees alive (current metrics)',
      labelNames: ['state'],
      registers,
      collect () {
        const peers = self.cluster.peers()
        this.set({ state: 'known' }, peers.length)
        this.set({ state: 'connected' }, peers.filter(p => p.connected).length)
        this.set({ state: 'alive' }, peers.filter(p => p.alive === true).length)
      }
    })
    this.apiLatency = new Histogram({
      name: 'pinmesh_api_request_duration_seconds',
      help: 'Admin API requests by route pattern, method and status code',
      labelNames: ['route', 'method', 'status'],
      buckets: BUCKETS,
      registers
    })
    this.proxyLatency = new Histogram({
      name: 'pinmesh_proxy_request_duration_seconds',
      help: 'Kubo-API proxy requests by command, method and status code (until the response ends)',
      labelNames: ['command', 'method', 'status'],
      buckets: BUCKETS,
      registers
    })
    if (this.init.processMetrics) collectDefaultMetrics({ register: this.registry })
  }

  get contentType (): string { return this.registry.contentType }

  /** The metrics in Prometheus' text format. */
  async render (): Promise<string> { return await this.registry.metrics() }

  observeApi (route: string, method: string, status: number, seconds: number): void {
    this.apiLatency.observe({ route, method: METHODS.has(method) ? method : 'other', status: String(status) }, seconds)
  }

  /** For the proxy's `observe` hook. */
  readonly observeProxy = (o: ProxyObservation): void => {
    let command = o.command
    if (!this.commands.has(command)) {
      if (this.commands.size >= MAX_COMMANDS) command = 'other'
      else this.commands.add(command)
    }
    this.proxyLatency.observe({ command, method: METHODS.has(o.method) ? o.method : 'other', status: String(o.status) }, o.seconds)
  }

  /** The cached status, refreshed when stale; a slow refresh answers with the previous one. */
  private async status (): Promise<StatusSnapshot | undefined> {
    const s = this.snapshot
    const took = s?.tookMs ?? 0
    if (s !== undefined && Date.now() - s.at < Math.max(this.init.statusIntervalMs, took >= SLOW_STATUS_MS ? took * STATUS_BACKOFF : 0)) return s
    this.refreshing ??= this.refresh().finally(() => { this.refreshing = undefined })
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.refreshing, new Promise<void>((resolve) => { timer = setTimeout(resolve, this.init.scrapeWaitMs) })])
    clearTimeout(timer)
    return this.snapshot
  }

  private async refresh (): Promise<void> {
    try {
      // Streamed and counted as it comes: the pins' statuses are never all held at once.
      const at = Date.now()
      const s = await summarize(this.cluster.statusAll({ signal: AbortSignal.timeout(120_000) }), this.cluster.identity().id, at)
      this.snapshot = { ...s, tookMs: Date.now() - at }
    } catch (err) {
      this.statusErrors.inc()
      this.log.warn({ err }, 'cluster status for metrics failed')
    }
  }
}

/** Pins by this peer's status, and how many pins are held by fewer peers than they need. */
export async function summarize (all: AsyncIterable<GlobalPinInfo> | Iterable<GlobalPinInfo>, self: string, at: number): Promise<StatusSnapshot> {
  const byStatus = new Map<string, number>()
  let deficit = 0
  for await (const g of all) {
    const mine = g.peerMap[self]
    if (mine !== undefined) byStatus.set(mine.status, (byStatus.get(mine.status) ?? 0) + 1)
    const infos = Object.values(g.peerMap)
    const needed = g.replicationMin > 0 ? g.replicationMin : infos.length
    if (infos.filter(i => i.status === 'pinned').length < needed) deficit++
  }
  return { at, byStatus, deficit }
}
