import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from '../logger.js'
import type { Startable } from '../lifecycle.js'
import { parseListenAddress, toMultiaddr, type HostPort } from '../utils/address.js'
import { createPassthrough, type Passthrough, type ForwardOptions } from './passthrough.js'
import { matchIntercept, type InterceptTable } from './routes.js'
import { sendKuboError, sendKuboTextError } from './kubo-errors.js'
import { toKuboError } from './error-map.js'
import { requestTimeoutMs, deadlineError } from './deadline.js'
import { withTimeout, abortedByTimeout } from '../utils/signals.js'
import { ProxyAuth, requestPath, sendAccessDenied, type ProxyAuthEntry } from './auth.js'
import { OriginPolicy } from './origin.js'
import { KuboApiError, isErrorNamed } from '../errors.js'

export interface KuboProxyInit {
  listen: string
  headersTimeoutMs: number
  keepAliveTimeoutMs: number
  maxHeaderSize: number
  accessLog: boolean
  /** Kubo-style API.Authorizations for the proxy port. @default [] (no auth) */
  authorizations?: readonly ProxyAuthEntry[]
  /**
   * Browser origins allowed (Kubo's Origin/Referer checks), `<port>` being the proxy's port.
   * @default Kubo's always-allowed localhost and companion-extension origins
   */
  allowedOrigins?: readonly string[]
}

/** One finished request, for latency metrics. `command` has bounded cardinality. */
export interface ProxyRequestObservation { command: string, method: string, status: number, seconds: number }

export interface KuboProxyComponents {
  /** Kubo's RPC base URL. */
  kuboUrl: string
  kuboConnectTimeoutMs: number
  /** Authorization header value for Kubo (its API.Authorizations); replaces the client's upstream. */
  kuboAuthorization?: string
  intercepts: InterceptTable
  logger: Logger
  /** Called once per request when its response closes. */
  observe?: (o: ProxyRequestObservation) => void
}

const DEFAULT_ORIGINS = [
  'http://127.0.0.1:<port>', 'https://127.0.0.1:<port>', 'http://[::1]:<port>', 'https://[::1]:<port>',
  'http://localhost:<port>', 'https://localhost:<port>',
  'chrome-extension://nibjojkomfdiaoajekhjakgkdhaomnch', 'chrome-extension://hjoieblefckbooibpepigmacodalfndh'
]

/** The Kubo-compatible RPC server. Intercepted commands go to their handlers, all else to Kubo. */
export class KuboProxy implements Startable {
  private readonly init: KuboProxyInit
  private readonly components: KuboProxyComponents
  private readonly log: Logger
  private readonly accessLog: Logger
  private server?: Server
  private passthrough?: Passthrough
  private bound?: HostPort
  private readonly auth: ProxyAuth
  private origins?: OriginPolicy

  constructor (components: KuboProxyComponents, init: KuboProxyInit) {
    this.components = components
    this.init = init
    this.log = components.logger
    this.accessLog = components.logger.child({ component: 'proxy.access' })
    this.auth = new ProxyAuth(init.authorizations ?? [])
  }

  /** The address actually bound (port 0 resolved). Only after start(). */
  get address (): HostPort {
    if (this.bound === undefined) throw new Error('proxy not started')
    return this.bound
  }

