// Pinset replication benchmark (issues 3 and 12): pinmesh peers as separate processes on 127.0.0.1.
//   npm run bench:pinset                       latency/convergence rows and the 1M rows
//   PINSET_BENCH_SCALE=10m npm run bench:pinset  the 10M rows only (about 20-30 minutes on 2 cores)
//   PINSET_BENCH_SCALE=all npm run bench:pinset  every target of issue 12
// PINSET_BENCH_SCALE is a comma list of `latency`, `1m`, `10m` (or `all`); the older PINSET_BENCH_BIG=0
// (latency only) and PINSET_BENCH_BIG=only (1m only) still work. Knobs: PINSET_BENCH_ALLOC=holder
// (the 1M rows with the pins allocated to a third peer, see below), PINSET_BENCH_HEAP_MB (each
// measured daemon's --max-old-space-size; 4096 for 1M, 3072 for 10M), PINSET_BENCH_10M (the pin
// count of the 10m mode, 10000000), PINSET_BENCH_WALK_TIMEOUT_S (each pin/ls or /pins walk, 600).
// Prints a table and writes bench/out/pinset.json.
import '../src/polyfills.js'
import { mkdir, writeFile } from 'node:fs/promises'
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os'
import { execFileSync } from 'node:child_process'
import { startPinmesh, newSecret } from '../test/fixtures/pinmesh.js'
import { startCluster, peerOf, waitForPinCount, type TestPeer } from '../test/fixtures/cluster.js'
import { startKubo, type KuboDaemon } from '../test/fixtures/kubo.js'
import { waitFor } from '../test/fixtures/wait-for.js'
import { makeCids } from '../test/fixtures/cids.js'
import { envInt } from './env.js'

const PARTS = ((): Set<string> => {
  const scale = process.env.PINSET_BENCH_SCALE
  if (scale !== undefined && scale !== '') {
    const parts = new Set(scale.split(',').map(s => s.trim().toLowerCase()))
    if (parts.has('all')) return new Set(['latency', '1m', '10m'])
    for (const p of parts) if (!['latency', '1m', '10m'].includes(p)) throw new Error(`PINSET_BENCH_SCALE: unknown part "${p}" (latency, 1m, 10m or all)`)
    return parts
  }
  if (process.env.PINSET_BENCH_BIG === '0') return new Set(['latency'])
  if (process.env.PINSET_BENCH_BIG === 'only') return new Set(['1m'])
  return new Set(['latency', '1m'])
})()
const ALLOC_1M = process.env.PINSET_BENCH_ALLOC === 'holder' ? 'holder' : 'everywhere'
const TEN_M = envInt('PINSET_BENCH_10M', 10_000_000)
const WALK_TIMEOUT_MS = envInt('PINSET_BENCH_WALK_TIMEOUT_S', 600) * 1000
const MB = 1e6
const MiB = 1048576

const rows: Array<{ metric: string, value: string, target: string, ok: boolean | undefined }> = []
const row = (metric: string, value: string, target: string, ok?: boolean): void => { rows.push({ metric, value, target, ok }); console.log(`${metric}: ${value} (target ${target})${ok === undefined ? '' : ok ? ' PASS' : ' MISS'}`) }
const notes: string[] = []
const note = (s: string): void => { notes.push(s); console.log(`note: ${s}`) }
const pct = (xs: number[], p: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))] as number }
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(0)} MiB`
const secs = (ms: number): string => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`
const rate = (n: number, ms: number): string => `${Math.round(n / (ms / 1000)).toLocaleString('en-US')} pins/s`

function machine (): Record<string, unknown> {
  const git = (args: string[]): string => { try { return execFileSync('git', args, { encoding: 'utf8' }).trim() } catch { return '?' } }
  return {
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? '?',
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    commit: `${git(['rev-parse', '--short', 'HEAD'])}${git(['status', '--porcelain', '--untracked-files=no']) === '' ? '' : ' (uncommitted changes)'}`,
    commitSubject: git(['log', '-1', '--format=%s']).slice(0, 100)
  }
}
const load = (): string => loadavg().map(l => l.toFixed(2)).join(' ')

/**
 * `p`, unless one of `peers`' daemons exits first (out of memory, most likely): then a rejection
 * that says which one and ends with its last output, instead of a wait running into its timeout.
 */
