import { InvalidParametersError } from '../errors.js'
import { parseDuration } from '../utils/duration.js'
import type { PinRequest } from './types.js'

/**
 * The cluster's pin options in a query string, with IPFS Cluster's names: `replication`,
 * `replication-min`, `replication-max`, `meta-<key>`, `user-allocations` and `expire-in`. The
 * proxy's pin/add, the upload path and the admin API read them alike. `name` is not read here:
 * each caller has its own (Kubo's `name`, add's `pin-name`).
 * @throws InvalidParametersError for a value that is not a whole number, -1 or at least 1, or an expiry under 1 s.
 */
export function pinOptionsFromQuery (q: URLSearchParams, now: number): Omit<PinRequest, 'cid'> {
  const r: Omit<PinRequest, 'cid'> = {}
  const factor = (key: string): number | undefined => {
    const v = q.get(key)
    if (v === null) return undefined
    const n = Number(v)
    if (v.trim() === '' || !Number.isInteger(n)) throw new InvalidParametersError(`could not convert value "${v}" to type "int" (for option "-${key}")`)
    if (n < -1 || n === 0) throw new InvalidParametersError(`${key} must be a positive whole number or -1, got "${v}"`)
    return n
  }
  const rf = factor('replication')
  const min = factor('replication-min') ?? rf
  const max = factor('replication-max') ?? rf
  if (min !== undefined) r.replicationMin = min
  if (max !== undefined) r.replicationMax = max
  const meta: Record<string, string> = {}
  for (const [k, v] of q) if (k.startsWith('meta-') && k.length > 5) meta[k.slice(5)] = v
  if (Object.keys(meta).length > 0) r.metadata = meta
  const users = q.get('user-allocations')
  if (users !== null && users.trim() !== '') r.userAllocations = users.split(',').map(s => s.trim()).filter(s => s !== '')
  const expireIn = q.get('expire-in')
  if (expireIn !== null) {
    let ms: number
    try { ms = parseDuration(expireIn) } catch (err) { throw new InvalidParametersError(`expire-in: ${(err as Error).message}`) }
    if (ms < 1000) throw new InvalidParametersError('expire-in must be at least 1s')
    r.expireAt = now + ms
  }
  return r
}
