// Benchmark of the pass-through proxy (issue 2): pinmesh vs the same Kubo directly, side by side in one run.
// Measures: POST /api/v0/version sequentially and at concurrency 32 (latency, throughput, CPU per call of every
// process); a 256 MiB add with pin=false and one with only-hash=true (pinmesh intercepts add for the cluster
// upload, except only-hash, which it passes through); pinmesh's RSS idle and during a 1 GiB add.
// Direct and proxied runs alternate, each figure is the median of the rounds. Results: stdout table + bench/out/*.json.
// Run: npm run bench:proxy   (builds dist/ first; or `npx tsx bench/proxy.bench.ts` on a fresh build)
// Env knobs: BENCH_ROUNDS (5), BENCH_CALLS (2000), BENCH_CONCURRENCY (32), BENCH_ADD_MIB (256), BENCH_MEM_ADD_MIB (1024),
// BENCH_PINMESH_NODE_OPTIONS (NODE_OPTIONS for the pinmesh process only, e.g. --max-semi-space-size=2),
// BENCH_STRICT=1 (exit 1 on a missed target).
import '../src/polyfills.js'
import { randomFillSync } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Agent, request } from 'undici'
import { startKubo, kuboBinary, type KuboDaemon } from '../test/fixtures/kubo.js'
import { timedAdd } from './multipart-add.js'
import { envInt } from './env.js'
import { startPinmesh, PINMESH_BIN, type PinmeshProcess } from '../test/fixtures/pinmesh.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const MiB = 1024 * 1024

const ROUNDS = envInt('BENCH_ROUNDS', 5)
const CALLS = envInt('BENCH_CALLS', 2000)
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 32)
const ADD_MIB = envInt('BENCH_ADD_MIB', 256)
const MEM_ADD_MIB = envInt('BENCH_MEM_ADD_MIB', 1024)
const RSS_SAMPLE_MS = 100

type Side = 'direct' | 'pinmesh'
interface Target { side: Side, base: string }

// One client for both sides: an undici keep-alive Agent (one connection per in-flight request, reused).
const agent = new Agent({ keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000, pipelining: 1 })

// ---------- forwarded-call overhead: POST /api/v0/version ----------

interface CallStats { calls: number, concurrency: number, wallMs: number, rps: number, p50: number, p90: number, p99: number, mean: number, max: number, cpuUsPerCall?: CpuPerCall }
/** CPU time (user+system) each process spent: per call in µs (version runs), per add in ms. */
interface CpuPerCall { client: number, kubo: number, pinmesh: number }

const CLK_TCK = 100 // USER_HZ on Linux: the unit of utime/stime in /proc/<pid>/stat
async function cpuMsOf (pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) * 1000 / CLK_TCK
}

interface CpuMark { kubo: number, pinmesh: number, client: NodeJS.CpuUsage }
async function cpuMark (pids: { kubo: number, pinmesh: number }): Promise<CpuMark> {
  return { kubo: await cpuMsOf(pids.kubo), pinmesh: await cpuMsOf(pids.pinmesh), client: process.cpuUsage() }
}
/** CPU ms each process used since `m`. */
async function cpuSince (pids: { kubo: number, pinmesh: number }, m: CpuMark): Promise<CpuPerCall> {
  const c = process.cpuUsage(m.client)
  return { client: (c.user + c.system) / 1000, kubo: await cpuMsOf(pids.kubo) - m.kubo, pinmesh: await cpuMsOf(pids.pinmesh) - m.pinmesh }
}

/** Runs `work` and adds what each process spent on CPU per call. */
async function withCpu (pids: { kubo: number, pinmesh: number }, calls: number, work: () => Promise<CallStats>): Promise<CallStats> {
  const m = await cpuMark(pids)
  const stats = await work()
  const ms = await cpuSince(pids, m)
  stats.cpuUsPerCall = { client: ms.client * 1000 / calls, kubo: ms.kubo * 1000 / calls, pinmesh: ms.pinmesh * 1000 / calls }
  return stats
}

async function versionOnce (base: string): Promise<number> {
  const t0 = process.hrtime.bigint()
  const res = await request(`${base}/api/v0/version`, { method: 'POST', dispatcher: agent })
  const body = await res.body.text()
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  if (res.statusCode !== 200 || !body.includes('"Version"')) throw new Error(`version via ${base}: ${res.statusCode} ${body}`)
  return ms
}

