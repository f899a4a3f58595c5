import { createServer, type Server, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from '../logger.js'
import type { Startable } from '../lifecycle.js'
import type { Cluster } from '../cluster/index.js'
import { parseListenAddress, toMultiaddr, type HostPort } from '../utils/address.js'
import { ApiError, toApiError } from './errors.js'
import { matchRoute, type Route } from './router.js'
import { sendJson, drainBody } from './http.js'
import { pinRoutes } from './routes/pins.js'
import { addRoutes } from './routes/add.js'
import { peerRoutes } from './routes/peers.js'
import { uiRoutes } from './routes/ui.js'
import { ApiAuth } from './auth.js'
import { AdminMetrics } from './metrics.js'

export interface AdminApiInit {
  listen: string
  /** user → password accepted as `Authorization: Basic`. @default {} */
  basicAuth?: Readonly<Record<string, string>>
  /** Tokens accepted as `Authorization: Bearer`. @default [] */
  bearerTokens?: readonly string[]
  /** Whether GET /metrics needs credentials when auth is configured. @default true */
  metricsAuth?: boolean
  /** How long the cluster-wide status behind /metrics is reused. @default 10000 */
  metricsStatusIntervalMs?: number
}

export interface AdminApiComponents {
  cluster: Cluster
  logger: Logger
  /** Shared with the proxy, which reports its request latencies into it; built here if absent. */
  metrics?: AdminMetrics
}

/**
 * The admin HTTP API (JSON, `{code, message}` errors). With users or tokens configured every
 * request except GET /health (and GET /metrics when `metricsAuth` is false) needs valid
 * credentials, else 401 ERR_UNAUTHORIZED with a `WWW-Authenticate` challenge.
 */
export class AdminApi implements Startable {
  private readonly init: AdminApiInit
  private readonly log: Logger
  private readonly routes: Route[]
  private readonly auth: ApiAuth
  readonly metrics: AdminMetrics
  private server?: Server
  private bound?: HostPort

  constructor (components: AdminApiComponents, init: AdminApiInit) {
    this.init = init
    this.log = components.logger
    this.auth = new ApiAuth(init)
    this.metrics = components.metrics ?? new AdminMetrics({ cluster: components.cluster, logger: components.logger }, { statusIntervalMs: init.metricsStatusIntervalMs ?? 10_000 })
    const metrics = this.metrics
    this.routes = [
      ...peerRoutes(components.cluster),
      ...pinRoutes(components.cluster),
      ...addRoutes(components.cluster),
      {
        method: 'GET',
        path: '/metrics',
        auth: init.metricsAuth ?? true,
        handle: async ({ res }) => {
          const body = await metrics.render()
          res.writeHead(200, { 'Content-Type': metrics.contentType, 'Content-Length': Buffer.byteLength(body) })
          res.end(body)
        }
      },
      ...uiRoutes()
    ]
  }

  get address (): HostPort {
    if (this.bound === undefined) throw new Error('admin api not started')
    return this.bound
  }

  async start (): Promise<void> {
    if (this.server !== undefined) return
    const { host, port } = parseListenAddress(this.init.listen)
    const server = createServer({ requestTimeout: 0, headersTimeout: 30_000 }, (req, res) => { void this.dispatch(req, res) })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => { server.off('error', reject); resolve() })
    })
    const a = server.address() as AddressInfo
    this.bound = { host: a.address, port: a.port }
    this.server = server
    this.log.info({ listen: toMultiaddr(this.bound) }, 'admin api listening')
  }

  async stop (): Promise<void> {
    const server = this.server
    if (server === undefined) return
    this.server = undefined
    const closed = new Promise<void>((resolve) => server.close(() => { resolve() }))
    server.closeIdleConnections()
    const deadline = setTimeout(() => { server.closeAllConnections() }, 2000)
    await closed
    clearTimeout(deadline)
  }

  private async dispatch (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint()
    const controller = new AbortController()
    let routeLabel = 'unmatched'
    res.once('close', () => {
      if (!res.writableFinished) controller.abort()
      this.metrics.observeApi(routeLabel, req.method ?? 'GET', res.statusCode, Number(process.hrtime.bigint() - started) / 1e9)
    })
    try {
      const url = new URL(req.url ?? '/', 'http://admin.invalid')
      const match = matchRoute(this.routes, req.method ?? 'GET', url.pathname.replace(/\/+$/, '') || '/')
      if (match !== undefined && 'route' in match) routeLabel = match.route.path
      // Unknown paths need credentials too, so that the API's shape is not probed anonymously.
      if (this.auth.enabled && (match === undefined || !('route' in match) || match.route.auth !== false) && !this.auth.check(req.headers.authorization)) {
        res.setHeader('WWW-Authenticate', this.auth.challenge)
        throw new ApiError(401, 'ERR_UNAUTHORIZED', req.headers.authorization === undefined ? 'credentials required (Authorization: Basic or Bearer)' : 'invalid credentials')
      }
      if (match === undefined) throw new ApiError(404, 'ERR_NOT_FOUND', `no such endpoint: ${req.method} ${url.pathname}`)
      if ('allowed' in match) {
        res.setHeader('Allow', match.allowed.join(', '))
        throw new ApiError(405, 'ERR_METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname}`)
      }
      await match.route.handle({ req, res, params: match.params, query: url.searchParams, signal: controller.signal })
    } catch (err) {
      const { status, body } = toApiError(err)
      if (status >= 500) this.log.error({ err, url: req.url }, 'admin request failed')
      else this.log.info({ url: req.url, code: body.code }, 'admin request rejected')
      if (res.headersSent) { res.destroy(); return }
      await drainBody(req, { maxBytes: 64 << 20, timeoutMs: 10_000 })
      if (!res.destroyed) sendJson(res, status, body)
    }
  }
}
