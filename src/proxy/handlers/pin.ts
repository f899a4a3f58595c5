import { pinOptionsFromQuery, type Cluster, type ListedPin } from '../../cluster/index.js'
import type { PinRecord } from '../../types.js'
import { InvalidParametersError, KuboApiError, NotFoundError } from '../../errors.js'
import type { InterceptContext, InterceptHandler } from '../routes.js'
import { KuboOptions, readBodyArgs } from '../kubo-options.js'
import { sendKuboValue, sendKuboKeys, KuboStream } from '../kubo-response.js'
import { deadlineError } from '../deadline.js'
import { withTimeout, abortedByTimeout } from '../../utils/signals.js'
import { assertPinName } from '../../utils/pin-name.js'

export type PinWait = 'pinned' | 'committed'

export interface PinHandlersInit {
  /** When pin/add answers unless the request says (`wait=`). */
  pinWait: PinWait
  /** Give up waiting after this long (0: never). */
  pinWaitTimeoutMs: number
}

const NOT_PINNED = 'not pinned or pinned indirectly'

/** pin/add, pin/rm, pin/ls and pin/update answered from the cluster, in Kubo's shapes. */
export function pinHandlers (cluster: Cluster, init: PinHandlersInit): Record<string, InterceptHandler> {
  return {
    'pin/add': async (ctx) => { await pinAdd(cluster, init, ctx) },
    'pin/rm': async (ctx) => { await pinRm(cluster, ctx) },
    'pin/ls': async (ctx) => { await pinLs(cluster, ctx) },
    'pin/update': async (ctx) => { await pinUpdate(cluster, init, ctx) }
  }
}

async function allArgs (ctx: InterceptContext): Promise<string[]> {
  return [...ctx.args, ...await readBodyArgs(ctx.req)]
}

/**
 * When to answer: the request's `wait=` or the configured default. A peer the cluster does not
 * trust keeps its writes to itself (no other peer pins them, nor tells it their status), so it
 * answers once they are committed.
 */
export function waitMode (cluster: Cluster, q: URLSearchParams, init: PinHandlersInit): PinWait {
  const w = q.get('wait')
  let mode: PinWait
  if (w === null) mode = init.pinWait
  else if (w === 'pinned' || w === 'true') mode = 'pinned'
  else if (w === 'committed' || w === 'false') mode = 'committed'
  else throw new InvalidParametersError(`wait must be pinned or committed, got "${w}"`)
  return cluster.identity().trusted ? mode : 'committed'
}

/** Each path argument read as Kubo reads it, so a bad one gets Kubo's own `invalid path "X": …`. */
async function resolveAll (cluster: Cluster, args: readonly string[], signal: AbortSignal): Promise<string[]> {
  const out: string[] = []
  for (const a of args) out.push(await cluster.resolve(a, { signal, strict: true }))
  return out
}

/**
 * Resolves once every CID is pinned on its allocated peers, bounded by the request's deadline and
 * pinWaitTimeoutMs. The pins stay in the cluster pinset either way: a cluster pin is a standing
 * request that `pin rm` withdraws.
 */
export async function waitAll (cluster: Cluster, cids: readonly string[], ctx: InterceptContext, init: PinHandlersInit, onProgress?: (nodes: number, bytes: number) => void): Promise<void> {
  const signal = withTimeout([ctx.signal], init.pinWaitTimeoutMs > 0 ? init.pinWaitTimeoutMs : undefined)
  try {
    await waitEach(cluster, cids, signal, onProgress)
  } catch (err) {
    // The request's own `timeout=` or pinmesh's wait limit: Kubo's words for an expired pin (a
    // caller that reports progress has started a stream).
    throw abortedByTimeout(signal) ? deadlineError(ctx.command, { streaming: onProgress !== undefined }) : err
  } finally {
    signal.clear()
  }
}

