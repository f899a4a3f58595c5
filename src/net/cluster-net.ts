import { mkdir } from 'node:fs/promises'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { gossipsub } from '@libp2p/gossipsub'
import { preSharedKey } from '@libp2p/pnet'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { CODE_P2P, multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { AbortOptions, Connection, IdentifyResult, PeerId } from '@libp2p/interface'
import { InvalidConfigurationError, NotStartedError, PeerDialError } from '../errors.js'
import type { Logger } from '../logger.js'
import { PINMESH_VERSION } from '../version.js'
import { MAX_PUBSUB_FRAME_BYTES, STREAM_WINDOW_BYTES } from './limits.js'
import { PeerBook } from './peer-book.js'
import { Redialer } from './redialer.js'
import type { ClusterLibp2p, ClusterNet, ClusterNetComponents, ClusterNetInit, ClusterServices, PeerInfo } from './types.js'
import { withTimeout, type ClearableSignal } from '../utils/signals.js'

/**
 * Builds the cluster swarm (not started). Throws `InvalidConfigurationError` when a bootstrap address is not a
 * multiaddr ending in `/p2p/<peer id>`.
 */
export async function createClusterNet (components: ClusterNetComponents, init: ClusterNetInit): Promise<ClusterNet> {
  const bootstrap = parseBootstrap(init.bootstrap)
  if (components.psk === undefined) {
    components.logger.warn('cluster.secret is empty: the swarm is not a private network, any libp2p peer that knows an address can connect')
  }
  const libp2p = await createLibp2p<ClusterServices>({
    start: false,
    privateKey: components.privateKey,
    nodeInfo: { name: 'pinmesh', version: PINMESH_VERSION },
    addresses: { listen: [...init.listen], announce: [...init.announce] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    // A 4 MiB stream window (yamux defaults to 16 MiB) bounds what one upload stream buffers in memory.
    streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: STREAM_WINDOW_BYTES } })],
    ...(components.psk !== undefined ? { connectionProtector: preSharedKey({ psk: components.psk }) } : {}),
    connectionManager: { dialTimeout: init.dialTimeoutMs },
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        globalSignaturePolicy: 'StrictSign',
        allowPublishToZeroTopicPeers: true,
        maxInboundDataLength: MAX_PUBSUB_FRAME_BYTES
      })
    }
  })
  return new Libp2pClusterNet(libp2p, components, init, bootstrap)
}

class Libp2pClusterNet implements ClusterNet {
  readonly libp2p: ClusterLibp2p
  readonly peerId: string
  private readonly log: Logger
  private readonly init: ClusterNetInit
  private readonly bootstrap: Map<string, string[]>
  private readonly book: PeerBook
  private readonly redialer: Redialer
  private readonly dataDir: string
  private running = false

  constructor (libp2p: ClusterLibp2p, components: ClusterNetComponents, init: ClusterNetInit, bootstrap: Map<string, string[]>) {
    this.libp2p = libp2p
    this.peerId = peerIdFromPrivateKey(components.privateKey).toString()
    this.log = components.logger
    this.init = init
    this.dataDir = components.dataDir
    this.bootstrap = bootstrap
    this.bootstrap.delete(this.peerId)
    this.book = new PeerBook(components.dataDir, this.log)
    this.redialer = new Redialer(async (id, signal) => { await this.dialKnown(id, signal) }, { minMs: init.redialMinMs, maxMs: init.redialMaxMs }, this.log)
    libp2p.addEventListener('peer:connect', (evt) => { this.onConnect(evt.detail) })
    libp2p.addEventListener('peer:disconnect', (evt) => { this.onDisconnect(evt.detail) })
    libp2p.addEventListener('peer:identify', (evt) => { this.onIdentify(evt.detail) })
  }

  async start (): Promise<void> {
    if (this.running) return
    await mkdir(this.dataDir, { recursive: true })
    await this.book.load()
    try {
      await this.libp2p.start()
    } catch (err) {
      // e.g. one listen address taken: release the others before reporting it.
      try { await this.libp2p.stop() } catch { /* the start error is the one to report */ }
      throw err
    }
    this.running = true
    this.log.info({ peer: this.peerId, addresses: this.addresses() }, 'cluster swarm listening')
    this.redialer.start()
    for (const id of this.knownIds()) this.redialer.dialNow(id)
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.redialer.stop()
    // libp2p does not report the disconnects its own stop causes, so record them here.
    const now = Date.now()
    for (const peer of this.libp2p.getPeers()) this.book.update(peer.toString(), { lastSeen: now })
    try {
      await this.libp2p.stop()
    } finally {
      await this.book.flush()
    }
  }

