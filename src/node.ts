import type { Config } from './config/index.js'
import { createRootLogger, forComponent, type Logger } from './logger.js'
import { startAll, stopAll, type Startable } from './lifecycle.js'
import { KuboProxy, type InterceptTable } from './proxy/index.js'
import { toHttpUrl, toMultiaddr } from './utils/address.js'

/** A running pinmesh daemon: every component, started and stopped as one. */
export interface PinmeshNode extends Startable {
  readonly config: Config
  readonly logger: Logger
  /** Where the Kubo-compatible API listens (after start). */
  proxyAddress (): string
  start (): Promise<void>
  stop (): Promise<void>
}

export interface NodeOverrides {
  /** A logger to use instead of the one built from `config.log` (tests). */
  logger?: Logger
}

/**
 * The composition root: the only place that builds concrete components and wires them together.
 * Ingress (the proxy) stops first, what it consumes last.
 */
export function createNode (config: Config, overrides: NodeOverrides = {}): PinmeshNode {
  const root = overrides.logger ?? createRootLogger(config.log)
  const intercepts: InterceptTable = new Map()
  const proxy = new KuboProxy({
    kuboUrl: toHttpUrl(config.kubo.api),
    kuboConnectTimeoutMs: config.kubo.connectTimeoutMs,
    intercepts,
    logger: forComponent(root, 'proxy', config.log)
  }, config.proxy)

  const startOrder: Startable[] = [proxy]
  let state: 'new' | 'started' | 'stopped' = 'new'
  return {
    config,
    logger: root,
    proxyAddress: () => toMultiaddr(proxy.address),
    async start () {
      if (state !== 'new') return
      state = 'started'
      await startAll(startOrder)
    },
    async stop () {
      if (state !== 'started') return
      state = 'stopped'
      await stopAll(startOrder) // ingress first: the proxy is first in the list
    }
  }
}
