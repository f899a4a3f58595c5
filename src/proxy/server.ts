import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from '../logger.js'
import type { Startable } from '../lifecycle.js'
import { parseListenAddress, toMultiaddr, type HostPort } from '../utils/address.js'
import { createPassthrough, type Passthrough } from './passthrough.js'
import { matchIntercept, type InterceptTable } from './routes.js'
import { sendKuboError, sendKuboTextError } from './kubo-errors.js'
import { toKuboError } from './error-map.js'

export interface KuboProxyInit {
  listen: string
  headersTimeoutMs: number
  keepAliveTimeoutMs: number
  maxHeaderSize: number
  accessLog: boolean
}

export interface KuboProxyComponents {
  /** Kubo's RPC base URL. */
  kuboUrl: string
  kuboConnectTimeoutMs: number
  intercepts: InterceptTable
  logger: Logger
}

/** The Kubo-compatible RPC server. Intercepted commands go to their handlers, all else to Kubo. */
export class KuboProxy implements Startable {
  private readonly init: KuboProxyInit
  private readonly components: KuboProxyComponents
  private readonly log: Logger
  private readonly accessLog: Logger
  private server?: Server
  private passthrough?: Passthrough
  private bound?: HostPort

  constructor (components: KuboProxyComponents, init: KuboProxyInit) {
    this.components = components
    this.init = init
    this.log = components.logger
    this.accessLog = components.logger.child({ component: 'proxy.access' })
  }

  /** The address actually bound (port 0 resolved). Only after start(). */
  get address (): HostPort {
    if (this.bound === undefined) throw new Error('proxy not started')
    return this.bound
  }

  async start (): Promise<void> {
    if (this.server !== undefined) return
    const { host, port } = parseListenAddress(this.init.listen)
    this.passthrough = createPassthrough({ target: this.components.kuboUrl, connectTimeoutMs: this.components.kuboConnectTimeoutMs, logger: this.log })
    const server = createServer({
      // Kubo has no request timeout: multi-GB adds and long pins must not be cut off.
      requestTimeout: 0,
      headersTimeout: this.init.headersTimeoutMs,
      keepAliveTimeout: this.init.keepAliveTimeoutMs,
      maxHeaderSize: this.init.maxHeaderSize
    }, (req, res) => { this.dispatch(req, res) })
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      this.log.info({ err: { message: err.message, code: err.code } }, 'malformed request from client')
      if (socket.writable && !(socket as unknown as { _httpMessage?: unknown })._httpMessage) {
        const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request'
        socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n${status}`)
      } else {
        socket.destroy()
      }
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => { server.off('error', reject); resolve() })
    })
    const addr = server.address() as AddressInfo
    this.bound = { host: addr.address, port: addr.port }
    this.server = server
    this.log.info({ listen: toMultiaddr(this.bound), kubo: this.components.kuboUrl }, 'proxy listening')
  }

  async stop (): Promise<void> {
    const server = this.server
    if (server === undefined) return
    this.server = undefined
    const closed = new Promise<void>((resolve) => server.close(() => { resolve() }))
    server.closeIdleConnections()
    // In-flight uploads get a moment to finish, then are cut so shutdown never hangs.
    const deadline = setTimeout(() => { server.closeAllConnections() }, 2000)
    await closed
    clearTimeout(deadline)
    this.passthrough?.close()
  }

  private dispatch (req: IncomingMessage, res: ServerResponse): void {
    const started = process.hrtime.bigint()
    if (this.init.accessLog) {
      res.once('close', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6
        this.accessLog.info({ method: req.method, url: req.url, status: res.statusCode, ms, aborted: !res.writableFinished }, 'request')
      })
    }
    const url = new URL(req.url ?? '/', 'http://proxy.invalid')
    // Only POST is a command call; Kubo answers OPTIONS (CORS preflight), GET (405) and the rest itself.
    const match = req.method === 'POST' ? matchIntercept(url.pathname, this.components.intercepts) : undefined
    if (match === undefined) {
      this.passthrough?.forward(req, res)
      return
    }
    const controller = new AbortController()
    res.once('close', () => { if (!res.writableFinished) controller.abort() })
    const args = [...match.args, ...url.searchParams.getAll('arg')]
    match.handler({ req, res, command: match.command, args, query: url.searchParams, signal: controller.signal, logger: this.log, forward: () => { this.passthrough?.forward(req, res) } })
      .catch((err: unknown) => {
        if (res.destroyed) return
        const wire = toKuboError(err)
        if (wire.status >= 500) this.log.error({ err, command: match.command }, 'intercepted command failed')
        else this.log.info({ err, command: match.command }, 'intercepted command rejected')
        if (wire.text) sendKuboTextError(res, wire.status, wire.message)
        else sendKuboError(res, wire.message, { status: wire.status, code: wire.code })
      })
  }
}