async function guard<T> (peers: Array<[string, TestPeer]>, p: Promise<T>): Promise<T> {
  const cleanups: Array<() => void> = []
  const exited = new Promise<never>((_resolve, reject) => {
    for (const [name, peer] of peers) {
      const child = peer.proc.process
      const fail = (): void => {
        const tail = peer.proc.output().trim().split('\n').slice(-4).join(' | ').slice(-800)
        reject(new Error(`${name} exited (code ${child.exitCode}, signal ${child.signalCode}); last output: ${tail}`))
      }
      if (child.exitCode !== null || child.signalCode !== null) { fail(); continue }
      child.once('exit', fail)
      cleanups.push(() => child.off('exit', fail))
    }
  })
  try { return await Promise.race([p, exited]) } finally { for (const c of cleanups) c() }
}

/** Current and peak RSS of a daemon, as rows against `limit` bytes (a MISS row if it is gone). */
async function memoryRows (label: string, peer: TestPeer, limit: number, target: string, which: Array<'rss' | 'peak'> = ['rss', 'peak']): Promise<void> {
  for (const w of which) {
    const metric = `${label}: ${w === 'rss' ? 'RSS' : 'peak RSS (VmHWM)'}`
    try {
      const bytes = w === 'rss' ? await peer.proc.rss() : await peer.proc.peakRss()
      row(metric, mib(bytes), target, limit === Infinity ? undefined : bytes <= limit)
    } catch (err) {
      row(metric, `not read: ${(err as Error).message}`, target, false)
    }
  }
}

async function hasAll (peers: TestPeer[], cid: string): Promise<void> {
  await Promise.all(peers.map(async p => {
    for (;;) {
      try { await p.admin.allocation(cid); return } catch { await new Promise(r => setImmediate(r)) }
    }
  }))
}

async function convergence (): Promise<void> {
  const peers = await startCluster(3)
  try {
    const cids = await makeCids(300, 'latency')
    const lat: number[] = []
    for (const [i, cid] of cids.entries()) {
      const writer = peers[i % 3] as TestPeer
      const t0 = performance.now()
      await writer.admin.pin(cid)
      await hasAll(peers.filter(p => p !== writer), cid)
      lat.push(performance.now() - t0)
    }
    const [p50, p99] = [pct(lat, 50), pct(lat, 99)]
    row('one pin visible on all 3 peers, p50', `${p50.toFixed(1)} ms`, '≤ 50 ms', p50 <= 50)
    row('one pin visible on all 3 peers, p99', `${p99.toFixed(1)} ms`, '≤ 250 ms', p99 <= 250)

    const bulk = await makeCids(100_000, 'bulk-bench')
    const t1 = Date.now()
    try {
      await guard(peers.map((p, i) => [`peer ${i + 1}`, p]), (async () => {
        await peers[0]?.admin.pinMany(bulk)
        await Promise.all(peers.map(async p => { await waitForPinCount(p.admin, 100_300, 120_000) }))
      })())
      const ms = Date.now() - t1
      row('100k pins written at one peer, converged on 3', secs(ms), '≤ 5 s', ms <= 5000)
    } catch (err) {
      row('100k pins written at one peer, converged on 3', `failed after ${secs(Date.now() - t1)}: ${(err as Error).message}; the writer's last output: ${peers[0]?.proc.output().trim().split('\n').slice(-3).join(' | ').slice(-600) ?? ''}`, '≤ 5 s', false)
    }
  } finally {
    await Promise.all(peers.map(async p => { await p.proc.destroy() }))
  }
}

/** Pin requests for `cids`: plain CIDs (the default replication: every peer), or each allocated to `holder` only. */
function requests (cids: string[], holder: TestPeer | undefined): Array<string | Record<string, unknown>> {
  if (holder === undefined) return cids
  const to = [holder.proc.peerId]
  return cids.map(cid => ({ cid, replicationMin: 1, replicationMax: 1, userAllocations: to }))
}

/** Starts the peer that holds every pin's allocation, and no Kubo (see the notes printed). */
async function startHolder (secret: string, heapMb: number): Promise<TestPeer> {
  // Its tracker fails every pin against the unreachable Kubo: at the default level it would log a warning a pin (and retry).
  return peerOf(await startPinmesh({ secret, env: { NODE_OPTIONS: `--max-old-space-size=${heapMb}`, PINMESH_LOG_LEVEL: 'error' } }))
}

async function connected (a: TestPeer, b: TestPeer): Promise<void> {
  await waitFor(async () => (await a.admin.peers()).some(p => p.id === b.proc.peerId && p.connected), { timeoutMs: 30_000, message: 'the peers connected' })
}

