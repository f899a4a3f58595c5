import { peerIdFromString } from '@libp2p/peer-id'
import { pinOptionsFromQuery, MAX_STATUS_BATCH, type Cluster, type GlobalPinInfo, type PinRequest } from '../../cluster/index.js'
import type { PinRecord } from '../../types.js'
import { InvalidParametersError, NotFoundError } from '../../errors.js'
import { sendJson, sendNdjson, readNdjson } from '../http.js'
import type { Route } from '../router.js'
import { queryFlag } from '../../utils/go-bool.js'

/** Pin options from a query string, with IPFS Cluster's parameter names. */
export function pinRequestFromQuery (cid: string, q: URLSearchParams, now: number): PinRequest {
  const r: PinRequest = { cid }
  const name = q.get('name')
  if (name !== null) r.name = name
  const mode = q.get('mode')
  if (mode !== null) {
    if (mode !== 'recursive' && mode !== 'direct') throw new InvalidParametersError(`mode must be recursive or direct, got "${mode}"`)
    r.mode = mode
  }
  return { ...r, ...pinOptionsFromQuery(q, now) }
}

/**
 * One bulk line as a PinRequest. Every known field is type-checked (as the query form checks its
 * parameters), since the record goes into the replicated pinset as it is; other keys are ignored,
 * so that `GET /allocations` lines can be posted back.
 */
function pinRequestFromJson (v: unknown, line: number): PinRequest {
  if (typeof v === 'string') return { cid: v }
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as { cid?: unknown }).cid !== 'string') {
    throw new InvalidParametersError(`line ${line}: expected a CID string or an object with "cid"`)
  }
  const o = v as Record<string, unknown>
  const bad = (key: string, what: string): InvalidParametersError => new InvalidParametersError(`line ${line}: "${key}" must be ${what}`)
  const r: PinRequest = { cid: o.cid as string }
  if (o.name !== undefined) {
    if (typeof o.name !== 'string') throw bad('name', 'a string')
    r.name = o.name
  }
  if (o.mode !== undefined) {
    if (o.mode !== 'recursive' && o.mode !== 'direct') throw bad('mode', '"recursive" or "direct"')
    r.mode = o.mode
  }
  for (const key of ['replicationMin', 'replicationMax'] as const) {
    const n = o[key]
    if (n === undefined) continue
    if (typeof n !== 'number' || !Number.isInteger(n) || n < -1 || n === 0) throw bad(key, 'a positive whole number or -1')
    r[key] = n
  }
  if (o.metadata !== undefined) {
    const m = o.metadata
    if (typeof m !== 'object' || m === null || Array.isArray(m) || !Object.values(m).every(x => typeof x === 'string')) throw bad('metadata', 'an object of strings')
    r.metadata = { ...(m as Record<string, string>) }
  }
  if (o.expireAt !== undefined) {
    if (typeof o.expireAt !== 'number' || !Number.isSafeInteger(o.expireAt) || o.expireAt < 0) throw bad('expireAt', 'a time in Unix milliseconds')
    r.expireAt = o.expireAt
  }
  for (const key of ['userAllocations', 'allocations'] as const) {
    const list = o[key]
    if (list === undefined) continue
    if (!Array.isArray(list) || !list.every(p => typeof p === 'string' && isPeerId(p))) throw bad(key, 'a list of peer ids')
    r[key] = [...list] as string[]
  }
  return r
}

// Bulk requests repeat the same few peers on every line; parsing one costs ~20 µs.
let lastPeerId = ''
function isPeerId (s: string): boolean {
  if (s === lastPeerId) return true
  try { peerIdFromString(s) } catch { return false }
  lastPeerId = s
  return true
}

/** Tracker statuses, plus `error` for any of the *_error ones. */
const FILTERS: ReadonlySet<string> = new Set([
  'queued', 'pinning', 'pinned', 'pin_error', 'unpin_queued', 'unpinning', 'unpinned', 'unpin_error',
  'remote', 'unexpectedly_unpinned', 'cluster_error', 'error'
])

