import { request, type IncomingHttpHeaders } from 'node:http'
import { randomBytes } from 'node:crypto'
import { CID } from 'multiformats/cid'
import type { PinRecord } from '../../src/types.js'
import { startKubos, type KuboDaemon } from '../fixtures/kubo.js'
import { startCluster, waitForMesh, FAST_CLUSTER_ARGS, type TestPeer } from '../fixtures/cluster.js'
import { multipart } from '../fixtures/http.js'
import { waitFor } from '../fixtures/wait-for.js'

/** Shared pieces of the reliability suites: a real cluster, a recorded workload and the checks on its outcome. */

export type Log = (line: string) => void

export interface Cluster {
  kubos: KuboDaemon[]
  /** peers[i] runs in front of kubos[i]. */
  peers: TestPeer[]
  close: () => Promise<void>
}

/** 3 Kubo daemons with a pinmesh peer in front of each, every peer seeing the others. */
export async function startReliabilityCluster (n: number, args: string[] = FAST_CLUSTER_ARGS): Promise<Cluster> {
  const kubos = await startKubos(n)
  let peers: TestPeer[] = []
  const close = async (): Promise<void> => {
    await Promise.allSettled(peers.map(async p => {
      // A stopped process ignores SIGTERM; let it run so it can exit.
      p.proc.process.kill('SIGCONT')
      await p.proc.destroy()
    }))
    await Promise.allSettled(kubos.map(async k => { await k.destroy() }))
  }
  try {
    peers = await startCluster(n, { kuboApis: kubos.map(k => k.apiMultiaddr), args })
    await waitForMesh(peers, 60_000)
  } catch (err) {
    await close()
    throw err
  }
  return { kubos, peers, close }
}

/** One CID form for comparisons: Kubo and the pinset print CIDv0 as Qm…, other paths may give v1. */
export function normCid (cid: string): string { return CID.parse(cid).toV1().toString() }

export const sleep = async (ms: number, signal?: AbortSignal): Promise<void> => {
  await new Promise<void>((resolve) => {
    const onAbort = (): void => { clearTimeout(t); resolve() }
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

export interface Reply { status: number, headers: IncomingHttpHeaders, body: string, trailers: NodeJS.Dict<string> }

/** POST with a deadline; no connection reuse, so a killed peer never poisons the next request. */
export async function post (url: string, options: { body?: Buffer | string, headers?: Record<string, string>, timeoutMs?: number } = {}): Promise<Reply> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false, headers: options.headers, signal: AbortSignal.timeout(options.timeoutMs ?? 30_000) }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (d: Buffer) => chunks.push(d))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString(), trailers: res.trailers }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

/** Puts `n` small raw blocks into the given Kubos (each block into `copies` of them), unpinned. */
export async function seedBlocks (kubos: readonly KuboDaemon[], n: number, seed: string, copies = 1): Promise<string[]> {
  const cids: string[] = []
  for (let i = 0; i < n; i++) {
    const content = `${seed} block ${i} ${randomBytes(8).toString('hex')}`
    let cid = ''
    for (let c = 0; c < copies; c++) {
      const kubo = kubos[(i + c) % kubos.length] as KuboDaemon
      const { body, contentType } = multipart([{ filename: '', content }])
      const r = await post(`${kubo.apiUrl}/api/v0/block/put?cid-codec=raw&pin=false`, { body, headers: { 'content-type': contentType } })
      if (r.status !== 200) throw new Error(`block/put on ${kubo.apiUrl}: ${r.status} ${r.body}`)
      cid = (JSON.parse(r.body) as { Key: string }).Key
    }
    cids.push(cid)
  }
  return cids
}

/** Pins `cids` through `peer`'s proxy (committed in the pinset); any other answer is an error. */
export async function pinThrough (peer: TestPeer, cids: readonly string[], query = ''): Promise<void> {
  for (const cid of cids) {
    const r = await post(`${peer.proc.proxyUrl}/api/v0/pin/add?arg=${cid}&wait=committed${query}`)
    if (r.status !== 200) throw new Error(`pin/add ${cid}: ${r.status} ${r.body}`)
  }
}

