import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Config } from './config/index.js'
import { createRootLogger, forComponent, type Logger } from './logger.js'
import { startAll, stopAll, type Startable } from './lifecycle.js'
import { KuboProxy, clusterIntercepts, kuboAuthorizationHeader } from './proxy/index.js'
import { createClusterNet, loadOrCreateIdentity, swarmKeyFromSecret, type ClusterNet } from './net/index.js'
import { ShardedPinSet } from './pinset/index.js'
import { PinsetReplicator } from './pinset/sync/index.js'
import { PinsetCluster, type Cluster } from './cluster/index.js'
import { AdminApi, AdminMetrics } from './api/index.js'
import { HttpKuboClient } from './kubo/index.js'
import { StatelessTracker } from './tracker/index.js'
import { GossipMonitor, LoopLag, PingLossDetector } from './metrics/index.js'
import { BalancedAllocator } from './allocator/index.js'
import { Libp2pRpc } from './rpc/index.js'
import { RemoteAdd, openLocalDestination, reportImportedRoots } from './adder/index.js'
import { toHttpUrl, toMultiaddr } from './utils/address.js'
import { PINMESH_VERSION } from './version.js'

/** A running pinmesh daemon: every component, started and stopped as one. */
export interface PinmeshNode {
  readonly config: Config
  readonly logger: Logger
  readonly peerId: string
  readonly cluster: Cluster
  readonly net: ClusterNet
  /** Where the Kubo-compatible API listens (after start). */
  proxyAddress (): string
  /** Where the admin API listens (after start). */
  apiAddress (): string
  start (): Promise<void>
  stop (): Promise<void>
}

export interface NodeOverrides {
  /** A logger to use instead of the one built from `config.log` (tests). */
  logger?: Logger
}

/**
 * The composition root: the only place that builds concrete components and wires them together.
 * Start order: what others consume first (pinset, swarm), ingress last; stop is the reverse.
 */