/** `GET /pins`: pins per page unless `limit=` says; at most MAX_STATUS_BATCH. */
export const DEFAULT_PAGE_LIMIT = 1000

/** `limit=` of a paged listing: a whole number from 1 to MAX_STATUS_BATCH, DEFAULT_PAGE_LIMIT when absent. */
export function pageLimit (q: URLSearchParams): number {
  const v = q.get('limit')
  if (v === null) return DEFAULT_PAGE_LIMIT
  const n = /^[0-9]+$/.test(v) ? Number(v) : Number.NaN
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_STATUS_BATCH) throw new InvalidParametersError(`limit must be a whole number from 1 to ${MAX_STATUS_BATCH}, got "${v}"`)
  return n
}

/** `cursor=`: absent or empty for the first page, else the `X-Next-Cursor` of the previous page. */
function pageCursor (q: URLSearchParams): string | undefined {
  const v = q.get('cursor')
  return v === null || v === '' ? undefined : v
}

/**
 * The headers that point at the next page: `X-Next-Cursor` (the cursor itself) and an RFC 8288
 * `Link: <…>; rel="next"` with the same query but that cursor. None on the last page.
 */
function nextPageHeaders (q: URLSearchParams, next: string | undefined): Record<string, string> {
  if (next === undefined) return {}
  const nq = new URLSearchParams(q)
  nq.set('cursor', next)
  return { 'X-Next-Cursor': next, Link: `<?${nq.toString()}>; rel="next"` }
}

function matches (g: GlobalPinInfo, filter: readonly string[]): boolean {
  return filter.length === 0 || Object.values(g.peerMap).some(i => filter.includes(i.status) || (filter.includes('error') && i.status.endsWith('error')))
}

/** The pinset's batches as single records, for NDJSON. */
async function * records (batches: AsyncIterable<readonly PinRecord[]>): AsyncGenerator<PinRecord> {
  for await (const batch of batches) yield * batch
}

const BULK = { maxLineBytes: 64 * 1024, maxLines: 2_000_000 }
/**
 * Pins taken a batch at a time from a bulk request: new pins go into shards without decoding them
 * (see ShardSketch), so small batches cost no more per pin and keep the request's memory small.
 * Unpins decode each shard they touch, once a batch: larger batches.
 */
const PIN_BATCH = 10_000
const UNPIN_BATCH = 100_000

