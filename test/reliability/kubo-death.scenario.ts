import type { PinRecord } from '../../src/types.js'
import type { TestPeer } from '../fixtures/cluster.js'
import { kuboBinary, kuboEnv, runCli, type KuboDaemon } from '../fixtures/kubo.js'
import { waitFor } from '../fixtures/wait-for.js'
import {
  startReliabilityCluster, seedBlocks, pinThrough, normCid, Workload, measureConvergence, checkOutcome, kuboPins, post, sleep,
  type Log, type OutcomeFigures, type WorkloadFigures
} from './harness.js'

export interface KuboDeathOptions {
  /** How long the Kubo stays dead. */
  downMs: number
  /** Pins made before, half on every peer, half with replication 2 including the victim. @default 30 */
  preload?: number
  /** Pins removed from the dead Kubo's repo while it is down, as if it had lost them. @default 5 */
  removeOffline?: number
  concurrency?: number
  kuboTimeoutMs?: number
  log: Log
}

export interface KuboDeathFigures extends OutcomeFigures, WorkloadFigures {
  kuboKills: number
  downMs: number
  /** Forwarded calls (id, cat) sent to the victim's proxy and answered entirely while its Kubo was down. */
  forwardedWhileDown: number
  /** Of those, answered with Kubo's error shape and a 5xx status. */
  kuboShapedErrors: number
  otherAnswers: number
  otherSamples: string[]
  /** Admin API health checks of the victim over the whole run, and how many failed. */
  healthChecks: number
  healthFailures: number
  victimAlive: boolean
  /** Pins allocated to the victim at the end, checked on its Kubo. */
  victimPins: number
  removedOffline: number
  /** From the Kubo restart until its Kubo held every pin allocated to it. */
  restoredMs: number
  convergedMs: number
}

interface Probe { t0: number, t1: number, what: string, status: number, body: string, error?: string }

/**
 * 3 peers under traffic; one peer's Kubo gets SIGKILL, stays down (losing a few pins from its repo
 * meanwhile) and is restarted. While it is down, calls forwarded through that peer's proxy fail
 * with Kubo's error shape and pinmesh stays up; afterwards its Kubo holds every pin allocated to it
 * again without anyone asking.
 */
