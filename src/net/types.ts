import type { AbortOptions, Libp2p, PrivateKey } from '@libp2p/interface'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { Ping } from '@libp2p/ping'
import type { NetConfig } from '../config/index.js'
import type { Logger } from '../logger.js'
import type { Startable } from '../lifecycle.js'

/** The libp2p services every cluster peer runs. (A type alias: libp2p's `ServiceMap` needs an index signature.) */
export type ClusterServices = {
  /**
   * Gossipsub with `StrictSign` (every message is signed by its origin; authorise on `msg.from`, never on the
   * relaying peer) and `allowPublishToZeroTopicPeers` (publishing with nobody subscribed resolves with
   * `recipients: []` instead of throwing). Payloads above `MAX_PUBSUB_MESSAGE_BYTES` are not guaranteed to arrive.
   */
  pubsub: GossipSub
  identify: Identify
  ping: Ping
}

/** The cluster's libp2p node, for protocols built on it (`handle`, `register`, `dialProtocol`, pubsub). */
export type ClusterLibp2p = Libp2p<ClusterServices>

/** What `listPeers()` knows about one cluster peer. */
export interface PeerInfo {
  /** Peer id (base58btc / CIDv1 string as libp2p prints it). */
  readonly id: string
  /** Dialable addresses without the trailing `/p2p/<id>`: what the peer announced (identify), else what we dialled. */
  readonly addresses: readonly string[]
  /** Whether a connection to the peer is open now. */
  readonly connected: boolean
  /**
   * When the peer was last seen connected, in ms since the epoch: the current time while connected, the time the
   * last connection closed otherwise (kept across restarts), `undefined` if it never was (e.g. a bootstrap peer not
   * reached yet).
   */
  readonly lastSeen: number | undefined
}

/** The `net` config section: listen/announce addresses, bootstrap peers, dial timeout and redial backoff. */
export type ClusterNetInit = NetConfig

export interface ClusterNetComponents {
  /** This peer's identity (see `loadOrCreateIdentity`). */
  privateKey: PrivateKey
  /**
   * The private-network key in Kubo's swarm.key format (see `swarmKeyFromSecret`). Without it the swarm is open to
   * any libp2p peer that knows an address; a warning is logged.
   */
  psk?: Uint8Array
  /** The `net` component's logger. */
  logger: Logger
  /** Directory for `peers.json` (the peers this node knew, dialled again at start). */
  dataDir: string
}

/**
 * The cluster swarm: a libp2p node over TCP + pnet + noise + yamux with identify, ping and gossipsub, which keeps
 * its peers connected. Peers named in `net.bootstrap` and every peer it has been connected to are "known": they are
 * dialled at start and redialled with exponential backoff (`redialMinMs` doubling up to `redialMaxMs`, ±20 % jitter)
 * whenever they go away. Known peers and their addresses are kept in `<dataDir>/peers.json`.
 *
 * `libp2p` exists before `start()`, so other components may `handle`/`register` protocols up front.
 */
export interface ClusterNet extends Startable {
  readonly libp2p: ClusterLibp2p
  /** This peer's id. */
  readonly peerId: string
  /** Listening addresses, each ending in `/p2p/<peerId>` (empty before start). */
  addresses (): string[]
  /** Every known peer (bootstrap, connected now, or connected before), sorted by id; never this peer. */
  listPeers (): PeerInfo[]
  /**
   * Dials a peer at `address` (a multiaddr ending in `/p2p/<id>`) and makes it a known peer.
   * Gives up after `dialTimeoutMs`. Throws `PeerDialError`, or `NotStartedError` when not started.
   */
  connect (address: string, options?: AbortOptions): Promise<void>
  start (): Promise<void>
  stop (): Promise<void>
}
