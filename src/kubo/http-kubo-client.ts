import { Agent, request, type Dispatcher } from 'undici'
import type { Logger } from '../logger.js'
import { KuboApiError, KuboPinTimeoutError, KuboUnavailableError, isErrorNamed } from '../errors.js'
import { canonicalCid } from '../utils/cid.js'
import type { KuboCallOptions, KuboClient, KuboIdentity, KuboPin, KuboPinCheck, KuboPinType, KuboRepoStat, PinAddOptions } from './types.js'
import type { PinMode } from '../types.js'
import { CallScope, abortReason } from './call-scope.js'
import { ndjson } from './ndjson.js'
import {
  isAlreadyPinnedRecursivelyError, isNotPinnedError, isPathNotPinnedError, isUpdateFromNotPinnedError, isUpdateToAlreadyPinnedError
} from './error-predicates.js'

export interface HttpKuboClientInit {
  /** Kubo's RPC base URL without `/api/v0`, e.g. `http://127.0.0.1:5001`. */
  url: string
  /** A connection attempt to Kubo fails (KuboUnavailableError) after this long. */
  connectTimeoutMs: number
  /**
   * Deadline of every call except pinAdd (which has its no-progress timeout). For streamed answers
   * (pinLs, repoGc) it bounds the wait for each next line instead of the whole stream, so a listing
   * of millions of pins is not cut off. A call past its deadline fails with a `TimeoutError`.
   */
  requestTimeoutMs: number
  logger: Logger
  /** Authorization header value for every call, when Kubo has API.Authorizations (`Basic …`, `Bearer …`). */
  authorization?: string
}

type Params = Record<string, string | readonly string[] | undefined>
type Line = Record<string, unknown>

// Error codes of a Kubo that cannot be reached or went away mid-answer (Node's and undici's).
const UNREACHABLE = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED'
])
const MAX_ERROR_BODY = 64 * 1024
const SWARM_CONNECT_CONCURRENCY = 8
const PIN_MODES: readonly PinMode[] = ['recursive', 'direct']

/**
 * KuboClient over Kubo's HTTP RPC API, with undici and one keep-alive connection pool.
 *
 * Streamed endpoints (pin/add progress, pin/ls, repo/gc) are parsed line by line as they arrive.
 * Errors: see KuboClient; a call past `requestTimeoutMs` fails with a DOMException named
 * `TimeoutError`, and a mid-stream failure Kubo reports in its `X-Stream-Error` trailer becomes a
 * KuboApiError with status 200.
 */
export class HttpKuboClient implements KuboClient {
  private readonly base: string
  private readonly agent: Agent
  private readonly requestTimeoutMs: number
  private readonly log: Logger
  private readonly headers: Record<string, string>

  constructor (init: HttpKuboClientInit) {
    this.base = init.url.replace(/\/+$/, '')
    this.headers = { 'user-agent': 'pinmesh', ...(init.authorization !== undefined && init.authorization !== '' ? { authorization: init.authorization } : {}) }
    this.requestTimeoutMs = init.requestTimeoutMs
    this.log = init.logger
    // undici's own headers/body timeouts (300 s) would cut pins and long streams; deadlines are ours.
    this.agent = new Agent({ connect: { timeout: init.connectTimeoutMs }, headersTimeout: 0, bodyTimeout: 0 })
  }

  /** Aborts calls in flight and closes the connections. Later calls fail with KuboUnavailableError. */
  async close (): Promise<void> {
    await this.agent.destroy()
  }

  async id (options: KuboCallOptions = {}): Promise<KuboIdentity> {
    const out = await this.json('id', {}, options.signal)
    return {
      id: str(out.ID),
      addresses: Array.isArray(out.Addresses) ? out.Addresses.filter((a): a is string => typeof a === 'string') : [],
      agentVersion: str(out.AgentVersion)
    }
  }

  async version (options: KuboCallOptions = {}): Promise<string> {
    return str((await this.json('version', {}, options.signal)).Version)
  }

