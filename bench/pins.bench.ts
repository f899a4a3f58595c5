// Pin ingest benchmark (issue 4): 10,000 CIDs of small blocks present on one Kubo, pinned through
// pinmesh's pin/add (committed mode) on a 3-peer cluster with replication 3, against the same
// 10,000 pin/add calls sent straight to 3 Kubos. Run: npm run bench:pins
// Issue 13: then, on the same cluster, another N CIDs through pin/add in the default mode (waiting
// until pinned), compared with the committed phase: PINS_BENCH_WAIT=committed skips it.
// PINS_BENCH_PRELOAD=50000 first puts that many pins in the pinset and on the 3 Kubos, so a cost
// that grows with the pinset shows; PINS_BENCH_DIRECT=0 skips the direct phase.
import '../src/polyfills.js'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { request, Agent } from 'undici'
import { startKubos, type KuboDaemon } from '../test/fixtures/kubo.js'
import { startCluster, waitForMesh } from '../test/fixtures/cluster.js'

const N = Number(process.env.PINS_BENCH_N ?? 10_000)
const CONCURRENCY = Number(process.env.PINS_BENCH_CONCURRENCY ?? 32)
/** Extra pinmesh flags for a run, e.g. PINS_BENCH_ARGS='--tracker-concurrent-pins 32'. */
const EXTRA_ARGS = (process.env.PINS_BENCH_ARGS ?? '').split(' ').filter(a => a !== '')
const MODES = (process.env.PINS_BENCH_WAIT ?? 'committed,pinned').split(',').filter(m => m === 'committed' || m === 'pinned')
const PRELOAD = Number(process.env.PINS_BENCH_PRELOAD ?? 0)
const DIRECT = process.env.PINS_BENCH_DIRECT !== '0'
const agent = new Agent({ connections: CONCURRENCY * 2 })

async function post (url: string): Promise<string> {
  const r = await request(url, { method: 'POST', dispatcher: agent })
  const body = await r.body.text()
  if (r.statusCode !== 200) throw new Error(`${url}: ${r.statusCode} ${body}`)
  return body
}