async function million (): Promise<void> {
  const secret = newSecret()
  const env = { NODE_OPTIONS: `--max-old-space-size=${envInt('PINSET_BENCH_HEAP_MB', 4096)}` }
  const peers: TestPeer[] = []
  try {
    const holder = ALLOC_1M === 'holder' ? await startHolder(secret, 6144) : undefined
    if (holder !== undefined) peers.push(holder)
    note(ALLOC_1M === 'holder'
      ? '1M rows: no Kubo anywhere; every pin allocated (replication 1, userAllocations) to a third peer that is not measured, so the measured peers\' trackers hold no operations'
      : '1M rows: no Kubo (its address unreachable), default replication (every peer): the writer\'s and the joiner\'s trackers each queue one operation per pin, as in the issue 3 runs')
    const a = peerOf(await startPinmesh({ secret, env, bootstrap: holder?.proc.swarmAddrs }))
    peers.push(a)
    if (holder !== undefined) await connected(a, holder)
    const cids = await makeCids(1_000_000, 'million')
    const t0 = Date.now()
    for (let i = 0; i < cids.length; i += 100_000) await a.admin.pinMany(requests(cids.slice(i, i + 100_000), holder))
    row('1M pins written at one peer (10 bulk requests)', secs(Date.now() - t0), '(info)')
    await memoryRows('1M pins: the writing peer', a, 400 * MB, '≤ 400 MB')
    await a.proc.stop()
    const t1 = Date.now()
    await a.proc.restart()
    const restart = Date.now() - t1
    row('1M pins: cold restart to serving', secs(restart), '≤ 5 s', restart <= 5000)
    await memoryRows('1M pins: the writing peer after that restart', a, 400 * MB, '≤ 400 MB', ['rss'])
    if (holder !== undefined) await waitForPinCount(holder.admin, 1_000_000, 300_000)
    const t2 = Date.now()
    const late = peerOf(await startPinmesh({ secret, bootstrap: a.proc.swarmAddrs, env }))
    peers.push(late)
    await waitForPinCount(late.admin, 1_000_000, 300_000)
    const join = Date.now() - t2
    row('1M pins: late joiner catches up', secs(join), '≤ 30 s', join <= 30_000)
    await memoryRows('1M pins: the late joiner', late, 400 * MB, '≤ 400 MB')
    if (holder !== undefined) await memoryRows('1M pins: the holder (not a target)', holder, Infinity, '(info)', ['peak'])
  } finally {
    await Promise.all(peers.map(async p => { await p.proc.destroy() }))
  }
}

/** Occurrences of `needle` in a response body, counted as it streams (the body is never held whole), each also added to `seen`. */
async function countIn (body: ReadableStream<Uint8Array> | null, needle: string, seen: { n: number }): Promise<number> {
  if (body === null) return 0
  const pattern = Buffer.from(needle)
  let tail = Buffer.alloc(0)
  let n = 0
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    const buf = tail.length === 0 ? Buffer.from(chunk) : Buffer.concat([tail, chunk])
    let at = 0
    while ((at = buf.indexOf(pattern, at)) !== -1) { n++; seen.n++; at += pattern.length }
    // A match split across chunks is found in the next round; the kept bytes are too few to hold a whole one.
    tail = buf.subarray(Math.max(0, buf.length - pattern.length + 1))
  }
  return n
}

/**
 * A pinset walk through an HTTP endpoint: the whole answer read, its pins counted, the rate and
 * whether it listed all `expected` pins as a row against `target` pins/s.
 */
async function walkRow (metric: string, expected: number, targetRate: number | undefined, walk: (signal: AbortSignal, seen: { n: number }) => Promise<{ count: number, detail?: string }>): Promise<void> {
  const t0 = performance.now()
  const seen = { n: 0 }
  const target = targetRate === undefined ? '(info)' : `≥ ${targetRate.toLocaleString('en-US')} pins/s`
  try {
    const { count, detail } = await walk(AbortSignal.timeout(WALK_TIMEOUT_MS), seen)
    const ms = performance.now() - t0
    const complete = count === expected
    const value = `${rate(count, ms)} (${count.toLocaleString('en-US')} pins in ${secs(ms)}${complete ? '' : `, expected ${expected.toLocaleString('en-US')}`}${detail === undefined ? '' : `; ${detail}`})`
    row(metric, value, target, targetRate === undefined ? (complete ? undefined : false) : complete && count / (ms / 1000) >= targetRate)
  } catch (err) {
    const ms = performance.now() - t0
    row(metric, `failed after ${secs(ms)}, ${seen.n.toLocaleString('en-US')} pins read by then (${rate(seen.n, ms)}): ${(err as Error).message}`, target, false)
  }
}