  async pinAdd (cid: string, options: PinAddOptions): Promise<void> {
    const { mode, name, onProgress, signal } = options
    const idleMs = options.noProgressTimeoutMs ?? 0
    const scope = new CallScope(signal, idleMs, () => new KuboPinTimeoutError(`kubo made no progress pinning ${cid} for ${idleMs} ms`))
    const params = { arg: cid, recursive: String(mode === 'recursive'), progress: 'true', name }
    let pinned = false
    let nodes = 0
    let bytes = 0
    try {
      for await (const line of this.lines('pin/add', params, scope)) {
        if (Array.isArray(line.Pins)) { pinned = true; continue }
        // Kubo sends a line every 500 ms even when nothing moves (`{}` while it looks for providers),
        // so only a line whose counters grew counts as progress.
        const n = num(line.Progress)
        const b = num(line.Bytes)
        if (n > nodes || b > bytes) {
          nodes = Math.max(n, nodes)
          bytes = Math.max(b, bytes)
          scope.rearm()
          onProgress?.(nodes, bytes)
        }
      }
    } catch (err) {
      // A recursive pin already holds the root block a direct pin asks for; Kubo refuses the direct
      // pin instead of keeping both. The stronger pin stays (pinRm with mode 'recursive' downgrades).
      if (mode === 'direct' && isAlreadyPinnedRecursivelyError(err)) {
        this.log.debug({ cid }, 'direct pin requested, kubo pins it recursively already')
        return
      }
      throw err
    } finally {
      scope.dispose()
    }
    if (!pinned) throw new KuboApiError('pin/add', 200, `kubo ended pin/add of ${cid} without reporting the pin`)
    this.log.debug({ cid, mode, nodes, bytes }, 'kubo pinned')
  }

  async pinRm (cid: string, options: KuboCallOptions & { mode?: PinMode } = {}): Promise<void> {
    const recursive = options.mode === undefined ? undefined : String(options.mode === 'recursive')
    try {
      await this.json('pin/rm', { arg: cid, recursive }, options.signal)
    } catch (err) {
      if (isNotPinnedError(err)) return
      throw err
    }
  }

  async * pinLs (options: KuboCallOptions = {}): AsyncGenerator<KuboPin, void, undefined> {
    // Two typed listings instead of type=all: indirect pins would make Kubo walk every DAG.
    for (const type of ['recursive', 'direct'] as const) {
      for await (const line of this.streamed('pin/ls', { type, stream: 'true', names: 'true' }, options.signal)) {
        const pin: KuboPin = { cid: str(line.Cid), type }
        if (typeof line.Name === 'string' && line.Name !== '') pin.name = line.Name
        yield pin
      }
    }
  }

  async pinType (cid: string, options: KuboCallOptions & { types?: readonly PinMode[] } = {}): Promise<PinMode | undefined> {
    // One typed pin/ls per mode, never type=all: for a CID not pinned directly or recursively,
    // type=all makes Kubo walk every pinned DAG looking for an indirect pin, under its pin lock.
    for (const type of options.types ?? PIN_MODES) {
      let out: Line
      try {
        out = await this.json('pin/ls', { arg: cid, type }, options.signal)
      } catch (err) {
        if (isPathNotPinnedError(err)) continue
        throw err
      }
      // One arg gives one key: the resolved CID, in Kubo's encoding rather than the caller's.
      const entry = Object.values(isRecord(out.Keys) ? out.Keys : {})[0]
      if (isRecord(entry) && entry.Type === type) return type
      throw new KuboApiError('pin/ls', 200, `unexpected pin/ls answer for ${cid}: ${JSON.stringify(out)}`)
    }
    return undefined
  }