/**
 * What a request did, as far as the client can tell: `ack` (200, complete answer), `fail` (it
 * certainly had no effect: refused connection, or Kubo's "not pinned") or `unknown` (it may or
 * may not have taken effect, e.g. the peer died while answering).
 */
export type Outcome = 'ack' | 'fail' | 'unknown'
type Effect = 'pin' | 'unpin'

interface OpRecord { effect: Effect, outcome: Outcome, peer?: string, at?: number }

export interface WorkloadFigures {
  requests: number
  acked: number
  failed: number
  unknown: number
  byKind: Record<'pin' | 'unpin' | 'add', number>
  /** Median and slowest request, in ms. */
  p50Ms: number
  maxMs: number
}

export interface WorkloadInit {
  peers: readonly TestPeer[]
  /** Indexes into `peers` that receive traffic. @default all */
  targets?: () => readonly number[]
  /** CIDs present on some Kubo, not pinned, that pin/add may pick. */
  pool: readonly string[]
  concurrency?: number
  /** Of the `concurrency` clients, how many send only pin/add and pin/rm (a stalled upload cannot hold them up). @default 0 */
  pinOnly?: number
  log: Log
}

/**
 * Mixed `pin/add` / `pin/rm` / `add` traffic through the peers' proxy ports. Operations on one
 * CID never overlap, so each CID has a sequential history whose outcome can be checked.
 */
export class Workload {
  private readonly init: Required<Omit<WorkloadInit, 'targets'>> & Pick<WorkloadInit, 'targets'>
  private readonly history = new Map<string, OpRecord[]>()
  private readonly busy = new Set<string>()
  private readonly idle: string[]
  /** Contents of adds whose answer was lost: their CIDs are computed afterwards. */
  private readonly lostAdds: Array<{ content: Buffer, query: string }> = []
  private seq = 0
  private readonly latencies: number[] = []
  readonly figures: WorkloadFigures = { requests: 0, acked: 0, failed: 0, unknown: 0, byKind: { pin: 0, unpin: 0, add: 0 }, p50Ms: 0, maxMs: 0 }

  constructor (init: WorkloadInit) {
    this.init = { concurrency: 4, pinOnly: 0, ...init }
    this.idle = [...init.pool]
    for (const cid of init.pool) this.history.set(normCid(cid), [])
  }

  /** Runs until `signal` aborts, then waits for the requests in flight. */
  async run (signal: AbortSignal): Promise<void> {
    await Promise.all(Array.from({ length: this.init.concurrency }, async (_, worker) => {
      while (!signal.aborted) {
        const t0 = Date.now()
        const outcome = await this.step(worker < this.init.pinOnly)
        this.latencies.push(Date.now() - t0)
        // A dead peer refuses at once; do not spin on it.
        await sleep(outcome === 'fail' ? 100 : 10)
      }
    }))
    const sorted = [...this.latencies].sort((a, b) => a - b)
    this.figures.p50Ms = sorted[Math.floor(sorted.length / 2)] ?? 0
    this.figures.maxMs = sorted.at(-1) ?? 0
  }

  private pickTarget (): TestPeer {
    const idx = this.init.targets?.() ?? this.init.peers.map((_, i) => i)
    return this.init.peers[idx[Math.floor(Math.random() * idx.length)] as number] as TestPeer
  }

  private takeCid (wantPinned: boolean): string | undefined {
    const candidates = this.idle.filter(c => !this.busy.has(c) && (this.believedPinned(c) === wantPinned))
    const cid = candidates[Math.floor(Math.random() * candidates.length)]
    if (cid !== undefined) this.busy.add(cid)
    return cid
  }

  private believedPinned (cid: string): boolean {
    const acked = (this.history.get(normCid(cid)) ?? []).filter(o => o.outcome === 'ack')
    return acked.at(-1)?.effect === 'pin'
  }

  private record (cid: string, effect: Effect, outcome: Outcome, peer?: TestPeer): void {
    const key = normCid(cid)
    const h = this.history.get(key) ?? []
    h.push({ effect, outcome, peer: peer?.proc.peerId.slice(-6), at: Date.now() })
    this.history.set(key, h)
  }

  private count (kind: 'pin' | 'unpin' | 'add', outcome: Outcome): Outcome {
    this.figures.requests++
    this.figures.byKind[kind]++
    if (outcome === 'ack') this.figures.acked++
    else if (outcome === 'fail') this.figures.failed++
    else this.figures.unknown++
    return outcome
  }

