import { join } from 'node:path'
import type { Config } from './config/index.js'
import { createRootLogger, forComponent, type Logger } from './logger.js'
import { startAll, stopAll, type Startable } from './lifecycle.js'
import { KuboProxy, type InterceptTable } from './proxy/index.js'
import { createClusterNet, loadOrCreateIdentity, swarmKeyFromSecret, type ClusterNet } from './net/index.js'
import { YjsPinSet } from './pinset/index.js'
import { PinsetReplicator } from './pinset/sync/index.js'
import { PinsetCluster, type Cluster } from './cluster/index.js'
import { AdminApi } from './api/index.js'
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
  const trusted = config.cluster.trustedPeers.includes('*') || config.cluster.trustedPeers.includes(peerId)

  const pinset = new YjsPinSet({ logger: log('pinset') }, { dir: join(config.path, 'pinset'), trusted, compactMinLogBytes: config.pinset.compactLogBytes })
  const replicator = new PinsetReplicator({ libp2p: net.libp2p, doc: pinset, logger: log('pinset.sync') }, {
    clusterName: config.cluster.name,
    trustedPeers: config.cluster.trustedPeers,
    batchWindowMs: config.pinset.batchWindowMs,
    syncIntervalMs: config.pinset.syncIntervalMs,
    compactCheckIntervalMs: config.pinset.compactCheckIntervalMs,
    compactMinTombstones: config.pinset.compactMinTombstones,
    compactMinIntervalMs: config.pinset.compactMinIntervalMs
  })
  const cluster = new PinsetCluster({
    pinset,
    logger: log('cluster'),
    identity: () => ({ id: peerId, peername: config.cluster.peername, clusterName: config.cluster.name, addresses: net.addresses(), version: PINMESH_VERSION, trusted }),
    replicationStats: () => replicator.stats(),
    peers: () => net.listPeers().map(p => ({ id: p.id, addresses: [...p.addresses], connected: p.connected, ...(p.lastSeen !== undefined ? { lastSeen: p.lastSeen } : {}) }))
  }, { replicationMin: config.cluster.replicationMin, replicationMax: config.cluster.replicationMax })
  const api = new AdminApi({ cluster, logger: log('api') }, config.api)
  const intercepts: InterceptTable = new Map()
  const proxy = new KuboProxy({
    kuboUrl: toHttpUrl(config.kubo.api),
    kuboConnectTimeoutMs: config.kubo.connectTimeoutMs,
    intercepts,
    logger: log('proxy')
  }, config.proxy)

  const startOrder: Startable[] = [pinset, net, replicator, api, proxy]
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
