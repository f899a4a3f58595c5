import { createServer, type Server, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from '../logger.js'
import type { Startable } from '../lifecycle.js'
import type { Cluster } from '../cluster/index.js'
import { parseListenAddress, toMultiaddr, type HostPort } from '../utils/address.js'
import { ApiError, toApiError } from './errors.js'
import { matchRoute, type Route } from './router.js'
import { sendJson } from './http.js'
import { pinRoutes } from './routes/pins.js'
import { peerRoutes } from './routes/peers.js'

export interface AdminApiInit {
  listen: string
}

export interface AdminApiComponents {
  cluster: Cluster
  logger: Logger
}

/** The admin HTTP API (JSON, `{code, message}` errors). */
export class AdminApi implements Startable {
  private readonly init: AdminApiInit
  private readonly log: Logger
  private readonly routes: Route[]
  private server?: Server
  private bound?: HostPort

  constructor (components: AdminApiComponents, init: AdminApiInit) {
    this.init = init
    this.log = components.logger
    this.routes = [...peerRoutes(components.cluster), ...pinRoutes(components.cluster)]
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
    const controller = new AbortController()
    res.once('close', () => { if (!res.writableFinished) controller.abort() })
    try {
      const url = new URL(req.url ?? '/', 'http://admin.invalid')
      const match = matchRoute(this.routes, req.method ?? 'GET', url.pathname.replace(/\/+$/, '') || '/')
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
      if (!res.headersSent) sendJson(res, status, body)
      else res.destroy()
    }
  }
}