export async function createNode (config: Config, overrides: NodeOverrides = {}): Promise<PinmeshNode> {
  const root = overrides.logger ?? createRootLogger(config.log)
  const log = (name: string): Logger => forComponent(root, name, config.log)
  const privateKey = await loadOrCreateIdentity(config.path)
  const net = await createClusterNet({ privateKey, psk: swarmKeyFromSecret(config.cluster.secret), logger: log('net'), dataDir: config.path }, config.net)
  const peerId = net.peerId
  const trustAll = config.cluster.trustedPeers.includes('*')
  const trustedSet = new Set(config.cluster.trustedPeers)
  const isTrusted = (peer: string): boolean => trustAll || peer === peerId || trustedSet.has(peer)
  const trusted = trustAll || trustedSet.has(peerId)
  const kuboUrl = toHttpUrl(config.kubo.api)
  const kuboAuthorization = kuboAuthorizationHeader(config.kubo.authorization)

  const kubo = new HttpKuboClient({ url: kuboUrl, connectTimeoutMs: config.kubo.connectTimeoutMs, requestTimeoutMs: config.kubo.requestTimeoutMs, logger: log('kubo'), authorization: kuboAuthorization })
  const pinset = new ShardedPinSet({ logger: log('pinset') }, {
    dir: join(config.path, 'pinset'),
    trusted,
    shards: config.pinset.shards,
    cachePins: config.pinset.cachePins,
    walBytes: config.pinset.compactLogBytes,
    removeWinsMs: config.pinset.removeWinsMs
  })
  const replicator = new PinsetReplicator({ libp2p: net.libp2p, doc: pinset, logger: log('pinset.sync') }, {
    clusterName: config.cluster.name,
    trustedPeers: config.cluster.trustedPeers,
    batchWindowMs: config.pinset.batchWindowMs,
    syncIntervalMs: config.pinset.syncIntervalMs,
    compactCheckIntervalMs: config.pinset.compactCheckIntervalMs,
    compactMinTombstones: config.pinset.compactMinTombstones,
    compactMinIntervalMs: config.pinset.compactMinIntervalMs
  })
  const stalls = new LoopLag()
  const tracker = new StatelessTracker({ kubo, pinset, self: peerId, logger: log('tracker') }, { ...config.tracker, pinTimeoutMs: config.kubo.pinTimeoutMs })
  const monitor = new GossipMonitor({
    libp2p: net.libp2p,
    logger: log('metrics'),
    clusterName: config.cluster.name,
    self: { peername: config.cluster.peername, addresses: () => net.addresses() },
    sample: async (options) => {
      const [id, stat] = await Promise.all([kubo.id(options), kubo.repoStat(options)])
      return {
        kubo: { id: id.id, addresses: id.addresses.filter(a => !a.includes('/p2p-circuit')).map(a => a.includes('/p2p/') ? a : `${a}/p2p/${id.id}`) },
        freeSpace: Math.max(0, stat.storageMax - stat.repoSize),
        queued: tracker.queued()
      }
    },
    trust: isTrusted,
    connect: async (address, options) => { await net.connect(address, options) },
    stalls
  }, config.metrics)
  const peerLoss = new PingLossDetector({
    monitor,
    probe: async (peer, options) => { await net.libp2p.services.ping.ping(peerIdFromString(peer), options) },
    connected: (peer) => net.libp2p.getConnections(peerIdFromString(peer)).length > 0,
    stalls,
    logger: log('metrics')
  }, { ttlMs: config.metrics.ttlMs })
  const allocator = new BalancedAllocator({ allocateBy: [...config.allocator.allocateBy] })
  const rpc = new Libp2pRpc({ libp2p: net.libp2p, logger: log('rpc'), isTrusted })
  const openLocal = async (command: string, query: string, contentType: string, signal: AbortSignal): ReturnType<typeof openLocalDestination> => {
    const dest = await openLocalDestination(peerId, kuboUrl, command, query, contentType, signal, kuboAuthorization)
    return command === 'dag/import' ? reportImportedRoots(dest, (roots) => { tracker.pinnedByUpload(roots) }) : dest
  }
  const remoteAdd = new RemoteAdd({ libp2p: net.libp2p, logger: log('adder'), isTrusted, openLocal })
  const cluster = new PinsetCluster({
    pinset,
    tracker,
    kubo,
    monitor,
    peerLoss,
    allocator,
    rpc,
    logger: log('cluster'),
    self: peerId,
    isTrusted,
    identity: () => ({ id: peerId, peername: config.cluster.peername, clusterName: config.cluster.name, addresses: net.addresses(), version: PINMESH_VERSION, trusted }),
    netPeers: () => net.listPeers().map(p => ({ id: p.id, addresses: p.addresses, connected: p.connected, ...(p.lastSeen !== undefined ? { lastSeen: p.lastSeen } : {}) })),
    replicationStats: () => replicator.stats(),
    openDestination: async (peer, command, query, contentType, signal) => peer === peerId
      ? await openLocal(command, query, contentType, signal)
      : await remoteAdd.open(peer, command, query, contentType, signal)
  }, {
    replicationMin: config.cluster.replicationMin,
    replicationMax: config.cluster.replicationMax,
    repinning: config.cluster.repinning,
    connectKubos: config.cluster.connectKubos,
    maintenanceIntervalMs: config.tracker.recoverIntervalMs
  })
  const metrics = new AdminMetrics({ cluster, logger: log('api') }, { statusIntervalMs: config.api.metricsStatusIntervalMs })
  const api = new AdminApi({ cluster, logger: log('api'), metrics }, config.api)
  const proxy = new KuboProxy({
    kuboUrl,
    kuboConnectTimeoutMs: config.kubo.connectTimeoutMs,
    kuboAuthorization,
    observe: metrics.observeProxy,
    intercepts: clusterIntercepts(cluster, { pinWait: config.cluster.pinWait, pinWaitTimeoutMs: config.cluster.pinWaitTimeoutMs }),
    logger: log('proxy')
  }, config.proxy)

  // The Kubo client only needs closing, after everything that calls it has stopped.
  const kuboLifecycle: Startable = { start: () => {}, stop: async () => { await kubo.close() } }
  const startOrder: Startable[] = [kuboLifecycle, stalls, pinset, net, replicator, rpc, remoteAdd, tracker, monitor, peerLoss, cluster, api, proxy]
  let state: 'new' | 'started' | 'stopped' = 'new'
  return {
    config,
    logger: root,
    peerId,
    cluster,
    net,
    proxyAddress: () => toMultiaddr(proxy.address),
    apiAddress: () => toMultiaddr(api.address),
    async start () {
      if (state !== 'new') return
      state = 'started'
      await startAll(startOrder)
    },
    async stop () {
      if (state !== 'started') return
      state = 'stopped'
      await stopAll([...startOrder].reverse())
    }
  }
}
