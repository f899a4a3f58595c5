// Pin ingest benchmark (issue 4): 10,000 CIDs of small blocks present on one Kubo, pinned through
// pinmesh's pin/add (committed mode) on a 3-peer cluster with replication 3, against the same
// 10,000 pin/add calls sent straight to 3 Kubos. Run: npm run bench:pins
import '../src/polyfills.js'
import { mkdir, writeFile } from 'node:fs/promises'
import { request, Agent } from 'undici'
import { startKubos, type KuboDaemon } from '../test/fixtures/kubo.js'
import { startCluster, waitForMesh } from '../test/fixtures/cluster.js'

const N = Number(process.env.PINS_BENCH_N ?? 10_000)
const CONCURRENCY = Number(process.env.PINS_BENCH_CONCURRENCY ?? 32)
/** Extra pinmesh flags for a run, e.g. PINS_BENCH_ARGS='--tracker-concurrent-pins 32'. */
const EXTRA_ARGS = (process.env.PINS_BENCH_ARGS ?? '').split(' ').filter(a => a !== '')
const agent = new Agent({ connections: CONCURRENCY * 2 })

async function post (url: string): Promise<string> {
  const r = await request(url, { method: 'POST', dispatcher: agent })
  const body = await r.body.text()
  if (r.statusCode !== 200) throw new Error(`${url}: ${r.statusCode} ${body}`)
  return body
}

/** Puts N small raw blocks into one Kubo (multipart block/put, 1,000 per request). */
async function putBlocks (kubo: KuboDaemon, seed: string): Promise<string[]> {
  const cids: string[] = []
  for (let i = 0; i < N; i += 1000) {
    const boundary = 'benchboundary'
    const parts: string[] = []
    for (let j = i; j < Math.min(N, i + 1000); j++) parts.push(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename=""\r\nContent-Type: application/octet-stream\r\n\r\n${seed} block ${j}\r\n`)
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

async function allPinned (kubos: KuboDaemon[], base: number[]): Promise<void> {
  for (;;) {
    const counts = await Promise.all(kubos.map(recursivePins))
    if (counts.every((c, i) => c - (base[i] ?? 0) >= N)) return
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}

const results: Record<string, number> = {}

// Direct: the same N pin/add calls to each of 3 Kubos (the blocks are on the first one only).
{
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

// Through pinmesh: N pin/add calls to one peer's proxy, committed mode, replication 3.
{
  const kubos = await startKubos(3)
  // Default settings, except metrics fast enough for the three peers to see each other at once.
  const peers = await startCluster(3, { kuboApis: kubos.map(k => k.apiMultiaddr), args: ['--metrics-interval', '500ms', '--metrics-ttl', '5s', '--log-level', 'error', ...EXTRA_ARGS] })
  try {
    await waitForMesh(peers)
    const cids = await putBlocks(kubos[0] as KuboDaemon, 'pinmesh')
    const base = await Promise.all(kubos.map(recursivePins))
    const proxy = peers[0]?.proc.proxyUrl as string
    const t0 = performance.now()
    await pool(cids, CONCURRENCY, async cid => { await post(`${proxy}/api/v0/pin/add?arg=${cid}&replication=3&wait=committed`) })
    results.committedMs = performance.now() - t0
    await allPinned(kubos, base)
    results.pinmeshAllPinnedMs = performance.now() - t0
  } finally {
    await Promise.all(peers.map(async p => { await p.proc.destroy() }))
    await Promise.all(kubos.map(async k => { await k.destroy() }))
  }
}

const committedPerSec = N / ((results.committedMs as number) / 1000)
const ratio = (results.pinmeshAllPinnedMs as number) / (results.directAllPinnedMs as number)
const rows = [
  ['committed pins per second (pin/add, committed mode)', committedPerSec.toFixed(0), '≥ 1000/s', committedPerSec >= 1000],
  [`all ${N} pinned on 3 Kubos, direct pin/add to each`, `${((results.directAllPinnedMs as number) / 1000).toFixed(2)} s`, '', undefined],
  [`all ${N} pinned on 3 Kubos, through pinmesh`, `${((results.pinmeshAllPinnedMs as number) / 1000).toFixed(2)} s`, '', undefined],
  ['pinmesh / direct time', ratio.toFixed(2), '≤ 1.2', ratio <= 1.2]
] as const
console.log('| metric | value | target | |\n|---|---|---|---|')
for (const [m, v, tgt, ok] of rows) console.log(`| ${m} | ${v} | ${tgt} | ${ok === undefined ? '' : ok ? 'PASS' : 'MISS'} |`)
await mkdir(new URL('./out/', import.meta.url), { recursive: true })
await writeFile(new URL('./out/pins.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), n: N, concurrency: CONCURRENCY, args: EXTRA_ARGS, results }, null, 2))
await agent.close()