  async pinCheck (cid: string, options: KuboCallOptions & { type: KuboPinType | 'all' }): Promise<KuboPinCheck | undefined> {
    let out: Line
    try {
      out = await this.json('pin/ls', { arg: cid, type: options.type, names: 'true' }, options.signal)
    } catch (err) {
      if (isPathNotPinnedError(err)) return undefined
      throw err
    }
    const entry = Object.values(isRecord(out.Keys) ? out.Keys : {})[0]
    const type = isRecord(entry) ? str(entry.Type) : ''
    const name = isRecord(entry) ? str(entry.Name) : ''
    if (type === 'recursive' || type === 'direct') return { type, ...(name !== '' ? { name } : {}) }
    if (type === 'indirect') return { type }
    const via = /^indirect through (\S+)$/.exec(type)?.[1]
    if (via !== undefined) return { type: 'indirect', via }
    throw new KuboApiError('pin/ls', 200, `unexpected pin/ls answer for ${cid}: ${JSON.stringify(out)}`)
  }

  async * indirectPins (options: KuboCallOptions = {}): AsyncGenerator<string, void, undefined> {
    for await (const line of this.streamed('pin/ls', { type: 'indirect', stream: 'true' }, options.signal)) yield str(line.Cid)
  }

  async * refs (cid: string, options: KuboCallOptions = {}): AsyncGenerator<string, void, undefined> {
    // offline: a block this Kubo lacks ends the walk instead of being fetched from the network.
    for await (const line of this.streamed('refs', { arg: cid, recursive: 'true', unique: 'true', offline: 'true' }, options.signal)) {
      if (typeof line.Err === 'string' && line.Err !== '') throw new KuboApiError('refs', 200, line.Err)
      yield str(line.Ref)
    }
  }

  async pinUpdate (from: string, to: string, options: KuboCallOptions & { unpin?: boolean } = {}): Promise<void> {
    const unpin = options.unpin ?? true
    try {
      await this.json('pin/update', { arg: [from, to], unpin: String(unpin) }, options.signal)
    } catch (err) {
      // Kubo checks `from` first, so `to` pinned already means `from` still is: finish the swap.
      if (isUpdateToAlreadyPinnedError(err)) {
        if (unpin) await this.pinRm(from, { mode: 'recursive', signal: options.signal })
        return
      }
      // A repeated update: `from` is gone and `to` is in place.
      if (isUpdateFromNotPinnedError(err) && await this.pinType(to, { types: ['recursive'], signal: options.signal }) === 'recursive') return
      throw err
    }
  }

  async repoStat (options: KuboCallOptions & { sizeOnly?: boolean } = {}): Promise<KuboRepoStat> {
    // size-only skips counting every block (slow on big repos); NumObjects is 0 then.
    const sizeOnly = options.sizeOnly ?? true
    const out = await this.json('repo/stat', { 'size-only': String(sizeOnly) }, options.signal)
    const base = { repoSize: num(out.RepoSize), storageMax: num(out.StorageMax), numObjects: num(out.NumObjects) }
    return sizeOnly ? base : { ...base, repoPath: String(out.RepoPath ?? ''), version: String(out.Version ?? '') }
  }

  async * repoGc (options: KuboCallOptions = {}): AsyncGenerator<{ cid?: string, error?: string }, void, undefined> {
    for await (const line of this.streamed('repo/gc', { 'stream-errors': 'true' }, options.signal)) {
      if (typeof line.Error === 'string' && line.Error !== '') yield { error: line.Error }
      else if (isRecord(line.Key) && typeof line.Key['/'] === 'string') yield { cid: line.Key['/'] }
    }
  }