  addresses (): string[] {
    return this.libp2p.getMultiaddrs().map(String)
  }

  listPeers (): PeerInfo[] {
    const now = Date.now()
    const connected = new Set(this.libp2p.getPeers().map(String))
    const ids = new Set([...this.knownIds(), ...connected])
    ids.delete(this.peerId)
    return [...ids].sort().map((id) => {
      const rec = this.book.get(id)
      const isConnected = connected.has(id)
      return {
        id,
        addresses: [...new Set([...(rec?.addresses ?? []), ...(this.bootstrap.get(id) ?? [])])],
        connected: isConnected,
        lastSeen: isConnected ? now : rec?.lastSeen
      }
    })
  }

  async connect (address: string, options: AbortOptions = {}): Promise<void> {
    if (!this.running) throw new NotStartedError('the cluster swarm is not started')
    let ma: Multiaddr
    try {
      ma = multiaddr(address)
      if (ma.getComponents().find(c => c.name === 'p2p') === undefined) throw new Error('must end in /p2p/<peer id>')
    } catch (err) {
      throw new PeerDialError(address, { cause: err })
    }
    const signal = this.dialSignal(options.signal)
    try {
      await this.libp2p.dial(ma, { signal })
    } catch (err) {
      throw new PeerDialError(address, { cause: err })
    } finally {
      signal.clear()
    }
  }

  private knownIds (): string[] {
    return [...new Set([...this.bootstrap.keys(), ...this.book.all().map(p => p.id)])].filter(id => id !== this.peerId)
  }

  private async dialKnown (id: string, signal: AbortSignal): Promise<void> {
    const peer = peerIdFromString(id)
    if (this.libp2p.getConnections(peer).length > 0) return
    const addrs = [...new Set([...(this.book.get(id)?.addresses ?? []), ...(this.bootstrap.get(id) ?? [])])]
    if (addrs.length === 0) throw new Error('no known address')
    const dialSignal = this.dialSignal(signal)
    try {
      await this.libp2p.dial(addrs.map(a => multiaddr(`${a}/p2p/${id}`)), { signal: dialSignal })
    } finally {
      dialSignal.clear()
    }
  }

  /** The caller's signal and the dial timeout; utils/signals.ts says why not AbortSignal.any. */
  private dialSignal (signal?: AbortSignal): ClearableSignal {
    return withTimeout([signal], this.init.dialTimeoutMs)
  }

  private onConnect (peer: PeerId): void {
    const id = peer.toString()
    const now = Date.now()
    // Only outbound connections have a dialable remote address; inbound ones get theirs from identify.
    const dialled = this.libp2p.getConnections(peer).filter(c => c.direction === 'outbound').map(c => withoutPeer(c))
    this.book.update(id, { addresses: dialled, lastSeen: now })
    this.redialer.connected(id, now)
    this.log.info({ peer: id }, 'peer connected')
  }

  private onDisconnect (peer: PeerId): void {
    const id = peer.toString()
    const now = Date.now()
    this.book.update(id, { lastSeen: now })
    if (this.running) this.redialer.disconnected(id, now)
    this.log.info({ peer: id }, 'peer disconnected')
  }

  private onIdentify (result: IdentifyResult): void {
    const id = result.peerId.toString()
    const addresses = result.listenAddrs
      .filter(a => a.getComponents().some(c => c.name === 'tcp') && !a.getComponents().some(c => c.name === 'p2p-circuit'))
      .map(a => withoutPeer(a))
    if (addresses.length > 0) this.book.update(id, { addresses, replace: true })
  }
}

function parseBootstrap (list: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>()
  const problems: string[] = []
  for (const address of list) {
    try {
      const ma = multiaddr(address)
      const id = ma.getComponents().findLast(c => c.name === 'p2p')?.value
      if (id === undefined) throw new Error('must end in /p2p/<peer id>')
      peerIdFromString(id)
      out.set(id, [...(out.get(id) ?? []), withoutPeer(ma)])
    } catch (err) {
      problems.push(`net.bootstrap: ${address}: ${(err as Error).message}`)
    }
  }
  if (problems.length > 0) throw new InvalidConfigurationError(problems)
  return out
}

/** The address as a string, without a trailing `/p2p/<id>`. */
function withoutPeer (target: Multiaddr | Connection): string {
  const ma = 'remoteAddr' in target ? target.remoteAddr : target
  return ma.getComponents().some(c => c.code === CODE_P2P) ? ma.decapsulateCode(CODE_P2P).toString() : ma.toString()
}
