import { spawnSync } from 'node:child_process'
import type { PinRecord } from '../../src/types.js'
import type { TestPeer } from '../fixtures/cluster.js'
import { startCpuBurners, type CpuBurners } from '../fixtures/cpu-burn.js'
import {
  startReliabilityCluster, seedBlocks, pinThrough, pinsets, kuboPins, normCid, Workload, measureConvergence, checkOutcome,
  waitKubosMatch, sleep, type Log, type OutcomeFigures, type WorkloadFigures
} from './harness.js'

export interface PauseOptions {
  /** How long the peer stays stopped (SIGSTOP … SIGCONT); 0: it is never stopped (a run under load only). */
  pauseMs: number
  /**
   * CPU busy loops run at normal priority from just before the traffic starts until the quiet window
   * ends, so every peer is slow (not dead). @default 0
   */
  burners?: number
  /** The peers' flags. @default FAST_CLUSTER_ARGS (metrics every 300 ms, TTL 1.5 s) */
  clusterArgs?: string[]
  /** With `pauseMs` 0: how long the traffic runs under load. @default 10000 */
  trafficMs?: number
  /** Niceness added to every pinmesh process (not Kubo) while the burners run, so they get less CPU than a burner. @default 0 */
  niceness?: number
  /**
   * Pin the replication-2 preload in equal parts on each pair of peers (user-allocations) instead of
   * where the allocator puts them (mostly on one pair), so a false loss of any peer moves pins. @default false
   */
  spreadPairs?: boolean
  /** Pins made before the pause, half with replication 2, half on every peer. @default 40 */
  preload?: number
  /** How long nothing may change once everything settled. @default 6000 */
  quietMs?: number
  concurrency?: number
  kuboTimeoutMs?: number
  log: Log
}

export interface PauseFigures extends OutcomeFigures, WorkloadFigures {
  pauses: number
  pausedMs: number
  /** Requests answered by the live peers while the paused one was stopped. */
  duringPause: number
  convergedMs: number
  preloaded: number
  /** Preloaded replication-2 pins that had the paused peer among their allocations. */
  preloadedOnVictim: number
  /** Preloaded pins whose allocations changed between before the pause and the end. */
  moved: number
  /** Preloaded pins whose record changed in any way in that time. */
  rewritten: number
  /** Rewritten pins that had no reason to move (replication -1, or the paused peer not allocated). */
  rewrittenWithoutCause: number
  /** Pinset records that changed during the quiet window after everything settled. */
  quietPinsetChanges: number
  /** Kubo pins added or removed during the quiet window. */
  quietKuboChanges: number
  /** Times a peer logged that another peer's metrics expired, about a peer that was never paused. */
  falseExpiries: number
  /** Highest 1-minute load average seen while the burners ran (0 without burners). */
  loadMax: number
  /** Mean number of runnable tasks on the machine while the burners ran (the instantaneous load). */
  runnableMean: number
}

/**
 * 3 peers; one is stopped with SIGSTOP for `pauseMs` while the other two keep taking writes, then
 * continued. Then: it converges; only the pins it held that fell below their replication were
 * re-allocated, each at most once; and once settled nothing moves any more (no repin storm).
 */
