import { basicAuthorization, bearerAuthorization } from '../api/client.js'
import { CliUsageError } from './args.js'

/** The admin API default, as IPFS Cluster's ctl has it. */
export const DEFAULT_HOST = '/ip4/127.0.0.1/tcp/9094'

/** Where the CLI sends its requests and with which credentials. */
export interface Target {
  /** Base URL without a trailing slash; may carry a path prefix (`http://h:9094/prefix`). */
  url: string
  /** The Authorization header value, if any. */
  authorization?: string
}

/**
 * Turns `--host` (or `$PINMESH_HOST`) into a base URL. Accepts a multiaddr (`/ip4/…/tcp/9094`,
 * `/ip6/…`, `/dns4/name/tcp/9094`, optionally ending in `/http`, `/https` or `/tls/http`), a URL
 * (`http://127.0.0.1:9094`, a path prefix is kept), or `host:port`. Throws CliUsageError.
 */
export function hostToUrl (host: string): string {
  const value = host.trim()
  if (value.startsWith('/')) {
    const parts = value.split('/').slice(1).filter(p => p !== '')
    const [proto, addr, tcp, port, ...rest] = parts
    if (proto === undefined || !['ip4', 'ip6', 'dns', 'dns4', 'dns6'].includes(proto) || addr === undefined) {
      throw new CliUsageError(`--host ${host}: a multiaddr must start with /ip4, /ip6, /dns, /dns4 or /dns6`)
    }
    if (tcp !== 'tcp' || port === undefined || !isPort(port)) throw new CliUsageError(`--host ${host}: expected /tcp/<port> after the address`)
    const tail = rest.join('/')
    const scheme = tail === '' || tail === 'http' ? 'http' : tail === 'https' || tail === 'tls/http' ? 'https' : undefined
    if (scheme === undefined) throw new CliUsageError(`--host ${host}: unsupported protocols after the port: /${tail}`)
    return `${scheme}://${proto === 'ip6' ? `[${addr}]` : addr}:${port}`
  }
  if (/^https?:\/\//i.test(value)) {
    let u: URL
    try { u = new URL(value) } catch { throw new CliUsageError(`--host ${host}: not a valid URL`) }
    if (u.search !== '' || u.hash !== '') throw new CliUsageError(`--host ${host}: a query or fragment is not allowed`)
    return `${u.origin}${u.pathname.replace(/\/+$/, '')}`
  }
  const m = /^(\[[^\]]+\]|[^:/]+):(\d+)$/.exec(value)
  if (m !== null && isPort(m[2] as string)) return `http://${m[1]}:${m[2]}`
  throw new CliUsageError(`--host ${host}: expected a multiaddr like ${DEFAULT_HOST}, a URL like http://127.0.0.1:9094, or host:port`)
}

/**
 * Resolves the target from flags, then `PINMESH_HOST` / `PINMESH_CREDENTIALS`, then defaults.
 * `PINMESH_CREDENTIALS` is `user:pass` (Basic) or a bare token (Bearer); a flag replaces it.
 */
export function resolveTarget (values: { host?: unknown, 'basic-auth'?: unknown, bearer?: unknown }, env: Readonly<Record<string, string | undefined>>): Target {
  const host = typeof values.host === 'string' ? values.host : env.PINMESH_HOST ?? DEFAULT_HOST
  const target: Target = { url: hostToUrl(host) }
  const basic = typeof values['basic-auth'] === 'string' ? values['basic-auth'] : undefined
  const bearer = typeof values.bearer === 'string' ? values.bearer : undefined
  if (basic !== undefined && bearer !== undefined) throw new CliUsageError('give either --basic-auth or --bearer, not both')
  if (basic !== undefined) {
    if (!basic.includes(':')) throw new CliUsageError('--basic-auth takes user:password')
    target.authorization = basicAuth(basic)
  } else if (bearer !== undefined) {
    if (bearer === '') throw new CliUsageError('--bearer takes a token')
    target.authorization = bearerAuthorization(bearer)
  } else if (env.PINMESH_CREDENTIALS !== undefined && env.PINMESH_CREDENTIALS !== '') {
    const c = env.PINMESH_CREDENTIALS
    target.authorization = c.includes(':') ? basicAuth(c) : bearerAuthorization(c)
  }
  return target
}

function basicAuth (userPass: string): string {
  const colon = userPass.indexOf(':')
  return basicAuthorization(userPass.slice(0, colon), userPass.slice(colon + 1))
}

function isPort (s: string): boolean {
  const n = Number(s)
  return /^\d+$/.test(s) && n > 0 && n <= 65535
}
