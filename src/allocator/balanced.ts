import { InsufficientPeersError, InvalidConfigurationError, InvalidParametersError } from '../errors.js'
import type { AllocationCandidate, AllocationRequest, Allocator } from './types.js'

export interface BalancedAllocatorInit {
  /**
   * Balanced order, most significant first: `tag:<name>` spreads across that tag's values,
   * `freespace` prefers the emptiest peer, `queue` (or `pinqueue`) the least busy one.
   * @default ['tag:group', 'freespace'] (from the `allocator` config section)
   */
  allocateBy: readonly string[]
}

/** One parsed `allocateBy` entry. */
export type AllocationCriterion =
  | { kind: 'tag', name: string }
  | { kind: 'freespace' }
  | { kind: 'queue' }

/**
 * Parses `allocator.allocateBy`. Throws `InvalidConfigurationError` naming every unknown entry.
 */
export function parseAllocateBy (allocateBy: readonly string[]): AllocationCriterion[] {
  const problems: string[] = []
  const out: AllocationCriterion[] = []
  for (const entry of allocateBy) {
    if (entry === 'freespace') out.push({ kind: 'freespace' })
    else if (entry === 'queue' || entry === 'pinqueue') out.push({ kind: 'queue' })
    else if (entry.startsWith('tag:') && entry.length > 4) out.push({ kind: 'tag', name: entry.slice(4) })
    else problems.push(`allocator.allocateBy: unknown metric "${entry}" (expected tag:<name>, freespace, queue or pinqueue)`)
  }
  if (problems.length > 0) throw new InvalidConfigurationError(problems)
  return out
}

/**
 * IPFS Cluster's balanced allocator, as a pure function of the request.
 *
 * - `min = max = -1` (everywhere): the current peers, then every other candidate, minus the blacklist.
 * - Otherwise, with `needed = min - current` and `wanted = max - current` (current without
 *   blacklisted peers and duplicates): `wanted < 0` keeps the first `max` current peers;
 *   `needed <= 0` keeps current unchanged (so a peer that blinks causes no repin storm);
 *   else new peers are added after current: the `priority` peers that are candidates, in the
 *   order given, then the other candidates in balanced order, up to `wanted` of them.
 * - Balanced order: each `allocateBy` entry in turn partitions the peers. Tag groups (a missing
 *   tag is the group "") are visited round-robin, so consecutive picks alternate between tag
 *   values; groups go in the order of their best peer. Free space (desc, undefined = 0) and
 *   queue (asc) rank peers; equal values fall through to the next entry. Peer id breaks ties.
 *
 * Throws `InsufficientPeersError` when fewer than `needed` candidates remain, and
 * `InvalidParametersError` for an impossible min/max (one of them -1, below -1, or min > max).
 */
export class BalancedAllocator implements Allocator {
  private readonly criteria: readonly AllocationCriterion[]

  /** Throws `InvalidConfigurationError` for an unknown `allocateBy` entry. */
  constructor (init: BalancedAllocatorInit) {
    this.criteria = parseAllocateBy(init.allocateBy)
  }

  allocate (request: AllocationRequest): string[] {
    const { min, max } = request
    checkFactors(min, max)
    const blacklist = new Set(request.blacklist)
    const current = unique(request.current).filter(p => !blacklist.has(p))
    const taken = new Set(current)
    const candidates = uniqueBy(request.candidates, c => c.peer).filter(c => !blacklist.has(c.peer) && !taken.has(c.peer))

    if (min === -1) return [...current, ...this.rank(candidates, request.priority)]

    const needed = min - current.length
    const wanted = max - current.length
    if (wanted < 0) return current.slice(0, max)
    if (needed <= 0) return current
    if (candidates.length < needed) throw new InsufficientPeersError(needed, wanted, candidates.length)
    return [...current, ...this.rank(candidates, request.priority).slice(0, wanted)]
  }