/** `calls` version calls spread over `concurrency` workers; latency of each call from request to last body byte. */
async function versionRun (base: string, calls: number, concurrency: number): Promise<CallStats> {
  const lat = new Float64Array(calls)
  let next = 0
  const t0 = process.hrtime.bigint()
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++
      if (i >= calls) return
      lat[i] = await versionOnce(base)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6
  lat.sort()
  const q = (p: number): number => lat[Math.min(calls - 1, Math.floor(p * calls))] as number
  let sum = 0
  for (const v of lat) sum += v
  return { calls, concurrency, wallMs, rps: calls / (wallMs / 1000), p50: q(0.5), p90: q(0.9), p99: q(0.99), mean: sum / calls, max: lat[calls - 1] as number }
}

// ---------- add throughput: POST /api/v0/add, multipart streamed from a file ----------

interface AddStats { bytes: number, ms: number, mibPerS: number, cid: string, cpuMs?: CpuPerCall }

/** Stored, not pinned: the add the target is about. */
const ADD_QUERY = 'pin=false&quieter=true'
/**
 * Hashed only, nothing stored. pinmesh's upload interceptor (src/proxy/handlers/upload.ts) hands
 * only-hash adds to the plain pass-through, so this one measures passthrough.ts with a large body.
 */
const ADD_QUERY_PASSTHROUGH = 'only-hash=true&quieter=true'

async function addFile (base: string, file: string, bytes: number, query = ADD_QUERY): Promise<AddStats> {
  // Streamed: never more than a few MiB of the file in this process at once.
  const { ms, cid } = await timedAdd(agent, base, query, createReadStream(file, { highWaterMark: MiB }), bytes)
  return { bytes, ms, mibPerS: bytes / MiB / (ms / 1000), cid }
}

/** Random bytes on disk (each add gets its own file, so Kubo never finds blocks it already holds). */
async function makeRandomFile (path: string, bytes: number): Promise<void> {
  const fh = await open(path, 'w')
  try {
    const buf = Buffer.allocUnsafe(4 * MiB)
    for (let done = 0; done < bytes;) {
      const n = Math.min(buf.length, bytes - done)
      randomFillSync(buf, 0, n)
      await fh.write(buf, 0, n)
      done += n
    }
  } finally { await fh.close() }
}

// ---------- memory ----------

async function rssOf (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
}

/** Samples VmRSS every RSS_SAMPLE_MS while `work` runs. */
async function sampleRss<T> (pid: number, work: () => Promise<T>): Promise<{ result: T, samples: number[] }> {
  const samples: number[] = [await rssOf(pid)]
  let stop = false
  const loop = (async () => {
    while (!stop) {
      await new Promise((resolve) => setTimeout(resolve, RSS_SAMPLE_MS))
      try { samples.push(await rssOf(pid)) } catch { /* process gone: the add fails anyway */ }
    }
  })()
  try {
    const result = await work()
    return { result, samples }
  } finally {
    stop = true
    await loop
    samples.push(await rssOf(pid))
  }
}

// ---------- helpers ----------

/** Busy CPU ms of the whole machine so far (all cores), from /proc/stat. */
async function machineBusyMs (): Promise<number> {
  const f = ((await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number)
  const idle = (f[3] ?? 0) + (f[4] ?? 0) // idle + iowait
  return (f.reduce((a, b) => a + b, 0) - idle) * 1000 / CLK_TCK
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m] as number : ((s[m - 1] as number) + (s[m] as number)) / 2
}
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
const log = (msg: string): void => { process.stderr.write(`[bench] ${msg}\n`) }
const cpuNote = (s: CallStats): string => s.cpuUsPerCall === undefined ? '' : `CPU us/call client ${s.cpuUsPerCall.client.toFixed(0)} kubo ${s.cpuUsPerCall.kubo.toFixed(0)} pinmesh ${s.cpuUsPerCall.pinmesh.toFixed(0)}`
/** Rounds alternate which side goes first, so slow drift (page cache, GC, Kubo's repo growing) hits both. */
const order = (round: number, direct: Target, proxied: Target): Target[] => round % 2 === 0 ? [direct, proxied] : [proxied, direct]