export function pinRoutes (cluster: Cluster): Route[] {
  return [
    {
      // Every pin, streamed a pinset batch at a time; with `limit=` (or `cursor=`), one page, paged as GET /pins.
      method: 'GET',
      path: '/allocations',
      handle: async ({ res, query, signal }) => {
        if (!query.has('limit') && !query.has('cursor')) { await sendNdjson(res, records(cluster.pins({ signal }))); return }
        const cursor = pageCursor(query)
        const page = await cluster.pinPage({ limit: pageLimit(query), ...(cursor !== undefined ? { cursor } : {}), signal })
        await sendNdjson(res, page.pins, nextPageHeaders(query, page.next))
      }
    },
    {
      // One page of the cluster-wide status (NDJSON, one pin a line); the next page's cursor in X-Next-Cursor and Link.
      // A filter applies to the page: a filtered page may hold fewer pins than `limit`, even none, and still have a next one.
      method: 'GET',
      path: '/pins',
      handle: async ({ res, query, signal }) => {
        const filter = (query.get('filter') ?? '').split(',').map(s => s.trim()).filter(s => s !== '')
        const unknown = filter.find(f => !FILTERS.has(f))
        if (unknown !== undefined) throw new InvalidParametersError(`unknown filter "${unknown}"; use one or more of ${[...FILTERS].join(', ')}`)
        const cursor = pageCursor(query)
        const page = await cluster.statusPage({ limit: pageLimit(query), ...(cursor !== undefined ? { cursor } : {}), signal })
        await sendNdjson(res, page.pins.filter(g => matches(g, filter)), nextPageHeaders(query, page.next))
      }
    },
    { method: 'GET', path: '/pins/:cid', handle: async ({ res, params, signal }) => { sendJson(res, 200, await cluster.status(params.cid as string, { signal })) } },
    {
      method: 'POST',
      path: '/pins/:cid/recover',
      handle: async ({ res, params, signal }) => {
        // Checked here so that an unknown CID is a 404 before every peer is asked to recover it.
        if (cluster.get(params.cid as string) === undefined) throw new NotFoundError(`${params.cid} is not in the cluster pinset`)
        sendJson(res, 200, await cluster.recover(params.cid as string, { signal }))
      }
    },
    { method: 'POST', path: '/pins/recover', handle: async ({ res, signal }) => { sendJson(res, 200, await cluster.recoverAll({ signal })) } },
    {
      method: 'GET',
      path: '/allocations/:cid',
      handle: async ({ res, params }) => {
        const pin = cluster.get(params.cid as string)
        if (pin === undefined) throw new NotFoundError(`${params.cid} is not in the cluster pinset`)
        sendJson(res, 200, pin)
      }
    },
    {
      // pinmesh extension: pins of this peer's Kubo made outside the cluster join the pinset.
      method: 'POST',
      path: '/pins/adopt',
      handle: async ({ res, query, signal }) => {
        const cids = query.getAll('cid')
        const all = queryFlag(query, 'all', false)
        if (all === (cids.length > 0)) throw new InvalidParametersError('give either the CIDs to adopt (cid=…, repeatable) or all=true')
        sendJson(res, 200, await cluster.adopt({ ...pinOptionsFromQuery(query, Date.now()), ...(all ? {} : { cids }) }, { signal }))
      }
    },
    {
      method: 'POST',
      path: '/pins/:cid',
      handle: async ({ res, params, query, signal }) => {
        sendJson(res, 200, await cluster.pin(pinRequestFromQuery(params.cid as string, query, Date.now()), { signal }))
      }
    },
    {
      method: 'DELETE',
      path: '/pins/:cid',
      handle: async ({ res, params, signal }) => { sendJson(res, 200, await cluster.unpin(params.cid as string, { signal })) }
    },
    {
      // pinmesh extension: many pins in one request, one CID string or PinRequest object per NDJSON line.
      method: 'POST',
      path: '/pins',
      handle: async ({ req, res, signal }) => {
        let batch: PinRequest[] = []
        let total = 0
        let line = 0
        for await (const v of readNdjson(req, BULK)) {
          batch.push(pinRequestFromJson(v, ++line))
          if (batch.length === PIN_BATCH) { total += (await cluster.pinMany(batch, { signal })).length; batch = [] }
        }
        if (batch.length > 0) total += (await cluster.pinMany(batch, { signal })).length
        sendJson(res, 200, { pinned: total })
      }
    },
    {
      // pinmesh extension: many unpins in one request, one CID per NDJSON line.
      method: 'DELETE',
      path: '/pins',
      handle: async ({ req, res, signal }) => {
        let batch: string[] = []
        let total = 0
        let line = 0
        for await (const v of readNdjson(req, BULK)) {
          line++
          if (typeof v !== 'string') throw new InvalidParametersError(`line ${line}: expected a CID string`)
          batch.push(v)
          if (batch.length === UNPIN_BATCH) { total += await cluster.unpinMany(batch, { signal }); batch = [] }
        }
        if (batch.length > 0) total += await cluster.unpinMany(batch, { signal })
        sendJson(res, 200, { unpinned: total })
      }
    },
    {
      method: 'GET',
      path: '/pinset/stats',
      handle: async ({ res }) => {
        // With --expose-gc (tests, benchmarks) the heap figure is taken after a full collection.
        const gc = (globalThis as { gc?: () => void }).gc
        if (gc !== undefined) gc()
        sendJson(res, 200, { ...cluster.pinsetStats(), heapUsed: process.memoryUsage().heapUsed })
      }
    }
  ]
}