  async start (): Promise<void> {
    if (this.server !== undefined) return
    const { host, port } = parseListenAddress(this.init.listen)
    this.passthrough = createPassthrough({
      target: this.components.kuboUrl,
      connectTimeoutMs: this.components.kuboConnectTimeoutMs,
      logger: this.log,
      ...(this.components.kuboAuthorization !== undefined ? { authorization: this.components.kuboAuthorization } : {})
    })
    const server = createServer({
      // Kubo has no request timeout: multi-GB adds and long pins must not be cut off.
      requestTimeout: 0,
      headersTimeout: this.init.headersTimeoutMs,
      keepAliveTimeout: this.init.keepAliveTimeoutMs,
      maxHeaderSize: this.init.maxHeaderSize
    }, (req, res) => { this.dispatch(req, res) })
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      this.log.info({ err: { message: err.message, code: err.code } }, 'malformed request from client')
      // Answer unless a response has started: a body that fails to parse after the request was
      // dispatched (e.g. an unknown Transfer-Encoding) still gets its 400, as from Node's own handler.
      const current = (socket as unknown as { _httpMessage?: ServerResponse | null })._httpMessage
      if (socket.writable && (current === undefined || current === null || !current.headersSent)) {
        const status = err.code === 'HPE_HEADER_OVERFLOW'
          ? '431 Request Header Fields Too Large'
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request'
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
    this.origins = new OriginPolicy({ allowedOrigins: this.init.allowedOrigins ?? DEFAULT_ORIGINS, port: addr.port, kuboUrl: this.components.kuboUrl })
    this.server = server
    this.log.info({ listen: toMultiaddr(this.bound), kubo: this.components.kuboUrl, auth: this.auth.enabled }, 'proxy listening')
    if (this.components.kuboAuthorization !== undefined && !this.auth.enabled) {
      this.log.warn('kubo.authorization is set but proxy.authorizations is empty: every client of the proxy uses Kubo with pinmesh\'s credentials')
    }
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
    const url = new URL(req.url ?? '/', 'http://proxy.invalid')
    // Only POST is a command call; Kubo answers OPTIONS (CORS preflight), GET (405) and the rest itself.
    const match = req.method === 'POST' ? matchIntercept(url.pathname, this.components.intercepts) : undefined
    if (this.init.accessLog || this.components.observe !== undefined) {
      res.once('close', () => {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9
        if (this.init.accessLog) {
          this.accessLog.info({ method: req.method, url: redactUrl(req.url), status: res.statusCode, ms: seconds * 1000, aborted: !res.writableFinished }, 'request')
        }
        this.components.observe?.({ command: match?.command ?? commandLabel(url.pathname), method: req.method ?? 'GET', status: res.statusCode, seconds })
      })
    }
    // Kubo's order: API.Authorizations first (every method, before CORS), then for /api/v0 the
    // Origin/Referer/User-Agent checks (which refuse POST only).
    const path = requestPath(req)
    if (!this.auth.allows(req.headers.authorization, path)) {
      this.log.info({ method: req.method, url: redactUrl(req.url) }, 'request without valid authorization refused')
      sendAccessDenied(res)
      return
    }
    let forwardOptions: ForwardOptions | undefined
    if (path.startsWith('/api/v0') && this.origins !== undefined) {
      const hadOrigin = req.headers.origin !== undefined
      const decision = this.origins.apply(req)
      // rs/cors runs before Kubo's checks, so even a 403 carries the allowed Origin back.
      if (decision.allowOrigin !== undefined) res.setHeader('Access-Control-Allow-Origin', decision.allowOrigin)
      if (decision.forbidden) {
        this.log.info({ method: req.method, url: redactUrl(req.url) }, 'browser request refused (origin, referer or user agent)')
        sendKuboTextError(res, 403, '403 - Forbidden')
        return
      }
      if (hadOrigin) forwardOptions = { allowOrigin: decision.allowOrigin ?? null }
    }
    if (match === undefined) {
      this.passthrough?.forward(req, res, forwardOptions)
      return
    }
    const controller = new AbortController()
    res.once('close', () => { if (!res.writableFinished) controller.abort() })
    const args = [...match.args, ...url.searchParams.getAll('arg')]
    const command = match.command
    const run = async (): Promise<void> => {
      const signal = withTimeout([controller.signal], requestTimeoutMs(url.searchParams))
      try {
        await match.handler({ req, res, command, args, query: url.searchParams, signal, logger: this.log, forward: () => { this.passthrough?.forward(req, res, forwardOptions) } })
      } catch (err) {
        throw abortedByTimeout(signal) && !controller.signal.aborted ? deadlineError(command) : err
      } finally {
        signal.clear()
      }
    }
    run()
      .catch((err: unknown) => {
        if (res.destroyed) return
        const wire = toKuboError(err)
        // A command error in Kubo's own words (`path '…' is not pinned`, `not pinned or pinned
        // indirectly`) is an answer, as Kubo gives it, not a failure of pinmesh: no error line, no stack.
        if (isErrorNamed(err, KuboApiError.NAME)) this.log.info({ command: match.command, status: wire.status, message: wire.message }, 'intercepted command answered with a Kubo error')
        else if (wire.status >= 500) this.log.error({ err, command: match.command }, 'intercepted command failed')
        else this.log.info({ err, command: match.command }, 'intercepted command rejected')
        if (wire.text) sendKuboTextError(res, wire.status, wire.message)
        else sendKuboError(res, wire.message, { status: wire.status, code: wire.code })
      })
  }
}

/** The query's `api-auth` (the ipfs CLI repeats its --api-auth secret there) must not reach the logs. */
function redactUrl (url: string | undefined): string | undefined {
  return url?.replace(/([?&]api-auth=)[^&]*/g, '$1<redacted>')
}

/**
 * A metrics label for a passed-through path: the command's leading segments, which look like
 * Kubo command names (short, lower-case), at most three; anything else (arguments, CIDs,
 * foreign paths) is cut off, so the label set stays bounded.
 */
export function commandLabel (pathname: string): string {
  if (!pathname.startsWith('/api/v0/')) return 'other'
  const out: string[] = []
  for (const seg of pathname.slice('/api/v0/'.length).split('/')) {
    if (out.length === 3 || !/^[a-z][a-z0-9-]{0,19}$/.test(seg)) break
    out.push(seg)
  }
  return out.length > 0 ? out.join('/') : 'other'
}