interface Row { metric: string, unit: string, direct: number | null, pinmesh: number, ratio: number | null, target: string, pass: boolean | null }

function fmt (v: number | null, unit: string): string {
  if (v === null) return '-'
  if (unit === 'ms') return v.toFixed(3)
  if (unit === 'MB') return (v / 1e6).toFixed(1)
  return v.toFixed(unit === 'req/s' || unit.endsWith('CPU') ? 0 : 1)
}

function table (rows: Row[]): string {
  const head = ['metric', 'direct', 'via pinmesh', 'ratio', 'target', 'result']
  const body = rows.map(r => [`${r.metric} (${r.unit})`, fmt(r.direct, r.unit), fmt(r.pinmesh, r.unit), r.ratio === null ? '-' : `${r.ratio.toFixed(3)}x`, r.target, r.pass === null ? 'info' : r.pass ? 'PASS' : 'MISS'])
  const w = head.map((h, i) => Math.max(h.length, ...body.map(b => (b[i] as string).length)))
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => i === 0 || i === 4 ? c.padEnd(w[i] as number) : c.padStart(w[i] as number)).join(' | ') + ' |'
  return [line(head), '|' + w.map((n, i) => i === 0 || i === 4 ? '-'.repeat(n + 2) : '-'.repeat(n + 1) + ':').join('|') + '|', ...body.map(line)].join('\n')
}

// ---------- main ----------

