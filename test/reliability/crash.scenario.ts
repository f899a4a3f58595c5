import { startReliabilityCluster, seedBlocks, Workload, measureConvergence, checkOutcome, everyFewSeconds, sleep, type Log, type OutcomeFigures, type WorkloadFigures } from './harness.js'
import type { TestPeer } from '../fixtures/cluster.js'

export interface CrashOptions {
  /** How long the traffic runs. */
  durationMs: number
  /** Mean time between two kills. */
  faultIntervalMs: number
  /** Concurrent clients. @default 4 */
  concurrency?: number
  /** Blocks seeded for pin/add. @default 150 */
  poolSize?: number
  /** How long the Kubos may take to match the pinset at the end. @default 90000 */
  kuboTimeoutMs?: number
  log: Log
}

export interface CrashFigures extends OutcomeFigures, WorkloadFigures {
  kills: number
  convergedMs: number
}

/**
 * 3 peers under mixed pin/add, pin/rm and add traffic; every few seconds one pinmesh peer gets
 * SIGKILL and is started again on the same data directory. Then: how fast the pinsets converge,
 * and whether every acknowledged operation survived in every pinset and on the Kubos.
 */
export async function crashScenario (o: CrashOptions): Promise<CrashFigures> {
  const cluster = await startReliabilityCluster(3)
  try {
    const { peers, kubos } = cluster
    const pool = await seedBlocks(kubos, o.poolSize ?? 150, 'crash')
    const down = new Set<number>()
    const workload = new Workload({ peers, pool, concurrency: o.concurrency ?? 4, log: o.log })
    const stop = new AbortController()
    const started = Date.now()
    o.log(`crash: traffic for ${o.durationMs} ms, a kill every ~${o.faultIntervalMs} ms`)
    const traffic = workload.run(stop.signal)
    const faults = everyFewSeconds(stop.signal, o.faultIntervalMs, async () => {
      const i = Math.floor(Math.random() * peers.length)
      const victim = peers[i] as TestPeer
      down.add(i)
      await victim.proc.kill()
      // Down for a moment, so some requests meet a refused connection.
      await sleep(300 + Math.random() * 1200)
      await victim.proc.restart()
      down.delete(i)
      o.log(`crash: killed and restarted peer ${i} (${victim.proc.peerId.slice(-6)}) at +${Date.now() - started} ms (${Date.now()})`)
    })
    await sleep(o.durationMs)
    stop.abort()
    const [kills] = await Promise.all([faults, traffic])
    // Every peer is up (the last restart has returned) and no request is in flight.
    const converged = await measureConvergence(peers)
    o.log(`crash: pinsets converged in ${converged.ms} ms (${converged.pinset.size} pins)`)
    const outcome = await checkOutcome(cluster, workload, o.kuboTimeoutMs ?? 90_000, o.log)
    return { ...workload.figures, kills, convergedMs: converged.ms, ...outcome }
  } finally {
    await cluster.close()
  }
}

export function crashSummary (f: CrashFigures): string {
  return `crash: requests ${f.requests} (ack ${f.acked}, refused ${f.failed}, unknown ${f.unknown}), faults ${f.kills} kills, ` +
    `pins checked ${f.pinsChecked}, unpins checked ${f.unpinsChecked}, uncertain ${f.uncertain}, pins lost ${f.pinsLost}, ` +
    `unpins resurrected ${f.unpinsResurrected}, phantoms ${f.phantoms}, kubo pins checked ${f.kuboPinsChecked} (missing ${f.kuboPinsMissing}, ` +
    `unpins left ${f.kuboUnpinsLeft}, settled in ${(f.kuboSettledMs / 1000).toFixed(1)} s), converged in ${(f.convergedMs / 1000).toFixed(1)} s`
}
