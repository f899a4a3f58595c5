import { Readable } from 'node:stream'
import type { PinRecord } from '../types.js'
import type { AdoptResult, ClusterIdentity, ClusterPeer, GlobalPinInfo } from '../cluster/index.js'
import type { ApiErrorBody } from './errors.js'

/** An error answer from the admin API, with its stable code. */
export class AdminApiError extends Error {
  static readonly NAME = 'AdminApiError'
  override readonly name = AdminApiError.NAME
  readonly status: number
  readonly code: string
  constructor (status: number, body: ApiErrorBody) {
    super(body.message)
    this.status = status
    this.code = body.code
  }
}

/** One line of Kubo's `/api/v0/add` NDJSON answer, which `POST /add` answers with too. */
export interface AddEvent {
  Name: string
  /** Set on result lines (a file or directory was added); absent on progress lines. */
  Hash?: string
  /** Bytes of `Name` read so far (progress lines, with `progress=true`). */
  Bytes?: number
  /** Cumulative DAG size, as a string. */
  Size?: string
  Mode?: string
  Mtime?: number
  MtimeNsecs?: number
}

export interface AddRequestOptions {
  /** The multipart Content-Type, with its boundary. */
  contentType: string
  /** Kubo's add options and the cluster's pin options (`replication-min`, `name`, `meta-<k>`, …). */
  query?: Record<string, string>
  signal?: AbortSignal
  /** Path of the endpoint below the base URL. @default '/add' */
  path?: string
}

export interface AdminClientOptions {
  /** Base URL, e.g. `http://127.0.0.1:9094`. */
  url: string
  /** Sent as the Authorization header. */
  authorization?: string
}

/** `Authorization` value for HTTP Basic credentials. */
export function basicAuthorization (user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
}

/** `Authorization` value for a bearer token. */
export function bearerAuthorization (token: string): string {
  return `Bearer ${token}`
}

/** Typed client of the admin API (the `pinmesh` CLI and tests use it). */
export class AdminClient {
  private readonly base: string
  private readonly headers: Record<string, string>

  constructor (options: AdminClientOptions) {
    this.base = options.url.replace(/\/$/, '')
    this.headers = options.authorization !== undefined ? { authorization: options.authorization } : {}
  }

  async id (o?: { signal?: AbortSignal }): Promise<ClusterIdentity> { return await this.json('GET', '/id', undefined, o) }
  async peers (o?: { signal?: AbortSignal }): Promise<ClusterPeer[]> { return await this.json('GET', '/peers', undefined, o) }
  async status (cid: string, o?: { signal?: AbortSignal }): Promise<GlobalPinInfo> { return await this.json('GET', `/pins/${encodeURIComponent(cid)}`, undefined, o) }
  /**
   * One page of `GET /pins`: up to `limit` pins (the server's default when unset) after `cursor`,
   * and the cursor of the next page (undefined on the last).
   */
  async statusPage (options: { cursor?: string, limit?: number, filter?: string, signal?: AbortSignal } = {}): Promise<{ pins: GlobalPinInfo[], next?: string }> {
    const q = new URLSearchParams()
    if (options.filter !== undefined) q.set('filter', options.filter)
    if (options.limit !== undefined) q.set('limit', String(options.limit))
    if (options.cursor !== undefined) q.set('cursor', options.cursor)
    const qs = q.toString()
    const res = await this.request('GET', `/pins${qs === '' ? '' : `?${qs}`}`, undefined, options)
    const pins = (await res.text()).split('\n').filter(l => l !== '').map(l => JSON.parse(l) as GlobalPinInfo)
    const next = res.headers.get('x-next-cursor')
    return { pins, ...(next !== null && next !== '' ? { next } : {}) }
  }

  /** Every pin's cluster-wide status: `GET /pins` page after page, following the cursor. */
  async * statusAll (filter?: string, o?: { signal?: AbortSignal, limit?: number }): AsyncGenerator<GlobalPinInfo> {
    let cursor: string | undefined
    do {
      const page = await this.statusPage({ ...(filter !== undefined ? { filter } : {}), ...(o?.limit !== undefined ? { limit: o.limit } : {}), ...(cursor !== undefined ? { cursor } : {}), signal: o?.signal })
      yield * page.pins
      cursor = page.next
    } while (cursor !== undefined)
  }

  async recover (cid: string, o?: { signal?: AbortSignal }): Promise<GlobalPinInfo> { return await this.json('POST', `/pins/${encodeURIComponent(cid)}/recover`, undefined, o) }
  async allocation (cid: string, o?: { signal?: AbortSignal }): Promise<PinRecord> { return await this.json('GET', `/allocations/${encodeURIComponent(cid)}`, undefined, o) }
  async pinsetStats (o?: { signal?: AbortSignal }): Promise<Record<string, number>> { return await this.json('GET', '/pinset/stats', undefined, o) }
  async version (o?: { signal?: AbortSignal }): Promise<{ version: string }> { return await this.json('GET', '/version', undefined, o) }
  /** `GET /metrics`: Prometheus' text format, as served. */
  async metrics (o?: { signal?: AbortSignal }): Promise<string> { return await (await this.request('GET', '/metrics', undefined, o)).text() }

  async pin (cid: string, query: Record<string, string> = {}, o?: { signal?: AbortSignal }): Promise<PinRecord> {
    const q = new URLSearchParams(query).toString()
    return await this.json('POST', `/pins/${encodeURIComponent(cid)}${q === '' ? '' : `?${q}`}`, undefined, o)
  }