async function waitEach (cluster: Cluster, cids: readonly string[], signal: AbortSignal, onProgress?: (nodes: number, bytes: number) => void): Promise<void> {
  const progress = new Map<string, { nodes: number, bytes: number }>()
  await Promise.all(cids.map(async (cid) => {
    await cluster.waitPinned(cid, {
      signal,
      // Only a caller that reports progress asks for it: following progress costs the peers more calls.
      onProgress: onProgress === undefined ? undefined : (nodes, bytes) => {
        progress.set(cid, { nodes, bytes })
        let n = 0
        let b = 0
        for (const p of progress.values()) { n += p.nodes; b += p.bytes }
        onProgress(n, b)
      }
    })
  }))
}

async function pinAdd (cluster: Cluster, init: PinHandlersInit, ctx: InterceptContext): Promise<void> {
  const o = new KuboOptions(ctx.query)
  const recursive = o.bool(['recursive', 'r'], true)
  const progress = o.bool(['progress'], false)
  const name = o.string(['name', 'n'])
  if (name !== undefined) assertPinName(name, 'pin/add')
  const cluster_ = pinOptionsFromQuery(ctx.query, Date.now())
  const wait = waitMode(cluster, ctx.query, init)
  const args = await allArgs(ctx)
  if (args.length === 0) throw new InvalidParametersError('argument "ipfs-path" is required')
  const cids = await resolveAll(cluster, args, ctx.signal)
  for (const cid of cids) {
    const existing = cluster.get(cid)
    // Kubo refuses to downgrade; pinmesh answers the same.
    if (!recursive && existing?.mode === 'recursive') throw new KuboApiError('pin/add', 500, `pin: ${cid} already pinned recursively`)
  }
  const records = await cluster.pinMany(cids.map(cid => ({ cid, mode: recursive ? 'recursive' : 'direct', ...(name !== undefined ? { name } : {}), ...cluster_ })), { signal: ctx.signal })
  const pins = records.map(r => r.cid)
  if (!progress) {
    if (wait === 'pinned') await waitAll(cluster, pins, ctx, init)
    sendKuboValue(ctx.res, { Pins: pins })
    return
  }
  const stream = new KuboStream(ctx.res)
  let last = { nodes: 0, bytes: 0 }
  const tick = setInterval(() => { void stream.emit(progressLine(last)) }, 500)
  try {
    if (wait === 'pinned') await waitAll(cluster, pins, ctx, init, (nodes, bytes) => { last = { nodes, bytes } })
    clearInterval(tick)
    if (last.nodes > 0) await stream.emit(progressLine(last))
    await stream.emit({ Pins: pins })
    stream.end()
  } catch (err) {
    clearInterval(tick)
    stream.fail((err as Error).message)
  }
}

/** Kubo's AddPinOutput with zero fields omitted (so `{}` is a valid early line). */
function progressLine (p: { nodes: number, bytes: number }): Record<string, number> {
  return { ...(p.nodes > 0 ? { Progress: p.nodes } : {}), ...(p.bytes > 0 ? { Bytes: p.bytes } : {}) }
}

async function pinRm (cluster: Cluster, ctx: InterceptContext): Promise<void> {
  const o = new KuboOptions(ctx.query)
  const recursive = o.bool(['recursive', 'r'], true)
  const args = await allArgs(ctx)
  if (args.length === 0) throw new InvalidParametersError('argument "ipfs-path" is required')
  const cids = await resolveAll(cluster, args, ctx.signal)
  const removed: string[] = []
  for (const cid of cids) {
    const record = cluster.get(cid)
    if (record === undefined) throw new KuboApiError('pin/rm', 500, NOT_PINNED)
    if (!recursive && record.mode === 'recursive') throw new KuboApiError('pin/rm', 500, `${cid} is pinned recursively`)
    try { await cluster.unpin(cid, { signal: ctx.signal }) } catch (err) {
      if ((err as Error).name === NotFoundError.NAME) throw new KuboApiError('pin/rm', 500, NOT_PINNED)
      throw err
    }
    removed.push(cid)
  }
  sendKuboValue(ctx.res, { Pins: removed })
}

const TYPES = ['direct', 'indirect', 'recursive', 'all'] as const

interface PinLsEntry { cid: string, type: string, name: string }

