import type { Logger } from '../logger.js'
import type { PinRecord } from '../types.js'
import type { KuboClient, KuboPin } from '../kubo/types.js'
import type { Rpc } from '../rpc/index.js'
import { canonicalCid } from '../utils/cid.js'
import { KuboApiError, isErrorNamed } from '../errors.js'
import type { ListedPin, PinLsType } from './types.js'

/** RPC method: every CID below a recursive pin, read from that peer's Kubo. */
export const REFS_METHOD = 'kubo.refs'

// Walks of big DAGs on another peer's Kubo take long; the caller's signal ends them sooner.
const REMOTE_WALK_TIMEOUT_MS = 600_000
/** Roots walked per call to a peer (the answer holds every CID below them; RPC answers are at most 64 MiB). */
const WALK_BATCH = 100

export interface PinListingComponents {
  kubo: KuboClient
  rpc: Rpc
  logger: Logger
  /** The cluster pinset (the listing takes one snapshot of it). */
  pins: () => Iterable<PinRecord>
  get: (cid: string) => PinRecord | undefined
  /** Live peers (not this one) whose Kubo may hold a cluster pin's blocks, in the order to ask them. */
  holders: (record: PinRecord) => string[]
}

/**
 * `pin/ls` answered for the cluster the way Kubo answers it for one node: the cluster pinset plus
 * this peer's own Kubo pins the cluster does not hold, and, as indirect pins, everything below a
 * recursive pin that is not pinned itself. Descendants of the recursive pins this Kubo holds come
 * from its own `pin/ls?type=indirect`; those of cluster pins it does not hold are walked on a peer
 * whose Kubo does (`refs -r`). Like Kubo's, listing indirect pins walks every DAG.
 */
export class PinListing {
  private readonly c: PinListingComponents
  /** Root → descendants, for the walks of one request (several arguments share them). */
  private readonly walks = new Map<string, Set<string> | undefined>()
  private localPinsOnce?: Promise<Map<string, KuboPin>>

  constructor (components: PinListingComponents) {
    this.c = components
  }

  /** Every pin of `type` (`all`: recursive, then direct, then indirect, as Kubo streams them). */
  async * list (type: PinLsType, signal?: AbortSignal): AsyncGenerator<ListedPin, void, undefined> {
    const local = await this.localPins(signal)
    const cluster = new Map<string, PinRecord>()
    for (const r of this.c.pins()) cluster.set(r.cid, r)
    for (const mode of ['recursive', 'direct'] as const) {
      if (type !== 'all' && type !== mode) continue
      for (const r of cluster.values()) if (r.mode === mode) yield { cid: r.cid, type: mode, name: r.name }
      for (const [cid, p] of local) if (p.type === mode && !cluster.has(cid)) yield { cid, type: mode, name: p.name ?? '' }
    }
    if (type !== 'all' && type !== 'indirect') return
    const seen = new Set<string>()
    const fresh = (cid: string): boolean => {
      if (cluster.has(cid) || local.has(cid) || seen.has(cid)) return false
      seen.add(cid)
      return true
    }
    for await (const c of this.c.kubo.indirectPins({ signal })) {
      const cid = canonicalCid(c)
      if (fresh(cid)) yield { cid, type: 'indirect', name: '' }
    }
    for await (const [, refs] of this.walkRoots(this.remoteRoots(cluster.values(), local), signal)) {
      for (const cid of refs ?? []) if (fresh(cid)) yield { cid, type: 'indirect', name: '' }
    }
  }

  /**
   * How `cid` is pinned, as `pin/ls?arg=<cid>&type=<type>` tells: recursive before direct before
   * indirect (with the recursive pin it is held through), undefined when it is not pinned as
   * `type` asks. As in Kubo, a CID pinned recursively is never indirect, a direct one may be.
   */
  async check (cid: string, type: PinLsType, signal?: AbortSignal): Promise<ListedPin | undefined> {
    const r = this.c.get(cid)
    if (r !== undefined && type !== 'indirect') return type === 'all' || r.mode === type ? { cid, type: r.mode, name: r.name } : undefined
    if (r?.mode === 'recursive') return undefined
    const k = await this.c.kubo.pinCheck(cid, { type, signal })
    if (k !== undefined) return { cid, type: k.type, name: k.name ?? '', ...(k.via !== undefined ? { via: canonicalCid(k.via) } : {}) }
    if (type === 'recursive' || type === 'direct') return undefined
    // Not below a recursive pin of this Kubo: below a cluster pin only other peers hold?
    const local = await this.localPins(signal)
    if (local.get(cid)?.type === 'recursive') return undefined
    for await (const [root, refs] of this.walkRoots(this.remoteRoots(this.c.pins(), local), signal)) {
      if (refs?.has(cid) === true) return { cid, type: 'indirect', name: '', via: root.cid }
    }
    return undefined
  }