  /** Priority peers (that are candidates) in the order given, then the rest in balanced order. */
  private rank (candidates: readonly AllocationCandidate[], priority: readonly string[]): string[] {
    const byPeer = new Map(candidates.map(c => [c.peer, c]))
    const first = unique(priority).filter(p => byPeer.has(p))
    const chosen = new Set(first)
    return [...first, ...balancedOrder(candidates.filter(c => !chosen.has(c.peer)), this.criteria)]
  }
}

/** Factory in the components style: `balancedAllocator(config.allocator)`. */
export function balancedAllocator (init: BalancedAllocatorInit): Allocator {
  return new BalancedAllocator(init)
}

/**
 * The balanced order of `candidates` under `criteria` (see `BalancedAllocator`). Deterministic:
 * the same peers and metrics give the same order whatever the input order.
 */
export function balancedOrder (candidates: readonly AllocationCandidate[], criteria: readonly AllocationCriterion[]): string[] {
  return order(candidates, criteria).map(c => c.peer)
}

function order (peers: readonly AllocationCandidate[], criteria: readonly AllocationCriterion[]): AllocationCandidate[] {
  const [criterion, ...rest] = criteria
  if (criterion === undefined || peers.length <= 1) return [...peers].sort((a, b) => compareIds(a.peer, b.peer))
  if (criterion.kind === 'tag') {
    const groups = [...groupBy(peers, p => p.tags[criterion.name] ?? '').values()].map(g => order(g, rest))
    // Every group is non-empty and its head is its best peer under `rest`.
    groups.sort((a, b) => comparePeers(a[0] as AllocationCandidate, b[0] as AllocationCandidate, rest))
    return interleave(groups)
  }
  const groups = [...groupBy(peers, p => metricValue(p, criterion)).entries()]
  groups.sort(([a], [b]) => compareValues(a, b, criterion))
  return groups.flatMap(([, g]) => order(g, rest))
}

/** Orders two peers by the ranking criteria (tags only partition, they do not rank), then by id. */
function comparePeers (a: AllocationCandidate, b: AllocationCandidate, criteria: readonly AllocationCriterion[]): number {
  for (const c of criteria) {
    if (c.kind === 'tag') continue
    const d = compareValues(metricValue(a, c), metricValue(b, c), c)
    if (d !== 0) return d
  }
  return compareIds(a.peer, b.peer)
}

function metricValue (p: AllocationCandidate, c: { kind: 'freespace' | 'queue' }): number {
  if (c.kind === 'freespace') return finiteOrZero(p.freeSpace)
  return finiteOrZero(p.queued)
}

/** Negative when `a` is the better value: more free space, fewer queued pins. */
function compareValues (a: number, b: number, c: { kind: 'freespace' | 'queue' }): number {
  return c.kind === 'freespace' ? b - a : a - b
}

function finiteOrZero (n: number | undefined): number {
  return n !== undefined && Number.isFinite(n) ? n : 0
}

// Not localeCompare: the order must not depend on the host's locale.
function compareIds (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function interleave<T> (lists: readonly T[][]): T[] {
  const out: T[] = []
  const longest = Math.max(0, ...lists.map(l => l.length))
  for (let i = 0; i < longest; i++) {
    for (const l of lists) {
      const item = l[i]
      if (item !== undefined) out.push(item)
    }
  }
  return out
}

function groupBy<T, K> (items: readonly T[], key: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>()
  for (const item of items) {
    const k = key(item)
    const g = groups.get(k)
    if (g === undefined) groups.set(k, [item])
    else g.push(item)
  }
  return groups
}

function unique (items: readonly string[]): string[] {
  return [...new Set(items)]
}

function uniqueBy<T> (items: readonly T[], key: (item: T) => string): T[] {
  const seen = new Set<string>()
  return items.filter((item) => {
    const k = key(item)
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
}

function checkFactors (min: number, max: number): void {
  const ok = Number.isInteger(min) && Number.isInteger(max) &&
    ((min === -1 && max === -1) || (min >= 0 && max >= 0 && min <= max))
  if (!ok) throw new InvalidParametersError(`invalid replication factors min=${min} max=${max}: both must be -1 (everywhere), or 0 <= min <= max`)
}