/**
 * pin/ls for the cluster, as Kubo answers it for one node (Cluster.listPins, Cluster.checkPins):
 * the cluster pins, this peer's Kubo pins outside the pinset, and the indirect pins below them;
 * `type`, `stream`, `names`, `name` and arguments (paths too) as Kubo takes them. Each argument is
 * checked on its own; Kubo v0.42 pairs the types it finds with the wrong arguments when several
 * arguments mix pin types (its results come back grouped by type), which is not copied.
 */
async function pinLs (cluster: Cluster, ctx: InterceptContext): Promise<void> {
  const o = new KuboOptions(ctx.query)
  const type = o.string(['type', 't']) ?? 'all'
  if (!(TYPES as readonly string[]).includes(type)) throw new KuboApiError('pin/ls', 500, `invalid type '${type}', must be one of {direct, indirect, recursive, all}`)
  const stream = o.bool(['stream', 's'], false)
  const nameFilter = o.string(['name', 'n']) ?? ''
  const names = o.bool(['names'], false) || nameFilter !== ''
  o.bool(['quiet', 'q'], false)
  const t = type as typeof TYPES[number]

  let entries: AsyncIterable<PinLsEntry> | PinLsEntry[]
  if (ctx.args.length > 0) {
    // Kubo resolves every argument (its own error for an invalid path) before it checks any.
    const cids: string[] = []
    for (const arg of ctx.args) cids.push(await cluster.resolve(arg, { signal: ctx.signal, strict: true }))
    const found = await cluster.checkPins(cids, { type: t, signal: ctx.signal })
    entries = found.map((f, i) => {
      if (f === undefined) throw new KuboApiError('pin/ls', 500, `path '${ctx.args[i] as string}' is not pinned`)
      return { cid: f.cid, type: f.via !== undefined ? `indirect through ${f.via}` : f.type, name: f.name }
    })
  } else {
    entries = filterByName(cluster.listPins({ type: t, signal: ctx.signal }), nameFilter)
  }
  if (stream) {
    const s = new KuboStream(ctx.res)
    try {
      for await (const e of entries) await s.emit({ Cid: e.cid, ...(names && e.name !== '' ? { Name: e.name } : {}), Type: e.type })
    } catch (err) {
      s.fail((err as Error).message)
      return
    }
    s.end()
    return
  }
  // One JSON value whose keys Go's encoding/json writes sorted: Kubo gathers the whole map first, and
  // so must this (stream=true is the way to list without that); the answer is written piece by piece.
  const keys = new Map<string, { Type: string, Name: string }>()
  for await (const e of entries) keys.set(e.cid, { Type: e.type, Name: names ? e.name : '' })
  const sorted = [...keys.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  await sendKuboKeys(ctx.res, (function * () { for (const cid of sorted) yield [cid, keys.get(cid)] as const })())
}

/** Kubo's `name` filter: a case-sensitive substring of the pin's name (indirect pins have none). */
async function * filterByName (pins: AsyncIterable<ListedPin>, filter: string): AsyncGenerator<PinLsEntry> {
  for await (const p of pins) if (filter === '' || p.name.includes(filter)) yield p
}

async function pinUpdate (cluster: Cluster, init: PinHandlersInit, ctx: InterceptContext): Promise<void> {
  const o = new KuboOptions(ctx.query)
  const unpin = o.bool(['unpin'], true)
  const wait = waitMode(cluster, ctx.query, init)
  if (ctx.args.length === 0) throw new InvalidParametersError('argument "from-path" is required')
  if (ctx.args.length === 1) throw new InvalidParametersError('argument "to-path" is required')
  if (ctx.args.length > 2) throw new InvalidParametersError(`expected 2 arguments, got ${ctx.args.length}`)
  const [from, to] = await resolveAll(cluster, ctx.args, ctx.signal) as [string, string]
  const record: PinRecord = await cluster.update(from, to, { unpin, signal: ctx.signal })
  if (wait === 'pinned') await waitAll(cluster, [record.cid], ctx, init)
  sendKuboValue(ctx.res, { Pins: [from, to] })
}

