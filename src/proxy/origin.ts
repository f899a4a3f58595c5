import type { IncomingMessage } from 'node:http'

export interface OriginPolicyInit {
  /** Allowed browser origins; `<port>` is replaced by `port`, `*` allows any. */
  allowedOrigins: readonly string[]
  /** The proxy's own port (what `<port>` stands for). */
  port: number
  /** Kubo's RPC base URL, to name an origin Kubo always allows. */
  kuboUrl: string
}

/** What the proxy does with one request's browser headers. */
export interface OriginDecision {
  /** Kubo would answer 403 `403 - Forbidden` (only POST is ever refused, as in Kubo). */
  forbidden: boolean
  /** `Access-Control-Allow-Origin` Kubo would send on this port, if any. */
  allowOrigin?: string
}

/**
 * Kubo's Origin / Referer / User-Agent checks (go-ipfs-cmds http/config.go allowOrigin,
 * allowReferer, allowUserAgent) evaluated against the proxy's own port and allowlist, so a
 * browser sees the proxy exactly as it would see a Kubo listening there.
 *
 * Kubo checks these against *its* port, so a page on the proxy's origin would be refused by
 * the Kubo behind it. Once the proxy has allowed a request it therefore rewrites the browser
 * headers upstream to Kubo's own always-allowed origin (stripping them instead would trip Kubo's
 * "Mozilla without Origin" rule) and maps Kubo's `Access-Control-Allow-Origin` back.
 */
export class OriginPolicy {
  private readonly allowed: ReadonlySet<string>
  private readonly any: boolean
  /** An origin the Kubo behind us always allows (`http://127.0.0.1:<kubo port>`). */
  readonly kuboOrigin: string

  constructor (init: OriginPolicyInit) {
    const list = init.allowedOrigins.map(o => o.replaceAll('<port>', String(init.port)))
    this.any = list.includes('*')
    this.allowed = new Set(list)
    const u = new URL(init.kuboUrl)
    const port = u.port !== '' ? u.port : (u.protocol === 'https:' ? '443' : '80')
    this.kuboOrigin = `http://127.0.0.1:${port}`
  }

  /** Whether an Origin value (or a Referer's scheme://host) is allowed. */
  allowsOrigin (origin: string): boolean {
    return this.any || this.allowed.has(origin)
  }

  /**
   * Evaluates `req` (only meaningful for paths under /api/v0, the only ones Kubo checks) and
   * rewrites its Origin/Referer for forwarding: allowed values become Kubo's own origin,
   * refused ones are removed.
   */
  apply (req: IncomingMessage): OriginDecision {
    const origin = header(req, 'origin')
    const referer = header(req, 'referer')
    const originOk = origin === '' || this.allowsOrigin(origin)
    let refererOk = true
    if (referer !== '') {
      const refOrigin = goRefererOrigin(referer)
      refererOk = refOrigin !== undefined && this.allowsOrigin(refOrigin)
    }
    let uaOk = true
    if (req.method === 'POST' && origin === '' && referer === '') {
      const ua = header(req, 'user-agent')
      uaOk = ua.includes('Electron') || !ua.startsWith('Mozilla')
    }
    const forbidden = req.method === 'POST' && !(originOk && refererOk && uaOk)

    if (origin !== '') {
      if (originOk) req.headers.origin = this.kuboOrigin
      else delete req.headers.origin
    }
    if (referer !== '') {
      if (refererOk) req.headers.referer = `${this.kuboOrigin}/`
      else delete req.headers.referer
    }
    // rs/cors echoes an allowed Origin (or `*` when configured) on every answer.
    const allowOrigin = origin !== '' && originOk ? (this.any ? '*' : origin) : undefined
    return allowOrigin !== undefined ? { forbidden, allowOrigin } : { forbidden }
  }
}

function header (req: IncomingMessage, name: string): string {
  const v = req.headers[name]
  return typeof v === 'string' ? v : Array.isArray(v) ? (v[0] ?? '') : ''
}

/**
 * `scheme://host` of a Referer as Go's url.Parse gives it, or undefined where Go fails to parse
 * (Kubo then refuses the request even with `*`). Errs on the side of undefined.
 */
export function goRefererOrigin (referer: string): string | undefined {
  // Control characters, and a bad %-escape, make url.Parse fail.
  if (/[\x00-\x1f\x7f]/.test(referer) || /%(?![0-9a-fA-F]{2})/.test(referer)) return undefined
  if (referer.startsWith(':')) return undefined // "missing protocol scheme"
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):(.*)$/s.exec(referer)
  if (m === null) return '://' // a relative reference: no scheme, no host
  const scheme = (m[1] as string).toLowerCase()
  const rest = m[2] as string
  if (!rest.startsWith('//')) return `${scheme}://`
  const authority = (/^\/\/([^/?#]*)/.exec(rest)?.[1]) ?? ''
  const at = authority.lastIndexOf('@')
  return `${scheme}://${at >= 0 ? authority.slice(at + 1) : authority}`
}