/** Puts N small raw blocks into one Kubo (multipart block/put, 1,000 per request). */
async function putBlocks (kubo: KuboDaemon, seed: string, n = N): Promise<string[]> {
  const cids: string[] = []
  for (let i = 0; i < n; i += 1000) {
    const boundary = 'benchboundary'
    const parts: string[] = []
    for (let j = i; j < Math.min(n, i + 1000); j++) parts.push(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename=""\r\nContent-Type: application/octet-stream\r\n\r\n${seed} block ${j}\r\n`)
    const body = parts.join('') + `--${boundary}--\r\n`
    const r = await request(`${kubo.apiUrl}/api/v0/block/put?cid-codec=raw`, { method: 'POST', body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, dispatcher: agent })
    const text = await r.body.text()
    for (const line of text.split('\n')) if (line !== '') cids.push((JSON.parse(line) as { Key: string }).Key)
  }
  return cids
}

async function pool<T> (items: readonly T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: n }, async () => { while (next < items.length) await fn(items[next++] as T) }))
}

async function recursivePins (kubo: KuboDaemon): Promise<number> {
  const r = await request(`${kubo.apiUrl}/api/v0/pin/ls?type=recursive&stream=true`, { method: 'POST', dispatcher: agent })
  return (await r.body.text()).split('\n').filter(l => l !== '').length
}

/** Resolves once every Kubo holds `n` more recursive pins than `base`. Listing a big pinset costs Kubo, so it looks less often then. */
async function allPinned (kubos: KuboDaemon[], base: number[], n = N): Promise<void> {
  const intervalMs = (base[0] ?? 0) > 10_000 ? 1000 : 200
  for (;;) {
    const counts = await Promise.all(kubos.map(recursivePins))
    if (counts.every((c, i) => c - (base[i] ?? 0) >= n)) return
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
async function cpuSeconds (pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100
}

function percentile (sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN
}

const results: Record<string, number> = {}

// Direct: the same N pin/add calls to each of 3 Kubos (the blocks are on the first one only).
if (DIRECT) {
  const kubos = await startKubos(3)
  try {
    const cids = await putBlocks(kubos[0] as KuboDaemon, 'direct')
    const base = await Promise.all(kubos.map(recursivePins))
    const t0 = performance.now()
    await Promise.all(kubos.map(async k => { await pool(cids, CONCURRENCY, async cid => { await post(`${k.apiUrl}/api/v0/pin/add?arg=${cid}`) }) }))
    await allPinned(kubos, base)
    results.directAllPinnedMs = performance.now() - t0
  } finally {
    await Promise.all(kubos.map(async k => { await k.destroy() }))
  }
}

// Through pinmesh: N pin/add calls to one peer's proxy per mode, replication 3, on one cluster (committed first).
const phases: Record<string, { ackMs: number, allPinnedMs: number, p50Ms: number, p99Ms: number, pinmeshCpuS: number, kuboCpuS: number }> = {}
{
  const kubos = await startKubos(3)
  // Default settings, except metrics fast enough for the three peers to see each other at once.
  const peers = await startCluster(3, { kuboApis: kubos.map(k => k.apiMultiaddr), args: ['--metrics-interval', '500ms', '--metrics-ttl', '5s', '--log-level', 'error', ...EXTRA_ARGS] })
  try {
    await waitForMesh(peers)
    const proxy = peers[0]?.proc.proxyUrl as string
    if (PRELOAD > 0) {
      // The blocks on every Kubo, so preloading is local work; the pins through the admin API, 10,000 per call.
      const t0 = performance.now()
      const cids = (await Promise.all(kubos.map(async k => await putBlocks(k, 'preload', PRELOAD))))[0] as string[]
      const base = await Promise.all(kubos.map(recursivePins))
      for (let i = 0; i < cids.length; i += 10_000) await peers[0]?.admin.pinMany(cids.slice(i, i + 10_000))
      await allPinned(kubos, base, PRELOAD)
      results.preloadMs = performance.now() - t0
      console.error(`preloaded ${PRELOAD} pins in ${(results.preloadMs / 1000).toFixed(1)} s`)
    }
    for (const mode of MODES) {
      const cids = await putBlocks(kubos[0] as KuboDaemon, `pinmesh ${mode}`)
      const base = await Promise.all(kubos.map(recursivePins))
      const latencies: number[] = []
      const cpu = async (): Promise<[number, number]> => [
        (await Promise.all(peers.map(async p => await cpuSeconds(p.proc.process.pid)))).reduce((a, b) => a + b, 0),
        (await Promise.all(kubos.map(async k => await cpuSeconds(k.process?.pid)))).reduce((a, b) => a + b, 0)
      ]
      const cpu0 = await cpu()
      const t0 = performance.now()
      await pool(cids, CONCURRENCY, async cid => {
        const s0 = performance.now()
        await post(`${proxy}/api/v0/pin/add?arg=${cid}&replication=3&wait=${mode}`)
        latencies.push(performance.now() - s0)
      })
      const ackMs = performance.now() - t0
      await allPinned(kubos, base)
      const allPinnedMs = performance.now() - t0
      const cpu1 = await cpu()
      latencies.sort((a, b) => a - b)
      phases[mode] = { ackMs, allPinnedMs, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99), pinmeshCpuS: cpu1[0] - cpu0[0], kuboCpuS: cpu1[1] - cpu0[1] }
      console.error(`${mode}: ${N} acknowledged in ${(ackMs / 1000).toFixed(2)} s, all pinned in ${((phases[mode]?.allPinnedMs ?? 0) / 1000).toFixed(2)} s`)
    }
    if (phases.committed !== undefined) {
      results.committedMs = phases.committed.ackMs
      results.pinmeshAllPinnedMs = phases.committed.allPinnedMs
    }
  } finally {
    await Promise.all(peers.map(async p => { await p.proc.destroy() }))
    await Promise.all(kubos.map(async k => { await k.destroy() }))
  }
}

const s = (ms: number | undefined): string => `${((ms ?? NaN) / 1000).toFixed(2)} s`
const rows: Array<readonly [string, string, string, boolean | undefined]> = []
const committed = phases.committed
const pinned = phases.pinned
if (committed !== undefined) {
  const committedPerSec = N / (committed.ackMs / 1000)
  rows.push(['committed pins per second (pin/add, committed mode)', committedPerSec.toFixed(0), '≥ 1000/s', committedPerSec >= 1000])
  if (DIRECT) rows.push([`all ${N} pinned on 3 Kubos, direct pin/add to each`, s(results.directAllPinnedMs), '', undefined])
  rows.push([`all ${N} pinned on 3 Kubos, through pinmesh`, s(committed.allPinnedMs), '', undefined])
  if (DIRECT) {
    const ratio = committed.allPinnedMs / (results.directAllPinnedMs as number)
    rows.push(['pinmesh / direct time', ratio.toFixed(2), '≤ 1.2', ratio <= 1.2])
  }
}
if (pinned !== undefined) {
  const pinnedPerSec = N / (pinned.ackMs / 1000)
  rows.push(['acknowledged pins per second, wait=pinned (default)', pinnedPerSec.toFixed(0), '', undefined])
  rows.push(['per-call latency, wait=pinned: p50 / p99', `${pinned.p50Ms.toFixed(0)} / ${pinned.p99Ms.toFixed(0)} ms`, '', undefined])
  rows.push([`all ${N} pinned on 3 Kubos, wait=pinned`, s(pinned.allPinnedMs), '', undefined])
  if (committed !== undefined) rows.push(['CPU of the 3 pinmesh / 3 Kubo processes, committed phase', `${committed.pinmeshCpuS.toFixed(1)} / ${committed.kuboCpuS.toFixed(1)} s`, '', undefined])
  rows.push(['CPU of the 3 pinmesh / 3 Kubo processes, wait=pinned phase', `${pinned.pinmeshCpuS.toFixed(1)} / ${pinned.kuboCpuS.toFixed(1)} s`, '', undefined])
  if (committed !== undefined) {
    const rate = (N / pinned.ackMs) / (N / committed.ackMs)
    const time = pinned.allPinnedMs / committed.allPinnedMs
    rows.push(['wait=pinned / wait=committed, acknowledged pins/s', rate.toFixed(2), '≥ 0.8', rate >= 0.8])
    rows.push(['wait=pinned / wait=committed, time until all pinned', time.toFixed(2), '≤ 1.2', time <= 1.2])
  }
}
if (PRELOAD > 0) rows.push([`pins already in the pinset and on each Kubo (preloaded in ${s(results.preloadMs)})`, String(PRELOAD), '', undefined])
console.log('| metric | value | target | |\n|---|---|---|---|')
for (const [m, v, tgt, ok] of rows) console.log(`| ${m} | ${v} | ${tgt} | ${ok === undefined ? '' : ok ? 'PASS' : 'MISS'} |`)
await mkdir(new URL('./out/', import.meta.url), { recursive: true })
await writeFile(new URL('./out/pins.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), n: N, concurrency: CONCURRENCY, args: EXTRA_ARGS, preload: PRELOAD, results, phases }, null, 2))
await agent.close()