  private async step (pinOnly: boolean): Promise<Outcome> {
    const r = pinOnly ? 0.3 + Math.random() * 0.7 : Math.random()
    const replication = Math.random() < 0.5 ? '&replication=2' : ''
    if (r < 0.3) return await this.add(replication)
    const wantPinned = r >= 0.65
    const cid = this.takeCid(wantPinned) ?? this.takeCid(!wantPinned)
    if (cid === undefined) return await this.add(replication)
    const isPinned = this.believedPinned(cid)
    try {
      const peer = this.pickTarget()
      if (!isPinned) {
        const outcome = classify(await attempt(async () => await post(`${peer.proc.proxyUrl}/api/v0/pin/add?arg=${cid}&wait=committed${replication}`)))
        this.record(cid, 'pin', outcome, peer)
        return this.count('pin', outcome)
      }
      const res = await attempt(async () => await post(`${peer.proc.proxyUrl}/api/v0/pin/rm?arg=${cid}`))
      // The peer may not have received the pin yet: Kubo's own answer, and nothing was removed.
      const outcome = res instanceof Error || res.status === 200 || !/not pinned/.test(res.body) ? classify(res) : 'fail'
      this.record(cid, 'unpin', outcome, peer)
      return this.count('unpin', outcome)
    } finally {
      this.busy.delete(cid)
    }
  }

  private async add (replication: string): Promise<Outcome> {
    const peer = this.pickTarget()
    const content = Buffer.concat([Buffer.from(`reliability ${process.pid} ${this.seq++} `), randomBytes(512 + Math.floor(Math.random() * 4096))])
    const { body, contentType } = multipart([{ filename: `f${this.seq}.bin`, content }])
    const query = `pin=true${replication}`
    const res = await attempt(async () => await post(`${peer.proc.proxyUrl}/api/v0/add?${query}`, { body, headers: { 'content-type': contentType } }))
    let outcome = classify(res)
    let cid: string | undefined
    if (!(res instanceof Error) && outcome === 'ack') {
      const streamError = res.trailers['x-stream-error']
      const line = res.body.split('\n').filter(l => l.trim() !== '').map(l => JSON.parse(l) as { Hash?: string }).find(l => l.Hash !== undefined)
      if ((streamError !== undefined && streamError !== '') || line?.Hash === undefined) outcome = 'unknown'
      else cid = line.Hash
    }
    if (outcome === 'ack' && cid !== undefined) {
      this.record(cid, 'pin', 'ack', peer)
      this.idle.push(cid)
    } else if (outcome === 'unknown') {
      this.lostAdds.push({ content, query })
    }
    return this.count('add', outcome)
  }

  /** CIDs of adds whose answer was lost (each a possible pin), computed by `kubo` without storing anything. */
  async resolveLostAdds (kubo: KuboDaemon): Promise<void> {
    for (const { content, query } of this.lostAdds.splice(0)) {
      const { body, contentType } = multipart([{ filename: 'x', content }])
      const r = await post(`${kubo.apiUrl}/api/v0/add?only-hash=true&${query.replace('pin=true', 'pin=false')}`, { body, headers: { 'content-type': contentType } })
      const hash = (JSON.parse(r.body.trim().split('\n').at(-1) as string) as { Hash: string }).Hash
      this.record(hash, 'pin', 'unknown')
    }
  }

  /** One CID's operations, for failure reports. */
  describe (cid: string): string {
    return (this.history.get(cid) ?? []).map(o => `${o.effect}@${o.peer ?? '?'}:${o.outcome}:${o.at ?? 0}`).join(' ')
  }

  /**
   * What the cluster must hold for each CID: the effect of its last acknowledged operation, or
   * `uncertain` when an operation whose answer was lost could still take effect after it (it may
   * be ordered anywhere after it was sent) with the opposite result.
   */
  expectations (): { present: Set<string>, absent: Set<string>, unpinned: number, uncertain: Set<string>, known: Set<string> } {
    const present = new Set<string>()
    const absent = new Set<string>()
    const uncertain = new Set<string>()
    let unpinned = 0
    for (const [cid, ops] of this.history) {
      const lastAck = ops.filter(o => o.outcome === 'ack').at(-1)
      // Never acknowledged (or never tried): nothing may have pinned it either.
      const last = lastAck?.effect ?? 'unpin'
      if (ops.some(o => o.outcome === 'unknown' && o.effect !== last)) uncertain.add(cid)
      else if (last === 'pin') present.add(cid)
      else { absent.add(cid); if (lastAck !== undefined) unpinned++ }
    }
    return { present, absent, unpinned, uncertain, known: new Set(this.history.keys()) }
  }
}