  async swarmConnect (addresses: readonly string[], options: KuboCallOptions = {}): Promise<void> {
    // One request per address: Kubo stops at the first address that fails to connect.
    const queue = [...addresses]
    const worker = async (): Promise<void> => {
      for (let address = queue.shift(); address !== undefined; address = queue.shift()) {
        try {
          await this.json('swarm/connect', { arg: address }, options.signal)
        } catch (err) {
          if (!isErrorNamed(err, KuboApiError.NAME) && !isErrorNamed(err, 'TimeoutError')) throw err
          this.log.debug({ err, address }, 'kubo could not connect to a swarm address')
        }
      }
    }
    const workers = Array.from({ length: Math.min(SWARM_CONNECT_CONCURRENCY, queue.length) }, worker)
    const results = await Promise.allSettled(workers)
    if (options.signal?.aborted === true) throw abortReason(options.signal)
    for (const r of results) if (r.status === 'rejected') throw r.reason
  }

  async resolve (path: string, options: KuboCallOptions & { strict?: boolean } = {}): Promise<string> {
    if (options.strict === true) return await this.resolveStrict(path, options.signal)
    let p = path.trim()
    if (p.startsWith('ipfs://')) p = `/ipfs/${p.slice('ipfs://'.length)}`
    else if (p.startsWith('ipns://')) p = `/ipns/${p.slice('ipns://'.length)}`
    if (!p.startsWith('/')) return canonicalCid(p)
    const plain = /^\/ipfs\/([^/]+)\/?$/.exec(p)
    if (plain !== null) return canonicalCid(plain[1] as string)
    return await this.resolveWithKubo(p, path, options.signal)
  }

  /** Kubo's reading of a command's path argument: a path, else a bare CID, else Kubo's own error. */
  private async resolveStrict (path: string, signal: AbortSignal | undefined): Promise<string> {
    const bare = /^\/ipfs\/([^/]+)\/?$/.exec(path)?.[1] ?? (path.startsWith('/') ? undefined : path)
    if (bare !== undefined && bare === bare.trim()) {
      try { return canonicalCid(bare) } catch { /* Kubo reads more multibases, or says why not */ }
    }
    return await this.resolveWithKubo(path, path, signal)
  }

  private async resolveWithKubo (p: string, path: string, signal: AbortSignal | undefined): Promise<string> {
    const out = await this.json('resolve', { arg: p, recursive: 'true' }, signal)
    const resolved = str(out.Path)
    // A path into a non-UnixFS block resolves to `/ipfs/<cid>/<rest>`; Kubo would pin <cid>.
    const m = /^\/ipfs\/([^/]+)/.exec(resolved)
    if (m === null) throw new KuboApiError('resolve', 200, `kubo resolved ${path} to "${resolved}", not to an /ipfs/ path`)
    return canonicalCid(m[1] as string)
  }

  private scope (path: string, signal: AbortSignal | undefined): CallScope {
    const ms = this.requestTimeoutMs
    return new CallScope(signal, ms, () => new DOMException(`kubo did not answer ${path} within ${ms} ms`, 'TimeoutError'))
  }

  /** One call with a single JSON answer, under requestTimeoutMs. */
  private async json (path: string, params: Params, signal: AbortSignal | undefined): Promise<Line> {
    const scope = this.scope(path, signal)
    try {
      const res = await this.open(path, params, scope)
      let text: string
      try {
        text = await res.body.text()
      } catch (err) {
        throw this.explain(err, scope)
      }
      throwStreamError(path, res)
      return parseLine(path, text)
    } finally {
      scope.dispose()
    }
  }

  /**
   * A streamed answer's NDJSON values, with requestTimeoutMs bounding the wait for each value (not
   * the whole answer: a long listing or gc goes on as long as Kubo keeps sending).
   */
  private async * streamed (path: string, params: Params, signal: AbortSignal | undefined): AsyncGenerator<Line, void, undefined> {
    const scope = this.scope(path, signal)
    try {
      for await (const line of this.lines(path, params, scope)) {
        scope.rearm()
        yield line
      }
    } finally {
      scope.dispose()
    }
  }

