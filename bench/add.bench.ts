// Add benchmark (issue 5), in one run on 3 Kubos with 3 pinmesh peers (separate processes):
//  1. replication 1: add through pinmesh A (replication-min=max=1, allocated to A) vs the same bytes added to
//     Kubo A directly; target ≥ 0.95x the direct throughput;
//  2. replication 3: add through pinmesh A (replication-min=max=3: streamed to the 3 Kubos at once) vs three
//     sequential direct adds of the same bytes, one into each Kubo; ratio = direct time / pinmesh time.
// Every add is of fresh random bytes (cid-version=1, raw-leaves), so no Kubo already holds a block; direct and
// pinmesh runs alternate, figures are medians of the rounds. Times are the client's: request to the answer's
// end. pinmesh answers once the upload is stored on the destinations and the pin recorded; Kubo's own pin follows
// from the tracker, so "until pinned" times (answer, then polling each Kubo's pin/ls) are shown as well.
// Run (after a build): node --import tsx bench/add.bench.ts
// Env knobs: BENCH_ADD_MIB (256), BENCH_ROUNDS (5).
import '../src/polyfills.js'
import '../src/pnet-fix.js'
import { createCipheriv, randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { availableParallelism, cpus, totalmem } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Agent, request } from 'undici'
import { startKubos, KUBO_VERSION, type KuboDaemon } from '../test/fixtures/kubo.js'
import { timedAdd, type TimedAdd } from './multipart-add.js'
import { envInt } from './env.js'
import { startCluster, waitForMesh, type TestPeer } from '../test/fixtures/cluster.js'

const MiB = 1024 * 1024
const ADD_MIB = envInt('BENCH_ADD_MIB', 256)
const ROUNDS = envInt('BENCH_ROUNDS', 5)
const QUERY = 'cid-version=1&raw-leaves=true&quieter=true'

const agent = new Agent({ keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000, bodyTimeout: 0, headersTimeout: 0 })
const log = (m: string): void => { process.stderr.write(`[bench] ${m}\n`) }
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m] as number : ((s[m - 1] as number) + (s[m] as number)) / 2
}

/**
 * `bytes` of pseudo-random data, the same for the same key: AES-CTR over zeros, so the three direct adds
 * of one round send identical bytes without a file on disk (page-cache reads would cost as much CPU).
 */
async function * randomStream (key: Buffer, bytes: number): AsyncGenerator<Buffer> {
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16))
  const zeros = Buffer.alloc(MiB)
  for (let done = 0; done < bytes; done += MiB) yield cipher.update(zeros.subarray(0, Math.min(MiB, bytes - done)))
}


/** One multipart add of `bytes` generated from `key`. */
async function add (base: string, query: string, key: Buffer, bytes: number): Promise<TimedAdd> {
  return await timedAdd(agent, base, query, randomStream(key, bytes), bytes)
}

async function pinnedOn (kubo: KuboDaemon, cid: string): Promise<boolean> {
  const res = await request(`${kubo.apiUrl}/api/v0/pin/ls?arg=${cid}&type=recursive`, { method: 'POST', dispatcher: agent })
  await res.body.text()
  return res.statusCode === 200
}