export async function kuboDeathScenario (o: KuboDeathOptions): Promise<KuboDeathFigures> {
  const cluster = await startReliabilityCluster(3)
  try {
    const { peers, kubos } = cluster
    const v = 1
    const victim = peers[v] as TestPeer
    const victimKubo = kubos[v] as KuboDaemon
    const others = kubos.filter((_, i) => i !== v)
    // Every block lives on two Kubos that stay up, so pins never wait on the dead one.
    const n = o.preload ?? 30
    const preload = await seedBlocks(others, n, 'kubo-death-preload', 2)
    const pool = await seedBlocks(others, 150, 'kubo-death-pool', 2)
    const first = peers[0] as TestPeer
    const half = Math.floor(n / 2)
    await pinThrough(first, preload.slice(0, half))
    await pinThrough(first, preload.slice(half), `&replication=2&user-allocations=${victim.proc.peerId}`)
    await waitFor(async () => {
      const held = await kuboPins(victimKubo)
      return preload.every(c => held.has(normCid(c)))
    }, { timeoutMs: o.kuboTimeoutMs ?? 90_000, intervalMs: 300, message: 'the victim\'s Kubo holding the preloaded pins' })

    const live = peers.map((_, i) => i).filter(i => i !== v)
    const workload = new Workload({ peers, targets: () => live, pool, concurrency: o.concurrency ?? 4, pinOnly: 2, log: o.log })
    const stop = new AbortController()
    const traffic = workload.run(stop.signal)
    const probes: Probe[] = []
    let healthChecks = 0
    let healthFailures = 0
    const probing = (async () => {
      while (!stop.signal.aborted) {
        await Promise.all([
          probe(probes, 'id', `${victim.proc.proxyUrl}/api/v0/id`),
          probe(probes, 'cat', `${victim.proc.proxyUrl}/api/v0/cat?arg=${preload[0] as string}`),
          (async () => {
            healthChecks++
            if (!await victim.admin.health({ signal: AbortSignal.timeout(10_000) }).catch(() => false)) healthFailures++
          })()
        ])
        await sleep(250, stop.signal)
      }
    })()

    await sleep(2000)
    await victimKubo.kill()
    const downAt = Date.now()
    o.log(`kubo-death: killed the Kubo of peer ${v}`)
    const removed = preload.slice(half, half + (o.removeOffline ?? 5))
    const bin = await kuboBinary()
    const rm = await runCli(bin, ['pin', 'rm', ...removed], { env: kuboEnv(victimKubo.repo) })
    if (rm.code !== 0) throw new Error(`offline pin rm in the dead Kubo's repo: ${rm.stderr}`)
    o.log(`kubo-death: removed ${removed.length} pins from its repo while it is down`)
    await sleep(Math.max(0, o.downMs - (Date.now() - downAt)))
    const restartAt = Date.now()
    await victimKubo.restart()
    const upAt = Date.now()
    o.log(`kubo-death: Kubo restarted after ${restartAt - downAt} ms down`)
    await waitFor(async () => (await post(`${victim.proc.proxyUrl}/api/v0/id`)).status === 200, { timeoutMs: 30_000, message: 'id through the proxy answering again' })

    // Every pin allocated to the victim, back on its Kubo with no command sent.
    const restored = (async () => {
      await waitFor(async () => {
        const held = await kuboPins(victimKubo)
        for await (const r of victim.admin.allocations()) if (allocatedTo(r, victim.proc.peerId) && !held.has(normCid(r.cid))) return false
        return true
      }, { timeoutMs: o.kuboTimeoutMs ?? 90_000, intervalMs: 300, message: 'every pin allocated to the victim on its Kubo' })
      return Date.now() - upAt
    })()
    await sleep(3000)
    stop.abort()
    await Promise.all([traffic, probing])
    const restoredMs = await restored.catch((err: unknown) => { o.log(`kubo-death: ${(err as Error).message}`); return -1 })
    const converged = await measureConvergence(peers)
    const preKeys = new Set(preload.map(normCid))
    const outcome = await checkOutcome(cluster, workload, o.kuboTimeoutMs ?? 90_000, o.log, preKeys)
    const finalHeld = await kuboPins(victimKubo)
    let victimPins = 0
    for await (const r of victim.admin.allocations()) if (allocatedTo(r, victim.proc.peerId)) victimPins++
    const removedBack = removed.filter(c => finalHeld.has(normCid(c))).length
    if (removedBack !== removed.length) o.log(`kubo-death: only ${removedBack} of ${removed.length} pins removed offline came back`)

    const whileDown = probes.filter(p => p.t0 >= downAt && p.t1 <= restartAt)
    const shaped = whileDown.filter(p => isKuboError(p))
    const other = whileDown.filter(p => !isKuboError(p))
    return {
      ...workload.figures,
      ...outcome,
      kuboKills: 1,
      downMs: restartAt - downAt,
      forwardedWhileDown: whileDown.length,
      kuboShapedErrors: shaped.length,
      otherAnswers: other.length,
      otherSamples: other.slice(0, 3).map(p => `${p.what}: ${p.status} ${p.error ?? p.body.slice(0, 200)}`),
      healthChecks,
      healthFailures,
      victimAlive: victim.proc.process.exitCode === null && victim.proc.process.signalCode === null,
      victimPins,
      removedOffline: removedBack === removed.length ? removed.length : -removed.length,
      restoredMs,
      convergedMs: converged.ms
    }
  } finally {
    await cluster.close()
  }
}

function allocatedTo (r: PinRecord, peer: string): boolean {
  return r.allocations.length === 0 ? r.replicationMin === -1 : r.allocations.includes(peer)
}

async function probe (into: Probe[], what: string, url: string): Promise<void> {
  const t0 = Date.now()
  try {
    const r = await post(url, { timeoutMs: 15_000 })
    into.push({ t0, t1: Date.now(), what, status: r.status, body: r.body })
  } catch (err) {
    into.push({ t0, t1: Date.now(), what, status: 0, body: '', error: (err as Error).message })
  }
}

/** go-ipfs-cmds' error body, `{"Message":…,"Code":0,"Type":"error"}`, with a 5xx status. */
function isKuboError (p: Probe): boolean {
  if (p.status < 500 || p.status > 599) return false
  try {
    const b = JSON.parse(p.body) as Record<string, unknown>
    return typeof b.Message === 'string' && b.Message !== '' && b.Code === 0 && b.Type === 'error' && Object.keys(b).length === 3
  } catch { return false }
}

export function kuboDeathSummary (f: KuboDeathFigures): string {
  return `kubo-death: requests ${f.requests} (ack ${f.acked}, unknown ${f.unknown}), faults ${f.kuboKills} Kubo kill (${(f.downMs / 1000).toFixed(1)} s down, ${Math.abs(f.removedOffline)} pins removed from its repo), ` +
    `forwarded while down ${f.forwardedWhileDown} (Kubo-shaped errors ${f.kuboShapedErrors}, other ${f.otherAnswers}), health ${f.healthChecks - f.healthFailures}/${f.healthChecks}, ` +
    `pins checked ${f.pinsChecked}, unpins checked ${f.unpinsChecked}, pins lost ${f.pinsLost}, victim pins ${f.victimPins} restored in ${(f.restoredMs / 1000).toFixed(1)} s, ` +
    `kubo pins checked ${f.kuboPinsChecked} (missing ${f.kuboPinsMissing}), converged in ${(f.convergedMs / 1000).toFixed(1)} s`
}
