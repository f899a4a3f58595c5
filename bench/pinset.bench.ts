// Pinset replication benchmark (issue 3): pinmesh peers as separate processes on 127.0.0.1.
//   npm run bench:pinset            (1M scale included; PINSET_BENCH_BIG=0 skips it, PINSET_BENCH_BIG=only runs only it)
// Prints a table and writes bench/out/pinset.json.
import '../src/polyfills.js'
import { mkdir, writeFile } from 'node:fs/promises'
import { startPinmesh, newSecret } from '../test/fixtures/pinmesh.js'
import { startCluster, peerOf, waitForPinCount, type TestPeer } from '../test/fixtures/cluster.js'
import { makeCids } from '../test/fixtures/cids.js'

const BIG = process.env.PINSET_BENCH_BIG !== '0'
const ONLY_BIG = process.env.PINSET_BENCH_BIG === 'only'
const rows: Array<{ metric: string, value: string, target: string, ok: boolean | undefined }> = []
const row = (metric: string, value: string, target: string, ok?: boolean): void => { rows.push({ metric, value, target, ok }); console.log(`${metric}: ${value} (target ${target})${ok === undefined ? '' : ok ? ' PASS' : ' MISS'}`) }
const pct = (xs: number[], p: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))] as number }

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
    await peers[0]?.admin.pinMany(bulk)
    await Promise.all(peers.map(async p => { await waitForPinCount(p.admin, 100_300, 120_000) }))
    const ms = Date.now() - t1
    row('100k pins written at one peer, converged on 3', `${(ms / 1000).toFixed(2)} s`, '≤ 5 s', ms <= 5000)
  } finally {
    await Promise.all(peers.map(async p => { await p.proc.destroy() }))
  }
}

async function million (): Promise<void> {
  const secret = newSecret()
  const env = { NODE_OPTIONS: '--max-old-space-size=4096' }
  const a = peerOf(await startPinmesh({ secret, env }))
  const peers: TestPeer[] = [a]
  try {
    const cids = await makeCids(1_000_000, 'million')
    const t0 = Date.now()
    for (let i = 0; i < cids.length; i += 100_000) await a.admin.pinMany(cids.slice(i, i + 100_000))
    row('1M pins written at one peer', `${((Date.now() - t0) / 1000).toFixed(1)} s`, '(info)')
    const rss = await a.proc.rss()
    row('1M pins: RSS of the writing peer', `${(rss / 1048576).toFixed(0)} MiB`, '≤ 400 MB', rss <= 400e6)
    await a.proc.stop()
    const t1 = Date.now()
    await a.proc.restart()
    const restart = Date.now() - t1
    row('1M pins: cold restart to serving', `${(restart / 1000).toFixed(2)} s`, '≤ 5 s', restart <= 5000)
    const rss2 = await a.proc.rss()
    row('1M pins: RSS after restart', `${(rss2 / 1048576).toFixed(0)} MiB`, '≤ 400 MB', rss2 <= 400e6)
    const t2 = Date.now()
    const late = peerOf(await startPinmesh({ secret, bootstrap: a.proc.swarmAddrs, env }))
    peers.push(late)
    await waitForPinCount(late.admin, 1_000_000, 300_000)
    const join = Date.now() - t2
    row('1M pins: late joiner catches up', `${(join / 1000).toFixed(1)} s`, '≤ 30 s', join <= 30_000)
    const lateRss = await late.proc.rss()
    row('1M pins: RSS of the late joiner', `${(lateRss / 1048576).toFixed(0)} MiB`, '≤ 400 MB', lateRss <= 400e6)
  } finally {
    await Promise.all(peers.map(async p => { await p.proc.destroy() }))
  }
}

if (!ONLY_BIG) await convergence()
if (BIG) await million()
await mkdir(new URL('./out/', import.meta.url), { recursive: true })
await writeFile(new URL('./out/pinset.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), rows }, null, 2))
console.log('\n| metric | value | target | |\n|---|---|---|---|')
for (const r of rows) console.log(`| ${r.metric} | ${r.value} | ${r.target} | ${r.ok === undefined ? '' : r.ok ? 'PASS' : 'MISS'} |`)
