import { createHash, timingSafeEqual } from 'node:crypto'

export interface ApiAuthInit {
  /** user → password for `Authorization: Basic`. */
  basicAuth?: Readonly<Record<string, string>>
  /** Tokens for `Authorization: Bearer`. */
  bearerTokens?: readonly string[]
}

/**
 * Credentials check of the admin API. With no users and no tokens it is disabled and lets
 * everything through. Secrets are compared as SHA-256 digests with timingSafeEqual against
 * every configured entry, so timing tells neither a valid user name nor a token prefix.
 */
export class ApiAuth {
  private readonly basic: Buffer[]
  private readonly bearer: Buffer[]
  /** The `WWW-Authenticate` challenge of a 401 (one per configured scheme). */
  readonly challenge: string

  constructor (init: ApiAuthInit) {
    this.basic = Object.entries(init.basicAuth ?? {}).map(([u, p]) => digest(`${u}:${p}`))
    this.bearer = (init.bearerTokens ?? []).map(digest)
    const schemes: string[] = []
    if (this.basic.length > 0) schemes.push('Basic realm="pinmesh"')
    if (this.bearer.length > 0) schemes.push('Bearer realm="pinmesh"')
    this.challenge = schemes.join(', ')
  }

  get enabled (): boolean { return this.basic.length + this.bearer.length > 0 }

  /** Whether an Authorization header value carries valid credentials (true when auth is off). */
  check (authorization: string | undefined): boolean {
    if (!this.enabled) return true
    if (authorization === undefined) return false
    const m = /^(\S+)[ \t]+(\S+)[ \t]*$/.exec(authorization)
    if (m === null) return false
    const scheme = (m[1] as string).toLowerCase()
    const value = m[2] as string
    if (scheme === 'basic') {
      // Node decodes invalid base64 leniently; re-encoding must give the same text back.
      const decoded = Buffer.from(value, 'base64')
      if (decoded.toString('base64').replace(/=+$/, '') !== value.replace(/=+$/, '')) return false
      return anyEqual(digest(decoded.toString('utf8')), this.basic)
    }
    if (scheme === 'bearer') return anyEqual(digest(value), this.bearer)
    return false
  }
}

function anyEqual (given: Buffer, expected: readonly Buffer[]): boolean {
  let ok = false
  for (const e of expected) ok = timingSafeEqual(given, e) || ok
  return ok
}

function digest (s: string): Buffer {
  return createHash('sha256').update(s).digest()
}
