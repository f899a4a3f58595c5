import type { Logger } from '../logger.js'
import type { PinRecord } from '../types.js'
import type { KuboClient, KuboPin } from '../kubo/types.js'
import type { Rpc } from '../rpc/index.js'
import { canonicalCid } from '../utils/cid.js'
import { KuboApiError, isErrorNamed } from '../errors.js'
import type { ListedPin, PinLsType } from './types.js'

/** This Kubo's own pins (without the cluster's leaving ones), and how many recursive ones were left out. */
interface LocalPins { pins: Map<string, KuboPin>, leavingRoots: number }

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
  /**
   * The cluster pinset, a batch at a time (PinSetReader.scan). A listing walks it once per pin
   * type and never holds it whole; pins written meanwhile may or may not be listed.
   */
  scan: (signal?: AbortSignal) => AsyncIterable<readonly PinRecord[]>
  get: (cid: string) => PinRecord | undefined
  /** Whether a CID this Kubo pins is a cluster pin being removed from it (not a pin of its own). */
  leaving: (cid: string) => boolean
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
  private localPinsOnce?: Promise<LocalPins>

  constructor (components: PinListingComponents) {
    this.c = components
  }

  /**
   * Every pin of `type` (`all`: recursive, then direct, then indirect, as Kubo streams them). The
   * cluster pinset is walked a batch at a time, once per type listed; the first walk also notes
   * which of this Kubo's pins are cluster pins and a filter of every cluster CID, so that the rest
   * of the listing never looks pins up one by one (in a sharded pinset, a lookup may decode a shard).
   */
  async * list (type: PinLsType, signal?: AbortSignal): AsyncGenerator<ListedPin, void, undefined> {
    const { pins: local, leavingRoots } = await this.localPins(signal)
    const index = new ClusterIndex()
    const walk = async function * (this: PinListing): AsyncGenerator<PinRecord> {
      const indexing = !index.sealed
      for await (const batch of this.c.scan(signal)) {
        for (const r of batch) {
          if (indexing) index.add(r.cid, local)
          yield r
        }
      }
      if (indexing) index.seal()
    }.bind(this)
    for (const mode of ['recursive', 'direct'] as const) {
      if (type !== 'all' && type !== mode) continue
      for await (const r of walk()) if (r.mode === mode) yield { cid: r.cid, type: mode, name: r.name }
      for (const [cid, p] of local) if (p.type === mode && !index.local.has(cid)) yield { cid, type: mode, name: p.name ?? '' }
    }
    if (type !== 'all' && type !== 'indirect') return
    if (!index.sealed) for await (const r of walk()) void r
    const seen = new Set<string>()
    const fresh = (cid: string): boolean => {
      if (local.has(cid) || seen.has(cid) || (index.mayHave(cid) && this.c.get(cid) !== undefined)) return false
      seen.add(cid)
      return true
    }
    for await (const c of this.localIndirect(local, leavingRoots, signal)) {
      const cid = canonicalCid(c)
      if (fresh(cid)) yield { cid, type: 'indirect', name: '' }
    }
    for await (const batch of this.c.scan(signal)) {
      for await (const [, refs] of this.walkRoots(this.remoteRoots(batch, local), signal)) {
        for (const cid of refs ?? []) if (fresh(cid)) yield { cid, type: 'indirect', name: '' }
      }
    }
  }

  /**
   * How `cid` is pinned, as `pin/ls?arg=<cid>&type=<type>` tells: recursive before direct before
   * indirect (with the recursive pin it is held through), undefined when it is not pinned as
   * `type` asks. As in Kubo, a CID pinned recursively is never indirect, a direct one may be.
   */
  async check (cid: string, type: PinLsType, signal?: AbortSignal): Promise<ListedPin | undefined> {
    const r = this.c.get(cid)
    if (type !== 'indirect') {
      if (r !== undefined) return type === 'all' || r.mode === type ? { cid, type: r.mode, name: r.name } : undefined
      // This Kubo's own pins: two index lookups, as Kubo makes them.
      for (const mode of type === 'all' ? ['recursive', 'direct'] as const : [type]) {
        const k = await this.c.kubo.pinCheck(cid, { type: mode, signal })
        if (k !== undefined && !this.leaving(cid)) return { cid, type: mode, name: k.name ?? '' }
      }
      if (type !== 'all') return undefined
    } else {
      if (r?.mode === 'recursive') return undefined
      if (!this.leaving(cid) && await this.c.kubo.pinCheck(cid, { type: 'recursive', signal }) !== undefined) return undefined
    }
    const k = await this.c.kubo.pinCheck(cid, { type: 'indirect', signal })
    const via = k?.via !== undefined ? canonicalCid(k.via) : undefined
    if (via !== undefined && !this.leaving(via)) return { cid, type: 'indirect', name: '', via }
    const { pins: local } = await this.localPins(signal)
    // Kubo named a root that is on its way out: look below the roots that stay.
    if (via !== undefined) {
      for (const [root, p] of local) {
        if (p.type !== 'recursive') continue
        for await (const c of this.c.kubo.refs(root, { signal })) if (canonicalCid(c) === cid) return { cid, type: 'indirect', name: '', via: root }
      }
    }
    for await (const batch of this.c.scan(signal)) {
      for await (const [root, refs] of this.walkRoots(this.remoteRoots(batch, local), signal)) {
        if (refs?.has(cid) === true) return { cid, type: 'indirect', name: '', via: root.cid }
      }
    }
    return undefined
  }

  /** A CID this Kubo pins that the cluster is taking out of it (not a pin of its own). */
  private leaving (cid: string): boolean {
    return this.c.leaving(cid) && this.c.get(cid) === undefined
  }

  /**
   * This Kubo's recursive and direct pins by canonical CID (read once per listing), but for
   * cluster pins the tracker is removing: after a `pin/rm` they are gone, as in Kubo.
   */
  private async localPins (signal?: AbortSignal): Promise<LocalPins> {
    this.localPinsOnce ??= (async () => {
      const pins = new Map<string, KuboPin>()
      let leavingRoots = 0
      for await (const p of this.c.kubo.pinLs({ signal })) {
        const cid = canonicalCid(p.cid)
        if (!this.leaving(cid)) pins.set(cid, p)
        else if (p.type === 'recursive') leavingRoots++
      }
      return { pins, leavingRoots }
    })()
    return await this.localPinsOnce
  }

  /**
   * The indirect pins of this Kubo: its own `pin/ls?type=indirect`, unless recursive pins are on
   * their way out (a `pin/rm` the tracker has not carried out yet); then the walk of the
   * recursive pins that stay.
   */
  private async * localIndirect (local: Map<string, KuboPin>, leavingRoots: number, signal?: AbortSignal): AsyncGenerator<string> {
    if (leavingRoots === 0) { yield * this.c.kubo.indirectPins({ signal }); return }
    for (const [root, p] of local) if (p.type === 'recursive') yield * this.c.kubo.refs(root, { signal })
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
 * What one walk of the cluster pinset tells the rest of a listing: which of this Kubo's pins are
 * cluster pins (exact), and a 32-bit hash of every cluster CID (4 bytes a pin), which answers "not
 * a cluster pin" for sure and "maybe" otherwise (then the pinset is asked).
 */
class ClusterIndex {
  /** This Kubo's pins that are cluster pins. */
  readonly local = new Set<string>()
  private hashes = new Uint32Array(1024)
  private n = 0
  sealed = false

  add (cid: string, local: ReadonlyMap<string, unknown>): void {
    if (local.has(cid)) this.local.add(cid)
    if (this.n === this.hashes.length) {
      const bigger = new Uint32Array(this.hashes.length * 2)
      bigger.set(this.hashes)
      this.hashes = bigger
    }
    this.hashes[this.n++] = fnv1a(cid)
  }

  seal (): void {
    this.hashes = this.hashes.slice(0, this.n).sort()
    this.sealed = true
  }

  /** False when `cid` was not in the pinset walked; true when it may have been. */
  mayHave (cid: string): boolean {
    const h = fnv1a(cid)
    let lo = 0
    let hi = this.hashes.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      const v = this.hashes[mid] as number
      if (v === h) return true
      if (v < h) lo = mid + 1
      else hi = mid - 1
    }
    return false
  }
}

/** FNV-1a, 32 bits, over the UTF-16 code units of `s` (CIDs are ASCII). */
function fnv1a (s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h >>> 0
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
