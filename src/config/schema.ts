import { hostname } from 'node:os'
import { str, int, bool, oneOf, duration, listenAddress, httpEndpoint, stringMap, stringList, type Field } from './fields.js'

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const

/**
 * Every setting pinmesh reads, one section per component. Each component receives only its own
 * section. The README's configuration reference lists the same keys (a unit test keeps them in step).
 */
export const schema = {
  proxy: {
    listen: listenAddress('/ip4/127.0.0.1/tcp/9095', 'Address of the Kubo-compatible RPC API that clients point `ipfs --api` at.'),
    headersTimeoutMs: duration('headersTimeout', '30s', 'How long a client may take to send its request headers (bounds slow-loris clients; bodies have no time limit).', { minMs: 1000 }),
    keepAliveTimeoutMs: duration('keepAliveTimeout', '60s', 'How long an idle client connection is kept open.'),
    maxHeaderSize: int(16384, 'Largest request header block accepted, in bytes.', { min: 4096, max: 1 << 20 }),
    accessLog: bool(false, 'Log one line per proxied request (component `proxy.access`).')
  },
  kubo: {
    api: httpEndpoint('/ip4/127.0.0.1/tcp/5001', 'RPC address of the local Kubo daemon (multiaddr or http URL).'),
    connectTimeoutMs: duration('connectTimeout', '5s', 'Give up connecting to Kubo after this long; the client gets a Kubo-shaped error.', { minMs: 1 })
  },
  cluster: {
    name: str('pinmesh', 'Cluster name. Peers only replicate with peers of the same name (it names the gossip topic).', (v) => { if (v.trim() === '') throw new Error('must not be empty') }),
    peername: str(hostname(), 'Human-readable name of this peer.'),
    secret: str('', 'The 32-byte cluster secret as 64 hex characters: the libp2p private-network key. Only peers with the same secret can connect. `pinmesh init` generates one.', (v) => {
      if (v !== '' && !/^[0-9a-fA-F]{64}$/.test(v)) throw new Error('must be 64 hex characters (32 bytes)')
    }, { secret: true }),
    trustedPeers: stringList(['*'], 'Peer ids allowed to change the pinset (and push content), or "*" for every peer with the secret. Others may only follow.')
  },
  net: {
    listen: stringList(['/ip4/0.0.0.0/tcp/9096'], 'libp2p listen addresses of the cluster swarm.'),
    announce: stringList([], 'Addresses to announce to other peers instead of the listen addresses (e.g. behind NAT).'),
    bootstrap: stringList([], 'Peers to connect to at start, as multiaddrs ending in /p2p/<peer id> (also `--bootstrap`).'),
    dialTimeoutMs: duration('dialTimeout', '5s', 'Give up dialling a peer after this long.', { minMs: 100 }),
    redialMinMs: duration('redialMin', '1s', 'First wait before redialling a known peer that went away; doubles on each failure.', { minMs: 10 }),
    redialMaxMs: duration('redialMax', '1m', 'Longest wait between redials of a known peer.', { minMs: 10 })
  },
  log: {
    level: oneOf(LEVELS, 'info', 'Log level for every component.'),
    pretty: bool(process.stderr.isTTY === true, 'Human-readable log lines instead of JSON (default: on when stderr is a terminal).'),
    levels: stringMap({}, 'Per-component log levels, e.g. {"proxy": "debug"}; env/flag form proxy=debug,tracker=warn.')
  }
} as const satisfies Record<string, Record<string, Field<unknown>>>

export type Schema = typeof schema
type ValuesOf<S> = { readonly [K in keyof S]: S[K] extends Field<infer T> ? T : never }

export type ProxyConfig = ValuesOf<Schema['proxy']>
export type KuboConfig = ValuesOf<Schema['kubo']>
export type LogConfig = ValuesOf<Schema['log']>
export type ClusterConfig = ValuesOf<Schema['cluster']>
export type NetConfig = ValuesOf<Schema['net']>

/** The resolved, validated and frozen configuration. */
export interface Config {
  /** Directory holding config.json and pinmesh's state. */
  readonly path: string
  readonly proxy: ProxyConfig
  readonly kubo: KuboConfig
  readonly log: LogConfig
  readonly cluster: ClusterConfig
  readonly net: NetConfig
}

export type SectionName = keyof Schema