  /** Adopts pins of the daemon's Kubo into the cluster pinset (`cids`, or every one with `all`); `query` takes the pin options. */
  async adopt (target: { cids: string[] } | { all: true }, query: Record<string, string> = {}, o?: { signal?: AbortSignal }): Promise<AdoptResult> {
    const q = new URLSearchParams(query)
    if ('all' in target) q.set('all', 'true')
    else for (const cid of target.cids) q.append('cid', cid)
    return await this.json('POST', `/pins/adopt?${q.toString()}`, undefined, o)
  }

  async unpin (cid: string, o?: { signal?: AbortSignal }): Promise<PinRecord> { return await this.json('DELETE', `/pins/${encodeURIComponent(cid)}`, undefined, o) }

  /** Pins many CIDs in one request (NDJSON body): CID strings or pin request objects. */
  async pinMany (cids: Iterable<string | Record<string, unknown>>, o?: { signal?: AbortSignal }): Promise<number> {
    return (await this.json<{ pinned: number }>('POST', '/pins', ndjson(cids), o)).pinned
  }

  async unpinMany (cids: Iterable<string>, o?: { signal?: AbortSignal }): Promise<number> {
    return (await this.json<{ unpinned: number }>('DELETE', '/pins', ndjson(cids), o)).unpinned
  }

  /** Every pin in the pinset, streamed. */
  async * allocations (o?: { signal?: AbortSignal }): AsyncGenerator<PinRecord> {
    const res = await this.request('GET', '/allocations', undefined, o)
    for await (const v of readNdjson(res.body as AsyncIterable<Uint8Array>)) yield v as PinRecord
  }

  /** Runs a recover pass on every peer: operations queued per peer id, or that peer's error. */
  async recoverAll (o?: { signal?: AbortSignal }): Promise<Record<string, number | string>> { return await this.json('POST', '/pins/recover', undefined, o) }

  /**
   * `POST /add`: streams `body`, a multipart upload exactly as Kubo's `/api/v0/add` takes it, and
   * yields Kubo's NDJSON lines as they arrive (the root comes last). Throws AdminApiError for an error
   * answer (`{code,message}`, or Kubo's `{Message}` shape as `ERR_KUBO`) and for an error reported
   * after the lines in the `X-Stream-Error` trailer (`ERR_STREAM`).
   */
  async * add (body: AsyncIterable<Uint8Array>, options: AddRequestOptions): AsyncGenerator<AddEvent> {
    // undici rather than fetch: fetch does not expose trailers, where Kubo reports mid-stream failures.
    const { request } = await import('undici')
    const q = new URLSearchParams(options.query ?? {}).toString()
    const res = await request(`${this.base}${options.path ?? '/add'}${q === '' ? '' : `?${q}`}`, {
      method: 'POST',
      headers: { ...this.headers, 'content-type': options.contentType },
      body: Readable.from(body, { objectMode: false }),
      signal: options.signal
    })
    if (res.statusCode < 200 || res.statusCode > 299) {
      throw new AdminApiError(res.statusCode, errorBody(res.statusCode, await res.body.text()))
    }
    for await (const v of readNdjson(res.body as AsyncIterable<Uint8Array>)) yield v as AddEvent
    const streamError = res.trailers['x-stream-error']
    if (typeof streamError === 'string' && streamError !== '') throw new AdminApiError(res.statusCode, { code: 'ERR_STREAM', message: streamError })
  }

  async health (o?: { signal?: AbortSignal }): Promise<boolean> {
    const res = await fetch(`${this.base}/health`, { signal: o?.signal })
    return res.status === 204
  }

  private async json<T> (method: string, path: string, body?: string, o?: { signal?: AbortSignal }): Promise<T> {
    const res = await this.request(method, path, body, o)
    return await res.json() as T
  }

  private async request (method: string, path: string, body?: string, o?: { signal?: AbortSignal }): Promise<Response> {
    const res = await fetch(`${this.base}${path}`, { method, headers: { ...this.headers, ...(body !== undefined ? { 'content-type': 'application/x-ndjson' } : {}) }, body, signal: o?.signal })
    if (!res.ok) {
      const text = await res.text()
      let parsed: ApiErrorBody
      try { parsed = JSON.parse(text) as ApiErrorBody } catch { parsed = { code: 'ERR_HTTP', message: `${res.status} ${text}` } }
      throw new AdminApiError(res.status, parsed)
    }
    return res
  }
}

/** An error answer as ApiErrorBody: the admin API's own shape, Kubo's (from a Kubo-compatible endpoint), or raw text. */
function errorBody (status: number, text: string): ApiErrorBody {
  try {
    const v = JSON.parse(text) as Partial<ApiErrorBody> & { Message?: unknown }
    if (typeof v.code === 'string' && typeof v.message === 'string') return { code: v.code, message: v.message }
    if (typeof v.Message === 'string') return { code: 'ERR_KUBO', message: v.Message }
  } catch { /* not JSON */ }
  return { code: 'ERR_HTTP', message: `${status} ${text.trim()}` }
}

function ndjson (items: Iterable<unknown>): string {
  let s = ''
  for (const i of items) s += JSON.stringify(i) + '\n'
  return s
}

/** The JSON values of an NDJSON body, one a line (blank lines skipped, a last line without newline included). */
async function * readNdjson (body: AsyncIterable<Uint8Array>): AsyncGenerator<unknown> {
  const decoder = new TextDecoder()
  let buf = ''
  for await (const chunk of body) {
    buf += decoder.decode(chunk, { stream: true })
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim()
      buf = buf.slice(nl + 1)
      if (line !== '') yield JSON.parse(line)
    }
  }
  if (buf.trim() !== '') yield JSON.parse(buf)
}
