import { hostname } from 'node:os'
import { str, int, bool, oneOf, duration, listenAddress, httpEndpoint, stringMap, stringList, type Field } from './fields.js'
import { credentialsMap, authorizationList, kuboAuthorization, secretList, type ProxyAuthorization } from './auth-fields.js'

export type { ProxyAuthorization }

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const

/** The origins Kubo always allows on its RPC port (kubo core/corehttp/commands.go), `<port>` being the port. */
const KUBO_LOCAL_ORIGINS = [
  'http://127.0.0.1:<port>', 'https://127.0.0.1:<port>', 'http://[::1]:<port>', 'https://[::1]:<port>',
  'http://localhost:<port>', 'https://localhost:<port>',
  'chrome-extension://nibjojkomfdiaoajekhjakgkdhaomnch', 'chrome-extension://hjoieblefckbooibpepigmacodalfndh'
]

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
    accessLog: bool(false, 'Log one line per proxied request (component `proxy.access`).'),
    authorizations: authorizationList('Secrets a client must send to use the proxy, as in Kubo\'s API.Authorizations: `basic:user:pass`, `bearer:token` or `token` (what `ipfs --api-auth` takes), comma-separated; or, in config.json, Kubo\'s own {"name": {"AuthSecret", "AllowedPaths"}} object. Empty: no auth.'),
    allowedOrigins: stringList(KUBO_LOCAL_ORIGINS, 'Browser origins (Origin/Referer) allowed to call the proxy, checked like Kubo does; `<port>` stands for the proxy\'s port and `*` allows any. Replaces the default list.')
  },
  kubo: {
    api: httpEndpoint('/ip4/127.0.0.1/tcp/5001', 'RPC address of the local Kubo daemon (multiaddr or http URL).'),
    connectTimeoutMs: duration('connectTimeout', '800ms', 'Give up connecting to Kubo after this long; the client gets a Kubo-shaped error (Kubo runs beside pinmesh: a connect takes milliseconds).', { minMs: 1 }),
    requestTimeoutMs: duration('requestTimeout', '5m', "Timeout of pinmesh's own short calls to Kubo (id, repo/stat, pin/ls, swarm/connect); pins use pinTimeout.", { minMs: 1 }),
    pinTimeoutMs: duration('pinTimeout', '2m', 'A pin is abandoned (pin_error, retried later) when Kubo reports no progress fetching its blocks for this long.', { minMs: 100 }),
    authorization: kuboAuthorization('Credentials pinmesh sends to its Kubo when Kubo has API.Authorizations: an Authorization header value (`Basic …`, `Bearer …`) or a secret as `ipfs --api-auth` takes it (`basic:user:pass`, `bearer:token`). Empty: none.')
  },
  cluster: {
    name: str('pinmesh', 'Cluster name. Peers only replicate with peers of the same name (it names the gossip topic).', (v) => { if (v.trim() === '') throw new Error('must not be empty') }),
    peername: str(hostname(), 'Human-readable name of this peer.'),
    secret: str('', 'The 32-byte cluster secret as 64 hex characters: the libp2p private-network key. Only peers with the same secret can connect. `pinmesh init` generates one.', (v) => {
      if (v !== '' && !/^[0-9a-fA-F]{64}$/.test(v)) throw new Error('must be 64 hex characters (32 bytes)')
    }, { secret: true }),
    trustedPeers: stringList(['*'], 'Peer ids allowed to change the pinset (and push content), or "*" for every peer with the secret. Others may only follow.'),
    replicationMin: int(-1, 'Default least number of peers that must hold a pin (-1: every peer).', { min: -1 }),
    replicationMax: int(-1, 'Default most number of peers that hold a pin (-1: every peer).', { min: -1 }),
    repinning: bool(true, 'When a peer is gone (metrics expired and it does not answer pings), re-allocate the pins that fell below replicationMin to other peers (one elected peer does it).'),
    pinWait: oneOf(['pinned', 'committed'] as const, 'pinned', "When a proxy pin/add answers: 'pinned' (like Kubo: once replicationMin allocated peers hold it) or 'committed' (once it is in the replicated pinset). Per request: ?wait=."),
    pinWaitTimeoutMs: duration('pinWaitTimeout', '0s', "With pinWait 'pinned', give up waiting after this long (0: wait as long as the client does)."),
    connectKubos: bool(true, "Connect this peer's Kubo to the other peers' Kubos (swarm/connect) so content can move between them.")
  },
  metrics: {
    intervalMs: duration('interval', '5s', 'How often this peer publishes its metrics (free space, queue, tags, addresses).', { minMs: 100 }),
    ttlMs: duration('ttl', '15s', 'Metrics count as valid this long after receipt (plus any time this peer itself stood still); a peer whose metrics expired gets no new pins, and is gone once it also stops answering pings.', { minMs: 200 }),
    tags: stringMap({ group: 'default' }, 'Tags this peer publishes for allocation, e.g. region=eu,zone=a.')
  },
  allocator: {
    allocateBy: stringList(['tag:group', 'freespace'], 'Balanced allocation order: tag:<name> metrics spread pins across tag values, then freespace prefers the emptiest peer.')
  },
  tracker: {
    concurrentPins: int(10, 'Pins Kubo works on at once.', { min: 1, max: 1000 }),
    maxQueueSize: int(1_000_000, 'Most pin/unpin operations waiting; beyond it new operations fail (raise this).', { min: 1 }),
    recoverIntervalMs: duration('recoverInterval', '1m', 'How often every pin allocated here is checked against Kubo (and failed ones retried).', { minMs: 100 }),
    retryMinMs: duration('retryMin', '5s', 'First wait before retrying a failed pin; doubles per failure.', { minMs: 10 }),
    retryMaxMs: duration('retryMax', '10m', 'Longest wait between retries of a failing pin.', { minMs: 10 }),
    priorityMaxAgeMs: duration('priorityMaxAge', '24h', 'Pins younger than this, failing at most priorityMaxRetries times, go before older ones.'),
    priorityMaxRetries: int(5, 'Failures after which a pin no longer goes first.', { min: 0 })
  },
  api: {
    listen: listenAddress('/ip4/127.0.0.1/tcp/9094', 'Address of the admin HTTP API (JSON).'),
    basicAuth: credentialsMap('Users allowed on the admin API, user → password (env/flag form user:pass,user2:pass2). With basicAuth or bearerTokens set, every request but GET /health needs credentials. Empty: no auth.'),
    bearerTokens: secretList('Tokens accepted on the admin API as `Authorization: Bearer <token>` (comma-separated in env and flags). Empty: none.'),
    metricsAuth: bool(true, 'Whether GET /metrics needs credentials when admin API auth is configured (false lets Prometheus scrape without them).'),
    metricsStatusIntervalMs: duration('metricsStatusInterval', '10s', 'GET /metrics recomputes the cluster-wide pin status (pins by status, replication deficit) at most this often.', { minMs: 0 })
  },
  pinset: {
    batchWindowMs: duration('batchWindow', '10ms', 'Local pinset changes are collected this long before one gossip message goes out.'),
    syncIntervalMs: duration('syncInterval', '30s', 'Every connected peer is re-synced (anti-entropy) this often.', { minMs: 100 }),
    compactLogBytes: int(32 << 20, "The write-ahead log is folded into the shards' state files once it is larger than this (or than a quarter of the pinset's state, if more).", { min: 4096 }),
    shards: int(1024, 'Shards (Yjs documents) the pinset is split into, by a hash of the CID: a power of two up to 4096, fixed when the pinset is created, and the same on every peer of the cluster.', { min: 1, max: 4096 }),
    cachePins: int(100_000, 'About this many pins stay decoded in memory (roughly 700 bytes each); shards beyond it are read back from disk when needed.', { min: 1 }),
    compactCheckIntervalMs: duration('compactCheckInterval', '10s', 'How often the compaction leader (the connected trusted peer with the lowest id) checks for tombstones.', { minMs: 100 }),
    compactMinTombstones: int(1000, 'A new epoch is built when unpins left at least this many tombstones and more than half as many as live pins.', { min: 1 }),
    compactMinIntervalMs: duration('compactMinInterval', '1m', 'Least time between two epochs built by one peer.', { minMs: 0 }),
    removeWinsMs: duration('removeWins', '10m', 'A pin seen removed is removed again if a concurrent re-allocation of it by another peer arrives within this long (at most twice this long); a pin requested again is kept.', { minMs: 0 })
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
export type ApiConfig = ValuesOf<Schema['api']>
export type PinsetConfig = ValuesOf<Schema['pinset']>
export type MetricsConfig = ValuesOf<Schema['metrics']>
export type AllocatorConfig = ValuesOf<Schema['allocator']>
export type TrackerConfig = ValuesOf<Schema['tracker']>

/** The resolved, validated and frozen configuration. */
export interface Config {
  /** Directory holding config.json and pinmesh's state. */
  readonly path: string
  readonly proxy: ProxyConfig
  readonly kubo: KuboConfig
  readonly log: LogConfig
  readonly cluster: ClusterConfig
  readonly net: NetConfig
  readonly api: ApiConfig
  readonly pinset: PinsetConfig
  readonly metrics: MetricsConfig
  readonly allocator: AllocatorConfig
  readonly tracker: TrackerConfig
}

export type SectionName = keyof Schema