  /** The NDJSON values of a streamed answer, as they arrive. Stopping early closes the connection. */
  private async * lines (path: string, params: Params, scope: CallScope): AsyncGenerator<Line, void, undefined> {
    const res = await this.open(path, params, scope)
    // Leaving the loop early (break, throw) ends the body's iterator, which destroys the body and so
    // the connection: Kubo sees the client go and stops.
    try {
      for await (const value of ndjson(res.body)) {
        if (!isRecord(value)) throw new KuboApiError(path, res.statusCode, `unexpected line from kubo: ${JSON.stringify(value)}`)
        yield value
      }
    } catch (err) {
      if (err instanceof SyntaxError) throw new KuboApiError(path, res.statusCode, `unparsable line from kubo: ${err.message}`, 0, { cause: err })
      throw this.explain(err, scope)
    }
    throwStreamError(path, res)
  }

  private async open (path: string, params: Params, scope: CallScope): Promise<Dispatcher.ResponseData> {
    scope.throwIfAborted()
    let res: Dispatcher.ResponseData
    try {
      res = await request(`${this.base}/api/v0/${path}?${query(params)}`, {
        method: 'POST', dispatcher: this.agent, signal: scope.signal, headers: this.headers
      })
    } catch (err) {
      throw this.explain(err, scope)
    }
    if (res.statusCode >= 200 && res.statusCode < 300) return res
    throw await this.errorFrom(path, res, scope)
  }

  /** Kubo's error answer as a KuboApiError, its message verbatim. */
  private async errorFrom (path: string, res: Dispatcher.ResponseData, scope: CallScope): Promise<unknown> {
    let text = ''
    try {
      for await (const chunk of res.body) {
        text += Buffer.from(chunk as Uint8Array).toString('utf8')
        if (text.length > MAX_ERROR_BODY) { res.body.destroy(); break }
      }
    } catch (err) {
      return this.explain(err, scope)
    }
    if (String(res.headers['content-type'] ?? '').startsWith('application/json')) {
      try {
        const body: unknown = JSON.parse(text)
        if (isRecord(body) && typeof body.Message === 'string') {
          return new KuboApiError(path, res.statusCode, body.Message, typeof body.Code === 'number' ? body.Code : 0)
        }
      } catch { /* not Kubo's error shape: keep the text */ }
    }
    // Parse, method, origin and auth errors are text/plain (http.Error); the codes are the ones
    // Kubo's own CLI assigns to them.
    return new KuboApiError(path, res.statusCode, text.replace(/\r?\n$/, ''), textErrorCode(res.statusCode))
  }

  /** The error the caller should see: abort reason, deadline error, KuboUnavailableError, or `err`. */
  private explain (err: unknown, scope: CallScope): unknown {
    const explained = scope.explain(err)
    if (explained === err && isUnreachable(err)) return new KuboUnavailableError(this.base, { cause: err })
    return explained
  }
}

function query (params: Params): string {
  const q = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined) continue
    for (const v of typeof value === 'string' ? [value] : value) q.append(key, v)
  }
  return q.toString()
}

function throwStreamError (path: string, res: Dispatcher.ResponseData): void {
  const message = res.trailers['x-stream-error']
  if (typeof message === 'string' && message !== '') throw new KuboApiError(path, res.statusCode, message)
}

function parseLine (path: string, text: string): Line {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new KuboApiError(path, 200, `unparsable answer from kubo: ${(err as Error).message}`, 0, { cause: err })
  }
  if (!isRecord(value)) throw new KuboApiError(path, 200, `unexpected answer from kubo: ${text.slice(0, 200)}`)
  return value
}

function isUnreachable (err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && UNREACHABLE.has(code)) return true
  }
  return false
}

function textErrorCode (status: number): number {
  if (status === 400 || status === 404) return 1
  if (status === 403) return 4
  if (status === 429) return 3
  return 0
}

function isRecord (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function str (v: unknown): string {
  return typeof v === 'string' ? v : ''
}

/** Kubo's uint64 counters as safe JS numbers (StorageMax is 2^64-1 when unlimited). */
function num (v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.min(v, Number.MAX_SAFE_INTEGER) : 0
}
