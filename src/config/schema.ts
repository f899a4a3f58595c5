import { str, int, bool, oneOf, duration, listenAddress, httpEndpoint, stringMap, type Field } from './fields.js'

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

/** The resolved, validated and frozen configuration. */
export interface Config {
  /** Directory holding config.json and pinmesh's state. */
  readonly path: string
  readonly proxy: ProxyConfig
  readonly kubo: KuboConfig
  readonly log: LogConfig
}

export type SectionName = keyof Schema