  /** This Kubo's recursive and direct pins by canonical CID (read once per listing). */
  private async localPins (signal?: AbortSignal): Promise<Map<string, KuboPin>> {
    this.localPinsOnce ??= (async () => {
      const out = new Map<string, KuboPin>()
      for await (const p of this.c.kubo.pinLs({ signal })) out.set(canonicalCid(p.cid), p)
      return out
    })()
    return await this.localPinsOnce
  }

  /** Cluster recursive pins this Kubo does not hold recursively (their descendants are not in its indirect list). */
  private * remoteRoots (pins: Iterable<PinRecord>, local: Map<string, KuboPin>): Generator<PinRecord> {
    for (const r of pins) if (r.mode === 'recursive' && local.get(r.cid)?.type !== 'recursive') yield r
  }

  /**
   * The descendants of each of `roots` (cluster pins), walked on the Kubos of their holders: one
   * call per peer for up to WALK_BATCH roots, a root its first holder cannot walk (missing blocks,
   * peer unreachable) going to the next. Undefined (logged) for a root no holder could walk: no
   * live Kubo holds the whole DAG yet. Stopping early skips the rest.
   */
  private async * walkRoots (roots: Iterable<PinRecord>, signal?: AbortSignal): AsyncGenerator<[PinRecord, Set<string> | undefined]> {
    let pending = [...roots].map(r => ({ r, holders: this.c.holders(r), failures: [] as string[] }))
    while (pending.length > 0) {
      const byPeer = new Map<string, typeof pending>()
      const retry: typeof pending = []
      for (const p of pending) {
        if (this.walks.has(p.r.cid)) { yield [p.r, this.walks.get(p.r.cid)]; continue }
        const peer = p.holders.shift()
        if (peer === undefined) {
          this.c.logger.warn({ cid: p.r.cid, failures: p.failures }, 'no peer could list the blocks below a cluster pin; pin/ls leaves its indirect pins out')
          this.walks.set(p.r.cid, undefined)
          yield [p.r, undefined]
          continue
        }
        const group = byPeer.get(peer)
        if (group === undefined) byPeer.set(peer, [p])
        else group.push(p)
      }
      for (const [peer, group] of byPeer) {
        for (let i = 0; i < group.length; i += WALK_BATCH) {
          const batch = group.slice(i, i + WALK_BATCH)
          let answer: Record<string, string[] | string>
          try {
            answer = await this.c.rpc.call(peer, REFS_METHOD, { cids: batch.map(b => b.r.cid) }, { signal, timeoutMs: REMOTE_WALK_TIMEOUT_MS })
          } catch (err) {
            signal?.throwIfAborted()
            for (const b of batch) { b.failures.push(`${peer}: ${(err as Error).message}`); retry.push(b) }
            continue
          }
          for (const b of batch) {
            const refs = answer[b.r.cid]
            if (!Array.isArray(refs)) { b.failures.push(`${peer}: ${String(refs)}`); retry.push(b); continue }
            const set = new Set(refs.map(c => canonicalCid(c)))
            this.walks.set(b.r.cid, set)
            yield [b.r, set]
          }
        }
      }
      pending = retry
    }
  }
}

/**
 * The RPC side of a remote walk: for each root, every CID below it in this peer's Kubo, or why
 * not (a block it does not have). Kubo unreachable fails the whole call.
 */
export async function refsOf (kubo: KuboClient, cids: readonly string[], signal: AbortSignal): Promise<Record<string, string[] | string>> {
  const out: Record<string, string[] | string> = {}
  for (const cid of cids) {
    const refs: string[] = []
    try {
      for await (const c of kubo.refs(canonicalCid(cid), { signal })) refs.push(c)
      out[cid] = refs
    } catch (err) {
      if (!isErrorNamed(err, KuboApiError.NAME)) throw err
      out[cid] = (err as Error).message
    }
  }
  return out
}
