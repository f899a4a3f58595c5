import { Agent, type IncomingMessage, type ServerResponse } from 'node:http'
import type { NetConnectOpts, Socket, SocketConstructorOpts } from 'node:net'
import { createProxyServer } from 'http-proxy-3'
import type { Logger } from '../logger.js'
import { KuboUnavailableError } from '../errors.js'
import { ResetTolerantSocket } from '../utils/reset-tolerant-socket.js'
import { sendKuboError, endWithStreamError } from './kubo-errors.js'

export interface PassthroughInit {
  /** Kubo's RPC base URL, e.g. `http://127.0.0.1:5001`. */
  target: string
  /** Connecting to Kubo fails after this long. */
  connectTimeoutMs: number
  logger: Logger
  /** Authorization header value sent to Kubo instead of the client's (Kubo's own API.Authorizations). */
  authorization?: string
}

export interface ForwardOptions {
  /**
   * `Access-Control-Allow-Origin` to answer with in place of Kubo's (the proxy rewrote the
   * browser's Origin upstream, see origin.ts); `null` drops Kubo's. Unset: Kubo's stays.
   */
  allowOrigin?: string | null
}

export interface Passthrough {
  /** Streams one request to Kubo and Kubo's answer back, untouched (status, headers, body, trailers). */
  forward (req: IncomingMessage, res: ServerResponse, options?: ForwardOptions): void
  close (): void
}

// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are not forwarded.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'proxy-authenticate', 'proxy-authorization'])

/**
 * The pass-through to Kubo, built on http-proxy-3 with a self-handled response so that HTTP
 * trailers (`X-Stream-Error`) survive, headers go out before the first body byte, and a client
 * that goes away tears the upstream request down.
 */
export function createPassthrough (init: PassthroughInit): Passthrough {
  const agent = new ConnectTimeoutAgent(init.connectTimeoutMs)
  const proxy = createProxyServer({ target: init.target, selfHandleResponse: true, agent, xfwd: false, changeOrigin: false })
  const forwardOptions = new WeakMap<IncomingMessage, ForwardOptions>()

  proxy.on('proxyRes', (proxyRes: IncomingMessage, _req: IncomingMessage, res: ServerResponse) => {
    const headers: string[] = []
    const raw = proxyRes.rawHeaders
    const allowOrigin = forwardOptions.get(_req)?.allowOrigin
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = (raw[i] as string).toLowerCase()
      // Kubo says `Connection: close` when it answers before the upload has ended (or the client
      // asked for it) and then closes; the client's connection to us ends the same way.
      if (name === 'connection' && /(?:^|,)\s*close\s*(?:,|$)/i.test(raw[i + 1] as string)) { headers.push(raw[i] as string, 'close'); continue }
      if (HOP_BY_HOP.has(name)) continue
      if (name === 'access-control-allow-origin' && allowOrigin !== undefined) {
        if (allowOrigin !== null) headers.push(raw[i] as string, allowOrigin)
        continue
      }
      headers.push(raw[i] as string, raw[i + 1] as string)
    }
    res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, headers)
    // Long-lived streams (log tail, pubsub sub, a pin without progress) must show their headers now.
    res.flushHeaders()
    proxyRes.pipe(res, { end: false })
    proxyRes.on('end', () => {
      const trailers: Array<[string, string]> = []
      const rt = proxyRes.rawTrailers
      for (let i = 0; i + 1 < rt.length; i += 2) trailers.push([rt[i] as string, rt[i + 1] as string])
      if (trailers.length > 0) res.addTrailers(trailers)
      if (!_req.complete) abandonUpload(_req, res, proxyRes)
      res.end()
    })
    proxyRes.on('aborted', () => {
      init.logger.warn({ url: _req.url }, 'kubo closed the response early')
      endWithStreamError(res, 'kubo closed the connection before the response was complete')
    })
  })

  return {
    forward (req, res, options) {
      if (options !== undefined) forwardOptions.set(req, options)
      if (init.authorization !== undefined) req.headers.authorization = init.authorization
      proxy.web(req, res, {}, (err: Error & { code?: string }) => {
        if (res.writableEnded || res.destroyed || req.socket.destroyed) return
        const unavailable = new KuboUnavailableError(init.target, { cause: err })
        init.logger.warn({ err, url: req.url }, 'forwarding to kubo failed')
        if (!res.headersSent) sendKuboError(res, unavailable.message, { status: 502 })
        else endWithStreamError(res, unavailable.message)
      })
    },
    close () {
      proxy.close()
      agent.destroy()
    }
  }
}

/**
 * Kubo answered before reading the whole upload (e.g. `files/write` on a missing path). Like Kubo,
 * which then closes the connection, the rest of the client's body is not read: the upload stops
 * flowing to Kubo, the connection to Kubo is dropped instead of going back to the pool, and the
 * client's connection closes once the answer is out, so a keep-alive client is never left waiting
 * for us to read a body nobody wants.
 */
function abandonUpload (req: IncomingMessage, res: ServerResponse, proxyRes: IncomingMessage): void {
  req.unpipe()
  proxyRes.socket.destroy()
  res.once('finish', () => { req.socket.destroySoon() })
}

/** A keep-alive agent whose connection attempts fail after a deadline instead of the OS's ~2 min. */
class ConnectTimeoutAgent extends Agent {
  private readonly connectTimeoutMs: number
  constructor (connectTimeoutMs: number) {
    super({ keepAlive: true, keepAliveMsecs: 1000 })
    this.connectTimeoutMs = connectTimeoutMs
  }

  // Node calls this to open each new upstream socket. Kubo answers some uploads early and then
  // closes at once (e.g. `files/write` on a missing path): a plain socket would lose that answer
  // on the next write and the client would get a 502 "cannot reach kubo" instead.
  override createConnection (options: NetConnectOpts, cb?: (err: Error | null, socket: Socket) => void): Socket {
    const socket = new ResetTolerantSocket(options as SocketConstructorOpts)
    if (options.timeout !== undefined) socket.setTimeout(options.timeout)
    socket.connect(options)
    const timer = setTimeout(() => { socket.destroy(new Error(`connect timeout after ${this.connectTimeoutMs}ms`)) }, this.connectTimeoutMs)
    const clear = (): void => { clearTimeout(timer) }
    socket.once('connect', clear)
    socket.once('close', clear)
    void cb
    return socket
  }
}
