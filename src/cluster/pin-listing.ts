import type { Logger } from '../logger.js'
import type { PinRecord } from '../types.js'
import type { KuboClient, KuboPin } from '../kubo/types.js'
import type { Rpc } from '../rpc/index.js'
import { canonicalCid } from '../utils/cid.js'
import type { ListedPin, PinLsType } from './types.js'

/** RPC method: every CID below a recursive pin, read from that peer's Kubo. */
export const REFS_METHOD = 'kubo.refs'

// A DAG walk on another peer's Kubo can take long; the caller's signal ends it sooner.
const REMOTE_WALK_TIMEOUT_MS = 3_600_000

export interface PinListingComponents {
  kubo: KuboClient
  rpc: Rpc
  logger: Logger
  /** The cluster pinset (the listing takes one snapshot of it). */
  pins: () => Iterable<PinRecord>
  get: (cid: string) => PinRecord | undefined
  /** Peers whose Kubo may hold a cluster pin's blocks, in the order to ask them. */
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
    for (const r of this.remoteRoots(cluster.values(), local)) {
      for (const cid of await this.walk(r, signal) ?? []) if (fresh(cid)) yield { cid, type: 'indirect', name: '' }
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
    for (const root of this.remoteRoots(this.c.pins(), local)) {
      if ((await this.walk(root, signal))?.has(cid) === true) return { cid, type: 'indirect', name: '', via: root.cid }
    }
    return undefined
  }

  private localPinsOnce?: Promise<Map<string, KuboPin>>

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
   * The descendants of one cluster pin, from the first of its holders whose Kubo has the whole DAG;
   * undefined (logged) when none has: no Kubo holds anything below it yet.
   */
  private async walk (record: PinRecord, signal?: AbortSignal): Promise<Set<string> | undefined> {
    if (this.walks.has(record.cid)) return this.walks.get(record.cid)
    let found: Set<string> | undefined
    const failures: string[] = []
    for (const peer of this.c.holders(record)) {
      try {
        const refs = await this.c.rpc.call<string[]>(peer, REFS_METHOD, { cid: record.cid }, { signal, timeoutMs: REMOTE_WALK_TIMEOUT_MS })
        found = new Set(refs.map(c => canonicalCid(c)))
        break
      } catch (err) {
        signal?.throwIfAborted()
        failures.push(`${peer}: ${(err as Error).message}`)
      }
    }
    if (found === undefined) this.c.logger.warn({ cid: record.cid, failures }, 'no peer could list the blocks below a cluster pin; pin/ls leaves its indirect pins out')
    this.walks.set(record.cid, found)
    return found
  }
}

/** The RPC side of a remote walk: every CID below `cid` in this peer's Kubo (which must have them all). */
export async function refsOf (kubo: KuboClient, cid: string, signal: AbortSignal): Promise<string[]> {
  const out: string[] = []
  for await (const c of kubo.refs(canonicalCid(cid), { signal })) out.push(c)
  return out
}
