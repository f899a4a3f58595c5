// Walks of a big pinset (issue 12 item 3): how long the event loop stalls while the whole pinset
// is walked, the old way (one synchronous list()) and through scan() a batch at a time, in one
// process, on a real on-disk pinset.
//   tsx bench/walk.bench.ts            (WALK_BENCH_N pins, default 200000)
// Prints a table and writes bench/out/walk.json.
import '../src/polyfills.js'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { ShardedPinSet } from '../src/pinset/index.js'
import type { PinSet } from '../src/pinset/index.js'
import { StatelessTracker } from '../src/tracker/index.js'
import { reconcile } from '../src/tracker/reconcile.js'
import type { PinRecord } from '../src/types.js'
import { makeCids } from '../test/fixtures/cids.js'
import { FakeKubo } from '../test/fixtures/fake-kubo.js'

const N = Number(process.env.WALK_BENCH_N ?? 200_000)
const logger = pino({ level: 'silent' })
const rows: Array<{ pinset: string, walk: string, pins: number, batches: number, ms: number, maxStallMs: number }> = []

/** Runs `walk` while measuring the longest gap between two runs of a 1 ms timer chain (the event-loop stall). */
async function measure (pinset: string, walk: string, fn: () => Promise<{ pins: number, batches: number }>): Promise<void> {
  let last = performance.now()
  let maxGap = 0
  let timer: NodeJS.Timeout | undefined
  const tick = (): void => { const t = performance.now(); maxGap = Math.max(maxGap, t - last); last = t; timer = setTimeout(tick, 1) }
  timer = setTimeout(tick, 1)
  await new Promise(resolve => setTimeout(resolve, 5))
  const t0 = performance.now()
  const { pins, batches } = await fn()
  const ms = performance.now() - t0
  // Lets a stall at the very end be sampled.
  await new Promise(resolve => setTimeout(resolve, 5))
  clearTimeout(timer)
  const maxStallMs = Math.max(0, maxGap - 1)
  rows.push({ pinset, walk, pins, batches, ms: Math.round(ms), maxStallMs: Math.round(maxStallMs) })
  console.log(`${pinset} ${walk}: ${pins} pins in ${batches} batches, ${ms.toFixed(0)} ms, longest event-loop stall ${maxStallMs.toFixed(0)} ms`)
}

function record (cid: string): PinRecord {
  return { cid, name: '', mode: 'recursive', replicationMin: -1, replicationMax: -1, allocations: [], metadata: {}, createdAt: 1, updatedAt: 1, updatedBy: 'bench' }
}

async function walks (name: string, pinset: PinSet & { list?: () => Iterable<PinRecord> }, cids: string[]): Promise<void> {
  for (let i = 0; i < cids.length; i += 10_000) await pinset.put(cids.slice(i, i + 10_000).map(record))
  if (pinset.list !== undefined) {
    const list = pinset.list.bind(pinset)
    await measure(name, 'list() (the old walk)', async () => ({ pins: [...list()].length, batches: 1 }))
    // The synchronous part of the old recover pass: reconcile over list() in one go.
    const held = new Map(cids.map(c => [c, 'recursive' as const]))
    await measure(name, 'reconcile(list()) (the old recover pass)', async () => { reconcile({ pins: list(), self: 'bench', kubo: held, busy: new Set() }); return { pins: pinset.size, batches: 1 } })
  }
  let scanBatches = 0
  await measure(name, 'scan()', async () => {
    let pins = 0
    for await (const b of pinset.scan()) { pins += b.length; scanBatches++ }
    return { pins, batches: scanBatches }
  })
  // The tracker's recover pass with every pin held by Kubo already (nothing to queue): the walk alone.
  const kubo = new FakeKubo()
  for (const cid of cids) kubo.pins.set(cid, { type: 'recursive' })
  // Kubo's pin listing arrives over HTTP in chunks; the fake's comes in one go of microtasks, which
  // would stall the loop by itself: a turn of the loop every 1000 pins, as network reads give.
  const pinLs = kubo.pinLs.bind(kubo)
  kubo.pinLs = async function * (o) { let i = 0; for await (const p of pinLs(o)) { if (++i % 1000 === 0) await new Promise(resolve => setImmediate(resolve)); yield p } }
  const tracker = new StatelessTracker({ kubo, pinset, self: 'bench', logger }, { concurrentPins: 1, maxQueueSize: 1, recoverIntervalMs: 3600_000, retryMinMs: 1000, retryMaxMs: 1000, priorityMaxAgeMs: 1000, priorityMaxRetries: 1, pinTimeoutMs: 1000 })
  await tracker.start()
  await measure(name, 'tracker.recoverAll()', async () => { await tracker.recoverAll(); return { pins: pinset.size, batches: scanBatches } })
  await measure(name, 'tracker.statusAll()', async () => {
    let pins = 0
    let batches = 0
    for await (const b of tracker.statusAll()) { pins += b.length; batches++ }
    return { pins, batches }
  })
  await tracker.stop()
}

const cids = await makeCids(N, 'walk-bench')
const dir = await mkdtemp(join(tmpdir(), 'pinmesh-walk-bench-'))
try {
  const sharded = new ShardedPinSet({ logger }, { dir: join(dir, 'sharded'), trusted: true })
  await sharded.start()
  await walks('ShardedPinSet (1024 shards)', sharded, cids)
  await sharded.stop()
} finally {
  await rm(dir, { recursive: true, force: true })
}
await mkdir(new URL('./out/', import.meta.url), { recursive: true })
await writeFile(new URL('./out/walk.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), n: N, rows }, null, 2))