async function attempt (fn: () => Promise<Reply>): Promise<Reply | Error> {
  try { return await fn() } catch (err) { return err as Error }
}

function classify (res: Reply | Error): Outcome {
  if (res instanceof Error) {
    // Nothing reached the peer: the request cannot have had an effect.
    return (res as NodeJS.ErrnoException).code === 'ECONNREFUSED' ? 'fail' : 'unknown'
  }
  return res.status === 200 ? 'ack' : 'unknown'
}

/** Every peer's pinset, as the admin API lists it. */
export async function pinsets (peers: readonly TestPeer[]): Promise<Array<Map<string, PinRecord>>> {
  return await Promise.all(peers.map(async (p) => {
    const m = new Map<string, PinRecord>()
    for await (const r of p.admin.allocations({ signal: AbortSignal.timeout(30_000) })) m.set(normCid(r.cid), r)
    return m
  }))
}

function fingerprint (m: Map<string, PinRecord>): string {
  return JSON.stringify([...m.entries()].sort(([a], [b]) => a < b ? -1 : 1).map(([cid, r]) => [cid, [...r.allocations].sort(), r.replicationMin, r.updatedAt]))
}

/** Polls until every peer holds the same pinset; resolves with how long it took and that pinset. */
export async function measureConvergence (peers: readonly TestPeer[], timeoutMs = 60_000): Promise<{ ms: number, pinset: Map<string, PinRecord> }> {
  const started = Date.now()
  const pinset = await waitFor(async () => {
    const sets = await pinsets(peers)
    const f = sets.map(fingerprint)
    return f.every(x => x === f[0]) ? sets[0] : undefined
  }, { timeoutMs, intervalMs: 200, message: 'every peer holds the same pinset' })
  return { ms: Date.now() - started, pinset }
}

/** Recursive pins a Kubo holds. */
export async function kuboPins (kubo: KuboDaemon): Promise<Set<string>> {
  const r = await post(`${kubo.apiUrl}/api/v0/pin/ls?type=recursive&stream=true`)
  if (r.status !== 200) throw new Error(`pin/ls on ${kubo.apiUrl}: ${r.status} ${r.body}`)
  return new Set(r.body.split('\n').filter(l => l.trim() !== '').map(l => normCid((JSON.parse(l) as { Cid: string }).Cid)))
}

export interface OutcomeFigures {
  /** CIDs whose final state is certain, checked on every peer: acknowledged pins, acknowledged unpins, never pinned. */
  pinsChecked: number
  unpinsChecked: number
  neverPinnedChecked: number
  uncertain: number
  /** Acknowledged pins missing from some peer's pinset (counted per peer). */
  pinsLost: number
  /** Acknowledged unpins present in some peer's pinset (counted per peer). */
  unpinsResurrected: number
  /** Pinset entries no operation could have made. */
  phantoms: number
  /** (pin, allocated Kubo) pairs verified pinned. */
  kuboPinsChecked: number
  /** Pairs still not pinned when the wait ended. */
  kuboPinsMissing: number
  /** Acknowledged unpins still pinned on some Kubo when the wait ended. */
  kuboUnpinsLeft: number
  /** How long the Kubos took to match the pinset. */
  kuboSettledMs: number
  lostSamples: string[]
}

/**
 * Checks a converged `pinset` (identical on every peer) against what the workload was told, then
 * waits until each pin is on every Kubo it is allocated to and no acknowledged unpin is on any Kubo.
 */