export async function pauseScenario (o: PauseOptions): Promise<PauseFigures> {
  const cluster = await startReliabilityCluster(3, o.clusterArgs)
  let burners: CpuBurners | undefined
  try {
    const { peers, kubos } = cluster
    const n = o.preload ?? 40
    const preload = await seedBlocks(kubos, n, 'pause-preload')
    const pool = await seedBlocks(kubos, 150, 'pause-pool')
    const first = peers[0] as TestPeer
    const half = Math.floor(n / 2)
    if (o.spreadPairs === true) {
      const ids = peers.map(p => p.proc.peerId)
      const pairs = ids.flatMap((a, i) => ids.slice(i + 1).map(b => `${a},${b}`))
      for (const [i, cid] of preload.slice(0, half).entries()) await pinThrough(first, [cid], `&replication=2&user-allocations=${pairs[i % pairs.length] as string}`)
    } else {
      await pinThrough(first, preload.slice(0, half), '&replication=2')
    }
    await pinThrough(first, preload.slice(half))
    const before = await settledPinset(cluster.peers, o.log)
    await waitKubosMatch(cluster, before, new Set(), o.kuboTimeoutMs ?? 90_000, o.log)
    const preKeys = new Set(preload.map(normCid))

    // The peer holding the most replication-2 pins, so the pause matters most.
    const load = peers.map(p => [...before.values()].filter(r => r.allocations.includes(p.proc.peerId)).length)
    const v = load.indexOf(Math.max(...load))
    const victim = peers[v] as TestPeer
    const observer = peers[(v + 1) % peers.length] as TestPeer
    const onVictim = [...before.values()].filter(r => preKeys.has(normCid(r.cid)) && r.allocations.includes(victim.proc.peerId)).length
    o.log(`pause: peer ${v} holds ${onVictim} of ${half} replication-2 pins; pausing it for ${o.pauseMs} ms`)

    if ((o.burners ?? 0) > 0) {
      burners = startCpuBurners(o.burners ?? 0, 300_000)
      if ((o.niceness ?? 0) > 0) await renice(peers, o.niceness ?? 0)
      o.log(`pause: ${o.burners} CPU burners running${(o.niceness ?? 0) > 0 ? `, pinmesh processes at niceness +${o.niceness}` : ''}`)
    }
    const live = peers.map((_, i) => i).filter(i => i !== v || o.pauseMs === 0)
    const workload = new Workload({ peers, targets: () => live, pool, concurrency: o.concurrency ?? 4, pinOnly: 2, log: o.log })
    const stop = new AbortController()
    const traffic = workload.run(stop.signal)
    await sleep(1000)
    if (o.pauseMs > 0) victim.proc.process.kill('SIGSTOP')
    const pausedAt = Date.now()
    const atStop = workload.figures.requests
    await sleep(o.pauseMs > 0 ? o.pauseMs : o.trafficMs ?? 10_000)
    if (o.pauseMs > 0) victim.proc.process.kill('SIGCONT')
    const duringPause = workload.figures.requests - atStop
    o.log(`pause: ${duringPause} requests answered during the pause`)
    const pausedMs = Date.now() - pausedAt
    // A little more traffic right after the resume, when the peer's view is stalest.
    await sleep(2000)
    stop.abort()
    await traffic
    const converged = await measureConvergence(peers)
    o.log(`pause: pinsets converged in ${converged.ms} ms after the traffic stopped`)
    const outcome = await checkOutcome(cluster, workload, o.kuboTimeoutMs ?? 90_000, o.log, preKeys)

    const after = (await pinsets([observer]))[0] as Map<string, PinRecord>
    let moved = 0
    let rewritten = 0
    let rewrittenWithoutCause = 0
    for (const cid of preKeys) {
      const a = before.get(cid)
      const b = after.get(cid)
      if (a === undefined || b === undefined) { rewritten++; rewrittenWithoutCause++; continue }
      if ([...a.allocations].sort().join() !== [...b.allocations].sort().join()) moved++
      // A re-allocation keeps updatedAt (it is no request); any change of the record counts.
      if (JSON.stringify(a) !== JSON.stringify(b)) {
        rewritten++
        if (a.replicationMin === -1 || !a.allocations.includes(victim.proc.peerId) || o.pauseMs === 0) rewrittenWithoutCause++
      }
    }

    // Once settled, a quiet cluster stays still: no pinset writes, no Kubo pin churn.
    const quietMs = o.quietMs ?? 6000
    const p1 = await pinsets(peers)
    const k1 = await Promise.all(kubos.map(kuboPins))
    await sleep(quietMs)
    const p2 = await pinsets(peers)
    const k2 = await Promise.all(kubos.map(kuboPins))
    let quietPinsetChanges = 0
    p1.forEach((m, i) => {
      const m2 = p2[i] as Map<string, PinRecord>
      for (const [cid, r] of m) if (JSON.stringify(m2.get(cid)) !== JSON.stringify(r)) quietPinsetChanges++
      for (const cid of m2.keys()) if (!m.has(cid)) quietPinsetChanges++
    })
    let quietKuboChanges = 0
    k1.forEach((s, i) => {
      const s2 = k2[i] as Set<string>
      for (const c of s) if (!s2.has(c)) quietKuboChanges++
      for (const c of s2) if (!s.has(c)) quietKuboChanges++
    })
    await burners?.stop()
    const paused = o.pauseMs > 0 ? victim.proc.peerId : undefined
    const falseExpiries = peers.reduce((sum, p, i) => {
      const n = expiriesLogged(p.proc.output(), paused)
      if (n > 0) o.log(`pause: peer ${i}${i === v && o.pauseMs > 0 ? ' (paused)' : ''} saw the metrics of a peer never paused expire ${n} times`)
      return sum + n
    }, 0)
    const loadMax = Math.max(0, ...(burners?.loadSamples ?? []))
    const runnable = burners?.runnableSamples ?? []
    const runnableMean = runnable.length === 0 ? 0 : runnable.reduce((a, b) => a + b, 0) / runnable.length
    if (burners !== undefined) o.log(`pause: load average up to ${loadMax.toFixed(1)}, ${runnableMean.toFixed(1)} runnable tasks on average; ${falseExpiries} metrics expiries of peers never paused`)
    return {
      ...workload.figures,
      pauses: 1,
      pausedMs,
      duringPause,
      convergedMs: converged.ms,
      ...outcome,
      preloaded: n,
      preloadedOnVictim: onVictim,
      moved,
      rewritten,
      rewrittenWithoutCause,
      quietPinsetChanges,
      quietKuboChanges,
      falseExpiries,
      loadMax,
      runnableMean
    }
  } finally {
    await burners?.stop()
    await cluster.close()
  }
}

