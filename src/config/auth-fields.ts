import type { Field } from './fields.js'

/**
 * Setting types for credentials (admin API users and tokens, the proxy's Kubo-style
 * authorizations, pinmesh's own credentials for Kubo). All are secret: `config show` hides them.
 */

/** One accepted proxy secret, as Kubo's `API.Authorizations` entry. */
export interface ProxyAuthorization {
  /** The entry's name (Kubo's map key); generated for plain secrets. */
  readonly name: string
  /** As `ipfs --api-auth` takes it: `basic:user:pass`, `basic:<base64>`, `bearer:tok` or `tok`. */
  readonly secret: string
  /**
   * Path prefixes this secret may call, Kubo's `AllowedPaths` (a raw string prefix, so
   * `/api/v0/pin` also allows `/api/v0/ping`). `/api/v0/version` is always allowed.
   */
  readonly allowedPaths: readonly string[]
}

/** Every path: what a plain secret (not Kubo's object form) grants. */
export const ALL_PATHS: readonly string[] = ['/']

/** user → password; `user:pass,user2:pass2` in env and flags. */
export function credentialsMap (doc: string): Field<Readonly<Record<string, string>>> {
  return {
    doc, default: {}, secret: true, toFile: (v) => v,
    parse (raw) {
      const out: Record<string, string> = {}
      if (typeof raw === 'string') {
        for (const pair of raw.split(',').map(s => s.trim()).filter(s => s !== '')) {
          const colon = pair.indexOf(':')
          if (colon <= 0) throw new Error('expected user:password pairs separated by commas')
          out[pair.slice(0, colon)] = pair.slice(colon + 1)
        }
      } else if (typeof raw === 'object' && raw !== null && !Array.isArray(raw) && Object.values(raw).every(v => typeof v === 'string')) {
        Object.assign(out, raw)
      } else {
        throw new Error('must be an object of user → password (user:pass,user2:pass2 in env and flags)')
      }
      for (const [user, pass] of Object.entries(out)) {
        // RFC 7617: the user-id cannot contain a colon, and an empty password would be an open door.
        if (user === '' || user.includes(':')) throw new Error(`user names must be non-empty and without ":", got ${JSON.stringify(user)}`)
        if (pass === '') throw new Error(`the password of ${JSON.stringify(user)} is empty`)
      }
      return out
    }
  }
}

/** A list of secret strings, comma-separated in env and flags. */
export function secretList (doc: string): Field<readonly string[]> {
  return {
    doc, default: [], secret: true, toFile: (v) => v,
    parse (raw) {
      const list = typeof raw === 'string' ? raw.split(',').map(s => s.trim()).filter(s => s !== '') : raw
      if (!Array.isArray(list) || !list.every(s => typeof s === 'string' && s !== '')) throw new Error('must be a list of non-empty strings (comma-separated in env and flags)')
      return list
    }
  }
}

/** `proxy.authorizations`: plain secrets (full access) or Kubo's `API.Authorizations` object. */
export function authorizationList (doc: string): Field<readonly ProxyAuthorization[]> {
  return {
    doc, default: [], secret: true,
    toFile (v) {
      if (v.every(a => a.allowedPaths === ALL_PATHS)) return v.map(a => a.secret)
      return Object.fromEntries(v.map(a => [a.name, { AuthSecret: a.secret, AllowedPaths: a.allowedPaths }]))
    },
    parse (raw) {
      const list = typeof raw === 'string' ? raw.split(',').map(s => s.trim()).filter(s => s !== '') : raw
      const out: ProxyAuthorization[] = []
      if (Array.isArray(list)) {
        list.forEach((secret, i) => {
          if (typeof secret !== 'string') throw new Error('must be a list of secrets such as basic:user:pass or bearer:token')
          out.push({ name: `secret${i + 1}`, secret: checkSecret(secret), allowedPaths: ALL_PATHS })
        })
        return out
      }
      if (typeof list !== 'object' || list === null) throw new Error('must be a list of secrets or an object like Kubo\'s API.Authorizations')
      for (const [name, entry] of Object.entries(list as Record<string, unknown>)) {
        if (typeof entry !== 'object' || entry === null) throw new Error(`${name}: must be an object with AuthSecret and AllowedPaths`)
        const { AuthSecret: secret, AllowedPaths: paths } = entry as Record<string, unknown>
        if (typeof secret !== 'string') throw new Error(`${name}.AuthSecret must be a string`)
        if (paths !== undefined && (!Array.isArray(paths) || !paths.every(p => typeof p === 'string'))) throw new Error(`${name}.AllowedPaths must be a list of path prefixes`)
        out.push({ name, secret: checkSecret(secret, name), allowedPaths: (paths as string[] | undefined) ?? [] })
      }
      return out
    }
  }
}

/** `kubo.authorization`: a header value (`Basic …`/`Bearer …`) or an `--api-auth` secret. */
export function kuboAuthorization (doc: string): Field<string> {
  return {
    doc, default: '', secret: true, toFile: (v) => v,
    parse (raw) {
      if (typeof raw !== 'string') throw new Error(`must be a string, got ${typeof raw}`)
      if (raw === '' || /^(basic|bearer) \S/i.test(raw)) return raw
      return checkSecret(raw)
    }
  }
}

// Kubo silently ignores a secret of an unknown `type:`; a config error is kinder.
function checkSecret (secret: string, name?: string): string {
  const where = name !== undefined ? `${name}: ` : ''
  if (secret === '') throw new Error(`${where}empty secret`)
  const colon = secret.indexOf(':')
  if (colon >= 0 && !secret.startsWith('basic:') && !secret.startsWith('bearer:')) {
    throw new Error(`${where}unknown secret type "${secret.slice(0, colon)}" (expected basic:user:pass, basic:<base64>, bearer:token or token)`)
  }
  if (secret === 'basic:' || secret === 'bearer:') throw new Error(`${where}empty secret after "${secret}"`)
  return secret
}