export async function checkOutcome (cluster: Cluster, workload: Workload, kuboTimeoutMs: number, log: Log, preloaded: ReadonlySet<string> = new Set()): Promise<OutcomeFigures> {
  await workload.resolveLostAdds(cluster.kubos[0] as KuboDaemon)
  const { present, absent, unpinned, uncertain, known } = workload.expectations()
  const sets = await pinsets(cluster.peers)
  const f: OutcomeFigures = { pinsChecked: present.size, unpinsChecked: unpinned, neverPinnedChecked: absent.size - unpinned, uncertain: uncertain.size, pinsLost: 0, unpinsResurrected: 0, phantoms: 0, kuboPinsChecked: 0, kuboPinsMissing: 0, kuboUnpinsLeft: 0, kuboSettledMs: 0, lostSamples: [] }
  sets.forEach((set, i) => {
    for (const cid of present) if (!set.has(cid)) { f.pinsLost++; if (f.lostSamples.length < 5) f.lostSamples.push(`pin ${cid} missing on peer ${i}`) }
    for (const cid of absent) {
      const r = set.get(cid)
      if (r === undefined) continue
      f.unpinsResurrected++
      if (f.lostSamples.length < 5) f.lostSamples.push(`unpin ${cid} back on peer ${i}: record by ${r.updatedBy.slice(-6)} at ${r.updatedAt} allocations ${r.allocations.map(a => a.slice(-6)).join('+')} rmin ${r.replicationMin}; history ${workload.describe(cid)}`)
    }
    for (const cid of set.keys()) if (!known.has(cid) && !preloaded.has(cid)) f.phantoms++
  })
  const k = await waitKubosMatch(cluster, sets[0] ?? new Map<string, PinRecord>(), absent, kuboTimeoutMs, log)
  f.kuboSettledMs = k.ms
  f.kuboPinsChecked = k.checked
  f.kuboPinsMissing = k.missing.length
  f.kuboUnpinsLeft = k.left.length
  return f
}

export interface KuboMatch { ms: number, checked: number, missing: string[], left: string[] }

/**
 * Waits until each pin of `pinset` is on every Kubo it is allocated to (all of them for
 * replication -1) and no CID of `absent` is on any Kubo; reports what was still wrong on timeout.
 */
export async function waitKubosMatch (cluster: Cluster, pinset: ReadonlyMap<string, PinRecord>, absent: ReadonlySet<string>, timeoutMs: number, log: Log): Promise<KuboMatch> {
  const kuboOf = new Map(cluster.peers.map((p, i) => [p.proc.peerId, cluster.kubos[i] as KuboDaemon]))
  const started = Date.now()
  let last: KuboMatch = { ms: 0, checked: 0, missing: [], left: [] }
  try {
    await waitFor(async () => {
      const held = await Promise.all(cluster.kubos.map(kuboPins))
      const heldBy = new Map(cluster.kubos.map((k, i) => [k, held[i] as Set<string>]))
      last = { ms: 0, checked: 0, missing: [], left: [] }
      for (const [cid, r] of pinset) {
        const holders = r.allocations.length > 0 ? r.allocations.map(p => kuboOf.get(p)) : cluster.kubos
        for (const k of holders) {
          last.checked++
          if (k === undefined || heldBy.get(k)?.has(cid) !== true) last.missing.push(cid)
        }
      }
      for (const cid of absent) held.forEach((s, i) => { if (s.has(cid)) last.left.push(`${cid}@kubo${i}`) })
      return last.missing.length === 0 && last.left.length === 0
    }, { timeoutMs, intervalMs: 500, message: 'every Kubo holding exactly its allocated pins' })
  } catch (err) {
    log(`kubo check: ${(err as Error).message}; missing ${last.missing.slice(0, 5).join(',')}; unpins left ${last.left.slice(0, 5).join(',')}`)
  }
  last.ms = Date.now() - started
  return last
}

/** Kills or otherwise faults; at most one fault at a time. */
export async function everyFewSeconds (signal: AbortSignal, intervalMs: number, fault: () => Promise<void>): Promise<number> {
  let n = 0
  while (!signal.aborted) {
    await sleep(intervalMs * (0.5 + Math.random()), signal)
    if (signal.aborted) break
    await fault()
    n++
  }
  return n
}

/** Renders figures as `key value` pairs on one line. */
export function formatFigures (figures: object): string {
  return Object.entries(figures).filter(([, v]) => typeof v !== 'object').map(([k, v]) => `${k} ${String(v)}`).join(', ')
}