/** Polls until every Kubo in `kubos` holds `cid` recursively; ms since `t0`. */
async function untilPinned (kubos: KuboDaemon[], cid: string, t0: number): Promise<number> {
  for (;;) {
    if ((await Promise.all(kubos.map(async k => await pinnedOn(k, cid)))).every(Boolean)) return performance.now() - t0
    if (performance.now() - t0 > 600_000) throw new Error(`${cid} not pinned on every Kubo within 10 min`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

const CLK_TCK = 100 // USER_HZ: the unit of utime/stime in /proc/<pid>/stat
async function cpuMsOf (pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) * 1000 / CLK_TCK
}
/** CPU ms (user+system) each listed process used while `work` ran. */
async function cpuOf<T> (pids: Record<string, number>, work: () => Promise<T>): Promise<{ result: T, cpu: Record<string, number> }> {
  const before = Object.fromEntries(await Promise.all(Object.entries(pids).map(async ([k, pid]) => [k, await cpuMsOf(pid)] as const)))
  const client = process.cpuUsage()
  const result = await work()
  const cpu: Record<string, number> = {}
  for (const [k, pid] of Object.entries(pids)) cpu[k] = await cpuMsOf(pid) - (before[k] as number)
  const c = process.cpuUsage(client)
  cpu.client = (c.user + c.system) / 1000
  return { result, cpu }
}

const loadavg = async (): Promise<string> => (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')

async function main (): Promise<void> {
  const bytes = ADD_MIB * MiB
  const mibs = (ms: number): number => ADD_MIB / (ms / 1000)
  let kubos: KuboDaemon[] = []
  let peers: TestPeer[] = []
  try {
    kubos = await startKubos(3)
    peers = await startCluster(3, { kuboApis: kubos.map(k => k.apiMultiaddr), args: ['--metrics-interval', '500ms', '--metrics-ttl', '5s', '--log-level', 'error'] })
    await waitForMesh(peers)
    const A = peers[0] as TestPeer
    const kA = kubos[0] as KuboDaemon
    const pids: Record<string, number> = {}
    for (const [i, k] of kubos.entries()) pids[`kubo${'ABC'[i] as string}`] = k.process?.pid as number
    for (const [i, p] of peers.entries()) pids[`pinmesh${'ABC'[i] as string}`] = p.proc.process.pid as number
    const cpu3: { direct: Array<Record<string, number>>, pinmesh: Array<Record<string, number>> } = { direct: [], pinmesh: [] }
    const load0 = await loadavg()
    log(`3 Kubos, 3 pinmesh peers; ${ROUNDS} rounds of ${ADD_MIB} MiB adds; load average ${load0}`)

    // Warm-up on both paths (JIT, connections, libp2p streams), not measured.
    await add(kA.apiUrl, QUERY, randomBytes(16), 16 * MiB)
    await add(A.proc.proxyUrl, `${QUERY}&replication-min=3&replication-max=3`, randomBytes(16), 16 * MiB)

    const r1 = { direct: [] as number[], pinmesh: [] as number[], directPinned: [] as number[], pinmeshPinned: [] as number[] }
    const r3 = { direct: [] as number[], pinmesh: [] as number[], pinmeshPinned: [] as number[] }
    const rep1Query = `${QUERY}&replication-min=1&replication-max=1&user-allocations=${A.proc.peerId}`
    const rep3Query = `${QUERY}&replication-min=3&replication-max=3`
    for (let round = 0; round < ROUNDS; round++) {
      // Alternating which side goes first spreads drift (repos growing, other processes) over both.
      const sides = round % 2 === 0 ? ['direct', 'pinmesh'] as const : ['pinmesh', 'direct'] as const
      for (const side of sides) {
        if (side === 'direct') {
          const t0 = performance.now()
          const a = await add(kA.apiUrl, QUERY, randomBytes(16), bytes)
          r1.direct.push(a.ms)
          r1.directPinned.push(await untilPinned([kA], a.cid, t0))
        } else {
          const t0 = performance.now()
          const a = await add(A.proc.proxyUrl, rep1Query, randomBytes(16), bytes)
          r1.pinmesh.push(a.ms)
          r1.pinmeshPinned.push(await untilPinned([kA], a.cid, t0))
        }
      }
      log(`round ${round + 1} replication 1: direct ${mibs(r1.direct.at(-1) as number).toFixed(1)} MiB/s, pinmesh ${mibs(r1.pinmesh.at(-1) as number).toFixed(1)} MiB/s`)
      for (const side of sides) {
        if (side === 'direct') {
          const key = randomBytes(16)
          const { result: total, cpu } = await cpuOf(pids, async () => {
            let sum = 0
            let cid = ''
            for (const k of kubos) {
              const a = await add(k.apiUrl, QUERY, key, bytes)
              if (cid !== '' && a.cid !== cid) throw new Error(`the same bytes gave ${a.cid} and ${cid}`)
              cid = a.cid
              sum += a.ms
            }
            return sum
          })
          r3.direct.push(total)
          cpu3.direct.push(cpu)
        } else {
          const t0 = performance.now()
          const { result: a, cpu } = await cpuOf(pids, async () => await add(A.proc.proxyUrl, rep3Query, randomBytes(16), bytes))
          r3.pinmesh.push(a.ms)
          cpu3.pinmesh.push(cpu)
          r3.pinmeshPinned.push(await untilPinned(kubos, a.cid, t0))
        }
      }
      log(`round ${round + 1} replication 3: 3 direct adds ${((r3.direct.at(-1) as number) / 1000).toFixed(2)} s, pinmesh ${((r3.pinmesh.at(-1) as number) / 1000).toFixed(2)} s (pinned on 3 after ${((r3.pinmeshPinned.at(-1) as number) / 1000).toFixed(2)} s)`)
    }
    const load1 = await loadavg()

    const d1 = median(r1.direct)
    const p1 = median(r1.pinmesh)
    const d1p = median(r1.directPinned)
    const p1p = median(r1.pinmeshPinned)
    const d3 = median(r3.direct)
    const p3 = median(r3.pinmesh)
    const p3p = median(r3.pinmeshPinned)
    const rows: Array<[string, string, string, string, string]> = [
      [`replication 1: add ${ADD_MIB} MiB, throughput (answer)`, `${mibs(d1).toFixed(1)} MiB/s`, `${mibs(p1).toFixed(1)} MiB/s`, `${(d1 / p1).toFixed(3)}x`, d1 / p1 >= 0.95 ? '≥ 0.95x: PASS' : '≥ 0.95x: MISS'],
      [`replication 1: add ${ADD_MIB} MiB, until pinned on Kubo A`, `${(d1p / 1000).toFixed(2)} s`, `${(p1p / 1000).toFixed(2)} s`, `${(d1p / p1p).toFixed(3)}x`, '(info)'],
      [`replication 3: ${ADD_MIB} MiB on 3 Kubos (answer)`, `${(d3 / 1000).toFixed(2)} s (3 sequential adds)`, `${(p3 / 1000).toFixed(2)} s`, `${(d3 / p3).toFixed(3)}x`, '(report)'],
      [`replication 3: until pinned on all 3 Kubos`, `${(d3 / 1000).toFixed(2)} s`, `${(p3p / 1000).toFixed(2)} s`, `${(d3 / p3p).toFixed(3)}x`, '(info)']
    ]
    process.stdout.write('\n| metric | direct | via pinmesh | direct time / pinmesh time | target |\n|---|---:|---:|---:|---|\n')
    for (const r of rows) process.stdout.write(`| ${r.join(' | ')} |\n`)
    const cpuLine = (xs: Array<Record<string, number>>): string => Object.keys(xs[0] ?? {}).map(k => `${k} ${median(xs.map(x => x[k] ?? 0)).toFixed(0)}`).join(', ')
    process.stdout.write(`\nCPU ms per replication-3 round (median), 3 direct adds: ${cpuLine(cpu3.direct)}\n`)
    process.stdout.write(`CPU ms per replication-3 round (median), via pinmesh:   ${cpuLine(cpu3.pinmesh)}\n`)
    process.stdout.write(`\nMedians of ${ROUNDS} alternating rounds; each add ${ADD_MIB} MiB of fresh random bytes, ${QUERY}. ` +
      `machine: ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, Kubo ${KUBO_VERSION}; load average ${load0} -> ${load1}\n`)

    const date = new Date().toISOString()
    const outDir = join(dirname(fileURLToPath(import.meta.url)), 'out')
    await mkdir(outDir, { recursive: true })
    await writeFile(join(outDir, `add-${date.replace(/[:.]/g, '-')}.json`), JSON.stringify({
      date,
      machine: { nproc: availableParallelism(), cpu: cpus()[0]?.model, totalMemBytes: totalmem(), node: process.version, kubo: KUBO_VERSION },
      params: { addMiB: ADD_MIB, rounds: ROUNDS, query: QUERY },
      loadavgStart: load0,
      loadavgEnd: load1,
      raw: { replication1: r1, replication3: r3, replication3CpuMs: cpu3 },
      medians: { d1, p1, d1p, p1p, d3, p3, p3p }
    }, null, 2) + '\n')
  } finally {
    await Promise.all(peers.map(async p => { await p.proc.destroy().catch(() => {}) }))
    await Promise.all(kubos.map(async k => { await k.destroy().catch(() => {}) }))
    await agent.close().catch(() => {})
  }
}

await main()