/** Lowers the CPU priority of every peer's pinmesh process (renice(1); raising niceness needs no privilege). */
async function renice (peers: readonly TestPeer[], by: number): Promise<void> {
  for (const p of peers) {
    const pid = p.proc.process.pid
    if (pid === undefined) throw new Error('a pinmesh process has no pid')
    const r = spawnSync('renice', ['-n', String(by), '-p', String(pid)], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`renice ${pid}: ${r.stderr}`)
  }
}

/** How many times a peer's log says the metrics of a peer other than `paused` expired. */
function expiriesLogged (output: string, paused: string | undefined): number {
  let n = 0
  for (const line of output.split('\n')) {
    if (!line.includes('peer metrics expired')) continue
    try {
      if ((JSON.parse(line) as { peer?: string }).peer !== paused) n++
    } catch { /* not a log line */ }
  }
  return n
}

/** The pinset once every peer holds the same one. */
async function settledPinset (peers: readonly TestPeer[], log: Log): Promise<Map<string, PinRecord>> {
  const { ms, pinset } = await measureConvergence(peers)
  log(`pinsets agree after ${ms} ms (${pinset.size} pins)`)
  return pinset
}

export function pauseSummary (f: PauseFigures): string {
  return `pause: requests ${f.requests} (ack ${f.acked}, refused ${f.failed}, unknown ${f.unknown}), faults ${f.pauses} pause of ${(f.pausedMs / 1000).toFixed(1)} s ` +
    `(${f.duringPause} requests answered meanwhile, slowest ${(f.maxMs / 1000).toFixed(1)} s), ` +
    `pins checked ${f.pinsChecked}, unpins checked ${f.unpinsChecked}, pins lost ${f.pinsLost}, unpins resurrected ${f.unpinsResurrected}, ` +
    `kubo pins checked ${f.kuboPinsChecked} (missing ${f.kuboPinsMissing}), preloaded ${f.preloaded} (${f.preloadedOnVictim} on the paused peer), ` +
    `moved ${f.moved}, rewritten ${f.rewritten} (without cause ${f.rewrittenWithoutCause}), quiet-window changes ${f.quietPinsetChanges} pinset / ${f.quietKuboChanges} kubo, ` +
    (f.loadMax > 0 ? `load average up to ${f.loadMax.toFixed(1)} (${f.runnableMean.toFixed(1)} runnable), metrics expiries of peers never paused ${f.falseExpiries}, ` : '') +
    `converged in ${(f.convergedMs / 1000).toFixed(1)} s`
}