async function kuboPinLs (peer: TestPeer, query: string, signal: AbortSignal, seen: { n: number }): Promise<{ count: number }> {
  const res = await fetch(`${peer.proc.proxyUrl}/api/v0/pin/ls?${query}`, { method: 'POST', signal })
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`)
  // One `"Type"` per pin in both shapes: `{"Cid":…,"Type":…}` lines, or `{"Keys":{"<cid>":{"Type":…}}}`.
  const count = await countIn(res.body, '"Type"', seen)
  const error = res.headers.get('x-stream-error')
  if (error !== null && error !== '') throw new Error(`stream error: ${error}`)
  return { count }
}

/**
 * `GET /pins` of the admin API walked to its end: page by page (`limit` and the cursor of the next
 * page from a response header whose name contains "cursor", or a `Link: <…>; rel="next"`), or as
 * one answer where the daemon does not page.
 */
async function adminPinsWalk (peer: TestPeer, limit: number, signal: AbortSignal, seen: { n: number }): Promise<{ count: number, detail: string }> {
  let count = 0
  let pages = 0
  let url: string | undefined = `${peer.proc.apiUrl}/pins?limit=${limit}`
  while (url !== undefined) {
    const at: string = url
    const res = await fetch(at, { signal })
    if (!res.ok) throw new Error(`HTTP ${res.status} on page ${pages + 1}: ${(await res.text()).slice(0, 300)}`)
    count += await countIn(res.body, '\n', seen)
    pages++
    url = undefined
    for (const [name, value] of res.headers) {
      if (/cursor/i.test(name) && value !== '') url = `${peer.proc.apiUrl}/pins?limit=${limit}&cursor=${encodeURIComponent(value)}`
    }
    const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.headers.get('link') ?? '')
    if (url === undefined && next !== null) url = new URL(next[1] as string, at).toString()
  }
  return { count, detail: pages === 1 ? 'one answer: the daemon does not page' : `${pages} pages of ${limit}` }
}

/** `n` CIDs in chunks of `size`, made as they are asked for, so that the bench never holds them all. */
async function * cidChunks (n: number, size: number, seed: string): AsyncGenerator<string[]> {
  for (let from = 0, i = 0; from < n; from += size, i++) yield await makeCids(Math.min(size, n - from), `${seed}-${i}`)
}

async function tenMillion (): Promise<void> {
  const N = TEN_M
  const label = N === 10_000_000 ? '10M' : `${(N / 1e6).toString()}M`
  const secret = newSecret()
  const env = { NODE_OPTIONS: `--max-old-space-size=${envInt('PINSET_BENCH_HEAP_MB', 3072)}` }
  const peers: Array<[string, TestPeer]> = []
  let kubo: KuboDaemon | undefined
  let acknowledged = 0
  const step = async <T>(what: string, p: () => Promise<T>): Promise<T | undefined> => {
    try { return await guard(peers, p()) } catch (err) {
      row(`${label} pins: ${what}`, `failed after ${acknowledged.toLocaleString('en-US')} pins written, ${secs(Date.now() - startedAt.getTime())} into the run: ${(err as Error).message}`, '', false)
      return undefined
    }
  }
  note(`${label} rows: every pin allocated (replication 1, userAllocations) to a third "holder" peer without Kubo that is not measured; ` +
    'the writer and the new peer share one real, empty Kubo (pin/ls on the proxy port lists it) and their trackers have nothing to do')
  try {
    kubo = await startKubo()
    const holder = await startHolder(secret, 6144)
    peers.push(['the holder', holder])
    const w = peerOf(await startPinmesh({ secret, env, kuboApi: kubo.apiMultiaddr, bootstrap: holder.proc.swarmAddrs }))
    peers.push(['the writer', w])
    await connected(w, holder)

    const t0 = Date.now()
    let sending = 0
    const written = await step('writing', async () => {
      for await (const chunk of cidChunks(N, 100_000, 'ten-million')) {
        const body = requests(chunk, holder)
        const s0 = performance.now()
        acknowledged += await w.admin.pinMany(body)
        sending += performance.now() - s0
        if (acknowledged % 1_000_000 === 0) console.log(`  ${acknowledged.toLocaleString('en-US')} pins written, ${secs(Date.now() - t0)}; writer RSS ${mib(await w.proc.rss())}, peak ${mib(await w.proc.peakRss())}; load ${load()}`)
      }
      return true
    })
    if (written === undefined) return
    const writeMs = Date.now() - t0
    row(`${label} pins written at one peer (bulk requests of 100k)`, `${secs(sending)} in the requests (${rate(N, sending)}); ${secs(writeMs)} with making the CIDs between them`, '(info)')
    await memoryRows(`${label} pins: the writing peer, right after`, w, 2e9, '≤ 2 GB')
    const held = await step('the holder converges', async () => { await waitForPinCount(holder.admin, N, 1_800_000); return true })
    if (held === undefined) return
    row(`${label} pins: converged at the holder, from the first write`, secs(Date.now() - t0), '(info)')
    await memoryRows(`${label} pins: the writing peer, once the holder has every pin`, w, 2e9, '≤ 2 GB')

    const t1 = Date.now()
    const joiner = peerOf(await startPinmesh({ secret, env, kuboApi: kubo.apiMultiaddr, bootstrap: w.proc.swarmAddrs }))
    peers.push(['the new peer', joiner])
    const caught = await step('a new peer catches up', async () => { await waitForPinCount(joiner.admin, N, 1_800_000); return true })
    if (caught !== undefined) {
      const ms = Date.now() - t1
      row(`${label} pins: a new peer catches up (start to every pin)`, secs(ms), '≤ 5 min', ms <= 300_000)
    }
    await memoryRows(`${label} pins: the new peer`, joiner, 2e9, '≤ 2 GB')
    if (caught === undefined) return

    // pin/ls lists the Kubo's own pins too: `ipfs init` pins the empty directory.
    const own = (await kubo.cli(['pin', 'ls', '--type=recursive', '--quiet'])).stdout.split('\n').filter(l => l !== '').length
    await walkRow(`${label} pins: pin/ls?type=recursive&stream=true on the proxy port, whole answer`, N + own, 200_000,
      async (signal, seen) => await guard(peers, kuboPinLs(joiner, 'type=recursive&stream=true', signal, seen)))
    await walkRow(`${label} pins: pin/ls?type=recursive (not streamed) on the proxy port, whole answer`, N + own, 200_000,
      async (signal, seen) => await guard(peers, kuboPinLs(joiner, 'type=recursive', signal, seen)))
    await memoryRows(`${label} pins: the new peer after the pin/ls calls`, joiner, 2e9, '≤ 2 GB', ['peak'])
    await walkRow(`${label} pins: GET /allocations (admin API, NDJSON), whole answer`, N, undefined,
      async (signal, seen) => {
        const res = await fetch(`${w.proc.apiUrl}/allocations`, { signal })
        if (!res.ok) throw new Error(`HTTP ${res.status}`)
        return { count: await countIn(res.body, '\n', seen) }
      })
    await walkRow(`${label} pins: GET /pins (admin API) walked page by page, limit 10000`, N, 200_000,
      async (signal, seen) => await guard(peers, adminPinsWalk(w, 10_000, signal, seen)))
    for (const [name, p] of peers) {
      const holds = name === 'the holder'
      await memoryRows(`${label} pins: ${name} at the end${holds ? ' (not a target)' : ''}`, p, holds ? Infinity : 2e9, holds ? '(info)' : '≤ 2 GB', ['peak'])
    }
  } finally {
    await Promise.all(peers.map(async ([, p]) => { await p.proc.destroy() }))
    await kubo?.destroy()
  }
}

const startedAt = new Date()
const env = { machine: machine(), loadAtStart: load() }
console.log(`pinset bench ${[...PARTS].join(', ')} at ${startedAt.toISOString()}: ${JSON.stringify(env.machine)}; load average ${env.loadAtStart}`)
if (PARTS.has('latency')) await convergence()
if (PARTS.has('1m')) await million()
if (PARTS.has('10m')) await tenMillion()
const loadAtEnd = load()
await mkdir(new URL('./out/', import.meta.url), { recursive: true })
await writeFile(new URL('./out/pinset.json', import.meta.url), JSON.stringify({ date: startedAt.toISOString(), parts: [...PARTS], ...env, loadAtEnd, notes, rows }, null, 2))
console.log(`\nstarted ${startedAt.toISOString()}, ended ${new Date().toISOString()}; ${env.machine.cores as number} cores (${env.machine.cpu as string}), ${env.machine.memory as string}, Node ${process.version}, commit ${env.machine.commit as string}`)
console.log(`load average (1, 5, 15 min): ${env.loadAtStart} at start, ${loadAtEnd} at end`)
for (const n of notes) console.log(`- ${n}`)
console.log('\n| metric | value | target | |\n|---|---|---|---|')
for (const r of rows) console.log(`| ${r.metric} | ${r.value} | ${r.target} | ${r.ok === undefined ? '' : r.ok ? 'PASS' : 'MISS'} |`)