async function main (): Promise<void> {
  const started = Date.now()
  const work = await mkdtemp(join(tmpdir(), 'pinmesh-bench-'))
  let kubo: KuboDaemon | undefined
  let pinmesh: PinmeshProcess | undefined
  try {
    // Generate all inputs before anything is measured: one file per add, plus a small warm-up file.
    const addFiles: Record<Side, string[]> = { direct: [], pinmesh: [] }
    const warmFile = join(work, 'warm.bin')
    const memFile = join(work, 'mem.bin')
    const genStart = Date.now()
    log(`generating ${2 * ROUNDS} x ${ADD_MIB} MiB + ${MEM_ADD_MIB} MiB of random input in ${work}`)
    await makeRandomFile(warmFile, 16 * MiB)
    for (const side of ['direct', 'pinmesh'] as const) {
      for (let r = 0; r < ROUNDS; r++) {
        const f = join(work, `add-${side}-${r}.bin`)
        await makeRandomFile(f, ADD_MIB * MiB)
        addFiles[side].push(f)
      }
    }
    await makeRandomFile(memFile, MEM_ADD_MIB * MiB)
    log(`generated in ${((Date.now() - genStart) / 1000).toFixed(1)} s`)

    kubo = await startKubo()
    const nodeOptions = process.env.BENCH_PINMESH_NODE_OPTIONS
    pinmesh = await startPinmesh({ kuboApi: kubo.apiMultiaddr, ...(nodeOptions !== undefined ? { env: { NODE_OPTIONS: nodeOptions } } : {}) })
    const direct: Target = { side: 'direct', base: kubo.apiUrl }
    const proxied: Target = { side: 'pinmesh', base: pinmesh.proxyUrl }
    const pid = pinmesh.process.pid as number
    const pids = { kubo: kubo.process?.pid as number, pinmesh: pid }
    log(`kubo ${kubo.apiUrl}, pinmesh ${pinmesh.proxyUrl} (pid ${pid})`)

    await sleep(2000)
    const rssIdleStart = await rssOf(pid)
    // Other processes on the machine skew every figure here; measure how much CPU they took during the bench.
    const load0 = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')
    const busy0 = await machineBusyMs()
    const ours0 = await cpuMark(pids)
    const measureStart = Date.now()

    // Warm-up: JIT, connection pools on both hops, Kubo's add path.
    log('warming up')
    for (const t of [direct, proxied]) {
      await versionRun(t.base, 500, 1)
      await versionRun(t.base, 1000, CONCURRENCY)
      await addFile(t.base, warmFile, 16 * MiB)
    }

    const seq: Record<Side, CallStats[]> = { direct: [], pinmesh: [] }
    const conc: Record<Side, CallStats[]> = { direct: [], pinmesh: [] }
    const adds: Record<Side, AddStats[]> = { direct: [], pinmesh: [] }
    const addsPassthrough: Record<Side, AddStats[]> = { direct: [], pinmesh: [] }

    for (let r = 0; r < ROUNDS; r++) {
      for (const t of order(r, direct, proxied)) {
        const s = await withCpu(pids, CALLS, async () => await versionRun(t.base, CALLS, 1))
        seq[t.side].push(s)
        log(`round ${r + 1} version seq     ${t.side.padEnd(7)} p50 ${s.p50.toFixed(3)} ms  ${s.rps.toFixed(0)} req/s  ${cpuNote(s)}`)
      }
      for (const t of order(r, direct, proxied)) {
        const s = await withCpu(pids, CALLS, async () => await versionRun(t.base, CALLS, CONCURRENCY))
        conc[t.side].push(s)
        log(`round ${r + 1} version c=${CONCURRENCY}    ${t.side.padEnd(7)} p50 ${s.p50.toFixed(3)} ms  ${s.rps.toFixed(0)} req/s  ${cpuNote(s)}`)
      }
    }
    for (let r = 0; r < ROUNDS; r++) {
      for (const t of order(r, direct, proxied)) {
        const m = await cpuMark(pids)
        const a = await addFile(t.base, addFiles[t.side][r] as string, ADD_MIB * MiB)
        a.cpuMs = await cpuSince(pids, m)
        adds[t.side].push(a)
        log(`round ${r + 1} add ${ADD_MIB} MiB     ${t.side.padEnd(7)} ${a.mibPerS.toFixed(1)} MiB/s (${(a.ms / 1000).toFixed(2)} s)  CPU ms client ${a.cpuMs.client.toFixed(0)} kubo ${a.cpuMs.kubo.toFixed(0)} pinmesh ${a.cpuMs.pinmesh.toFixed(0)}`)
      }
      // only-hash stores nothing, so the same file can serve both sides.
      for (const t of order(r, direct, proxied)) {
        const m = await cpuMark(pids)
        const a = await addFile(t.base, addFiles.direct[r] as string, ADD_MIB * MiB, ADD_QUERY_PASSTHROUGH)
        a.cpuMs = await cpuSince(pids, m)
        addsPassthrough[t.side].push(a)
        log(`round ${r + 1} add only-hash ${t.side.padEnd(7)} ${a.mibPerS.toFixed(1)} MiB/s (${(a.ms / 1000).toFixed(2)} s)  CPU ms client ${a.cpuMs.client.toFixed(0)} kubo ${a.cpuMs.kubo.toFixed(0)} pinmesh ${a.cpuMs.pinmesh.toFixed(0)}`)
      }
    }

    // Memory 1: what the instance above holds once idle again after that load.
    await sleep(3000)
    const rssIdle = await rssOf(pid)
    log(`pinmesh RSS idle after the runs ${(rssIdle / 1e6).toFixed(1)} MB (fresh start ${(rssIdleStart / 1e6).toFixed(1)} MB)`)
    const oursMs = await cpuSince(pids, ours0)
    const foreignMs = Math.max(0, (await machineBusyMs()) - busy0 - oursMs.client - oursMs.kubo - oursMs.pinmesh)
    const foreignShare = foreignMs / ((Date.now() - measureStart) * availableParallelism())
    const load1 = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')

    // Memory 2: a fresh pinmesh, idle, then one large add through it. A fresh process, so that memory
    // retained from the runs above cannot hide the growth.
    await pinmesh.destroy()
    const fresh = await startPinmesh({ kuboApi: kubo.apiMultiaddr, ...(nodeOptions !== undefined ? { env: { NODE_OPTIONS: nodeOptions } } : {}) })
    pinmesh = fresh
    const pid2 = fresh.process.pid as number
    await sleep(2000)
    const rssIdleMem = await rssOf(pid2)
    log(`fresh pinmesh (pid ${pid2}) RSS idle ${(rssIdleMem / 1e6).toFixed(1)} MB; adding ${MEM_ADD_MIB} MiB through it`)
    const mem = await sampleRss(pid2, async () => await addFile(fresh.proxyUrl, memFile, MEM_ADD_MIB * MiB))
    const rssPeak = Math.max(...mem.samples)
    log(`pinmesh RSS peak ${(rssPeak / 1e6).toFixed(1)} MB over ${mem.samples.length} samples; add ${mem.result.mibPerS.toFixed(1)} MiB/s`)

    // ---------- verdicts ----------
    const med = (xs: CallStats[], k: 'p50' | 'p99' | 'rps'): number => median(xs.map(x => x[k]))
    const rows: Row[] = []
    for (const [name, set] of [['version sequential', seq], [`version c=${CONCURRENCY}`, conc]] as const) {
      const d50 = med(set.direct, 'p50')
      const p50 = med(set.pinmesh, 'p50')
      rows.push({ metric: `${name} p50`, unit: 'ms', direct: d50, pinmesh: p50, ratio: p50 / d50, target: '<= 1.15x or <= +0.3 ms', pass: p50 <= d50 * 1.15 || p50 - d50 <= 0.3 })
      const d99 = med(set.direct, 'p99')
      const p99 = med(set.pinmesh, 'p99')
      rows.push({ metric: `${name} p99`, unit: 'ms', direct: d99, pinmesh: p99, ratio: p99 / d99, target: '(info)', pass: null })
      const drps = med(set.direct, 'rps')
      const prps = med(set.pinmesh, 'rps')
      rows.push({ metric: `${name} throughput`, unit: 'req/s', direct: drps, pinmesh: prps, ratio: prps / drps, target: '>= 0.9x', pass: prps / drps >= 0.9 })
      // Where the CPU goes: direct = client + Kubo; via pinmesh = client + Kubo + pinmesh (2 cores shared by all).
      const cpu = (xs: CallStats[], withPinmesh: boolean): number => median(xs.map(x => (x.cpuUsPerCall?.client ?? 0) + (x.cpuUsPerCall?.kubo ?? 0) + (withPinmesh ? x.cpuUsPerCall?.pinmesh ?? 0 : 0)))
      const dcpu = cpu(set.direct, false)
      const pcpu = cpu(set.pinmesh, true)
      rows.push({ metric: `${name}, all processes`, unit: 'us CPU', direct: dcpu, pinmesh: pcpu, ratio: pcpu / dcpu, target: '(info)', pass: null })
      rows.push({ metric: `${name}, pinmesh alone`, unit: 'us CPU', direct: null, pinmesh: median(set.pinmesh.map(x => x.cpuUsPerCall?.pinmesh ?? 0)), ratio: null, target: '(info)', pass: null })
    }
    const dAdd = median(adds.direct.map(a => a.mibPerS))
    const pAdd = median(adds.pinmesh.map(a => a.mibPerS))
    rows.push({ metric: `add ${ADD_MIB} MiB (pin=false) throughput`, unit: 'MiB/s', direct: dAdd, pinmesh: pAdd, ratio: pAdd / dAdd, target: '>= 0.95x', pass: pAdd / dAdd >= 0.95 })
    const addCpu = (xs: AddStats[], withPinmesh: boolean): number => median(xs.map(x => (x.cpuMs?.client ?? 0) + (x.cpuMs?.kubo ?? 0) + (withPinmesh ? x.cpuMs?.pinmesh ?? 0 : 0)))
    rows.push({ metric: `add ${ADD_MIB} MiB, all processes`, unit: 'ms CPU', direct: addCpu(adds.direct, false), pinmesh: addCpu(adds.pinmesh, true), ratio: addCpu(adds.pinmesh, true) / addCpu(adds.direct, false), target: '(info)', pass: null })
    rows.push({ metric: `add ${ADD_MIB} MiB, pinmesh alone`, unit: 'ms CPU', direct: null, pinmesh: median(adds.pinmesh.map(x => x.cpuMs?.pinmesh ?? 0)), ratio: null, target: '(info)', pass: null })
    const dAddP = median(addsPassthrough.direct.map(a => a.mibPerS))
    const pAddP = median(addsPassthrough.pinmesh.map(a => a.mibPerS))
    rows.push({ metric: `add ${ADD_MIB} MiB only-hash (pass-through path)`, unit: 'MiB/s', direct: dAddP, pinmesh: pAddP, ratio: pAddP / dAddP, target: '>= 0.95x', pass: pAddP / dAddP >= 0.95 })
    rows.push({ metric: `add ${ADD_MIB} MiB only-hash, pinmesh alone`, unit: 'ms CPU', direct: null, pinmesh: median(addsPassthrough.pinmesh.map(x => x.cpuMs?.pinmesh ?? 0)), ratio: null, target: '(info)', pass: null })
    rows.push({ metric: 'pinmesh RSS idle, fresh start', unit: 'MB', direct: null, pinmesh: rssIdleStart, ratio: null, target: '<= 100 MB', pass: rssIdleStart <= 100e6 })
    rows.push({ metric: 'pinmesh RSS idle, after the runs above', unit: 'MB', direct: null, pinmesh: rssIdle, ratio: null, target: '<= 100 MB', pass: rssIdle <= 100e6 })
    rows.push({ metric: `pinmesh RSS growth, ${MEM_ADD_MIB} MiB add (fresh process)`, unit: 'MB', direct: null, pinmesh: rssPeak - rssIdleMem, ratio: null, target: '<= 64 MB (peak - idle)', pass: rssPeak - rssIdleMem <= 64e6 })
    rows.push({ metric: `add ${MEM_ADD_MIB} MiB via pinmesh`, unit: 'MiB/s', direct: null, pinmesh: mem.result.mibPerS, ratio: null, target: '(info)', pass: null })

    const out = table(rows)
    process.stdout.write(`\n${out}\n\n`)
    process.stdout.write(`Medians of ${ROUNDS} alternating rounds. MB = 10^6 bytes of VmRSS. "us CPU" = CPU time per call, "ms CPU" = per add (user+system,\n` +
      'from /proc/<pid>/stat in 10 ms ticks and process.cpuUsage()); "all processes" = bench client + Kubo (+ pinmesh).\n' +
      `Other processes used ${(foreignShare * 100).toFixed(1)}% of the machine's CPU while measuring (load average ${load0} -> ${load1})` +
      (foreignShare > 0.05 ? ': the machine was not quiet, figures are skewed; run again.\n' : '.\n'))

    const cpu = cpus()[0]?.model ?? 'unknown'
    const kuboVersion = (await kubo.cli(['version', '--number'])).stdout.trim()
    const result = {
      date: new Date().toISOString(),
      machine: { nproc: availableParallelism(), cpu, totalMemBytes: totalmem(), node: process.version, kubo: kuboVersion, kuboBinary: await kuboBinary(), pinmesh: PINMESH_BIN },
      params: { pinmeshNodeOptions: nodeOptions ?? null, rounds: ROUNDS, calls: CALLS, concurrency: CONCURRENCY, addMiB: ADD_MIB, memAddMiB: MEM_ADD_MIB, rssSampleMs: RSS_SAMPLE_MS, addQuery: ADD_QUERY, addQueryPassthrough: ADD_QUERY_PASSTHROUGH },
      rows,
      interference: { otherProcessesCpuMs: foreignMs, otherProcessesShare: foreignShare, loadavgStart: load0, loadavgEnd: load1, ourCpuMs: oursMs },
      raw: { seq, conc, adds, addsPassthrough, rss: { idleStart: rssIdleStart, idleAfterRuns: rssIdle, memTestIdle: rssIdleMem, memTestPeak: rssPeak, memTestSamples: mem.samples }, memAdd: mem.result },
      durationS: (Date.now() - started) / 1000
    }
    const outDir = join(HERE, 'out')
    await mkdir(outDir, { recursive: true })
    const stamp = result.date.replace(/[:.]/g, '-')
    await writeFile(join(outDir, `proxy-${stamp}.json`), JSON.stringify(result, null, 2) + '\n')
    await writeFile(join(outDir, 'proxy-latest.json'), JSON.stringify(result, null, 2) + '\n')
    log(`wrote bench/out/proxy-${stamp}.json; total ${result.durationS.toFixed(0)} s`)
    // A miss is a result, not a failure; BENCH_STRICT=1 makes it one (exit code 1).
    if (process.env.BENCH_STRICT === '1' && rows.some(r => r.pass === false)) process.exitCode = 1
  } finally {
    await pinmesh?.destroy().catch(() => {})
    await kubo?.destroy().catch(() => {})
    await agent.close().catch(() => {})
    await rm(work, { recursive: true, force: true })
  }
}

await main()
