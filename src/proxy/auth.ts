import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'

/** Kubo's text when API.Authorizations rejects a request (kubo core/corehttp/commands.go withAuthSecrets). */
export const KUBO_ACCESS_DENIED = 'Kubo RPC Access Denied: Please provide a valid authorization token as defined in the API.Authorizations configuration.'

/**
 * The Authorization header value for a secret as `ipfs --api-auth` takes it, exactly as Kubo's
 * `config.ConvertAuthSecret`: `tok` or `bearer:tok` → `Bearer tok`; `basic:user:pass` →
 * `Basic base64(user:pass)`; `basic:<b64>` → `Basic <b64>`; an unknown `type:` → `''`.
 */
export function convertAuthSecret (secret: string): string {
  if (secret === '') return ''
  const colon = secret.indexOf(':')
  if (colon < 0) return `Bearer ${secret}`
  const rest = secret.slice(colon + 1)
  if (secret.startsWith('basic:')) return rest.includes(':') ? `Basic ${Buffer.from(rest).toString('base64')}` : `Basic ${rest}`
  if (secret.startsWith('bearer:')) return `Bearer ${rest}`
  return ''
}

/** `kubo.authorization` as a header value: kept if it is one already, else converted like `--api-auth`. */
export function kuboAuthorizationHeader (value: string): string | undefined {
  if (value === '') return undefined
  if (/^(basic|bearer) \S/i.test(value)) return value
  return convertAuthSecret(value)
}

export interface ProxyAuthEntry { secret: string, allowedPaths: readonly string[] }

/**
 * Kubo's API.Authorizations check for the proxy port: the Authorization header must equal one
 * configured secret's header value, and the path must start with one of its allowed prefixes
 * (`/api/v0/version` is always allowed). Comparisons are constant-time over every entry.
 */
export class ProxyAuth {
  private readonly entries: Array<{ digest: Buffer, allowedPaths: readonly string[] }>

  constructor (entries: readonly ProxyAuthEntry[]) {
    this.entries = entries.map(e => ({ digest: digest(convertAuthSecret(e.secret)), allowedPaths: e.allowedPaths }))
  }

  get enabled (): boolean { return this.entries.length > 0 }

  /** Whether a request with this Authorization header may call `path` (decoded, without query). */
  allows (authorization: string | undefined, path: string): boolean {
    if (!this.enabled) return true
    const given = digest(authorization ?? '')
    let match: readonly string[] | undefined
    // No early exit: the time taken does not tell which entry (if any) matched.
    for (const e of this.entries) {
      if (timingSafeEqual(given, e.digest) && match === undefined && authorization !== undefined && authorization !== '') match = e.allowedPaths
    }
    if (match === undefined) return false
    if (path === '/api/v0/version') return true
    return match.some(prefix => path.startsWith(prefix))
  }
}

/**
 * The request path as Go's `r.URL.Path` has it (without the query, percent-decoded), after the
 * dot segments and backslashes are resolved as the proxy's router resolves them: checking the raw
 * path let a token limited to `/api/v0/pin/ls` call `/api/v0/pin/ls/../rm`, which is routed as pin/rm.
 */
export function requestPath (req: IncomingMessage): string {
  const path = new URL(req.url ?? '/', 'http://proxy.invalid').pathname
  try { return decodeURIComponent(path) } catch { return path }
}

/** Answers like Kubo's auth rejection: http.Error's 403, and no Vary (it runs before CORS). */
export function sendAccessDenied (res: ServerResponse): void {
  const body = `${KUBO_ACCESS_DENIED}\n`
  res.writeHead(403, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'X-Content-Type-Options': 'nosniff'
  })
  res.end(body)
}

function digest (s: string): Buffer {
  return createHash('sha256').update(s).digest()
}
