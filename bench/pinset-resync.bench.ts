// Pinset catch-up benchmark (issue 12, sync protocol 3): pinmesh peers as separate processes on 127.0.0.1.
//   npm run bench:resync     (RESYNC_PINS=100000, RESYNC_AWAY_PINS=1000, RESYNC_AWAY_MS=60000 by default)
// 1. a returning peer: b is stopped while a takes RESYNC_AWAY_PINS pins over RESYNC_AWAY_MS; then b restarts and
//    catches up. Reported: b's catch-up bytes (both ways) against the whole pinset state.
// 2. a late joiner: c starts empty and catches up the whole pinset. Reported: its time and bytes.
import '../src/polyfills.js'
import { setTimeout as sleep } from 'node:timers/promises'
import { startPinmesh } from '../test/fixtures/pinmesh.js'
import { startCluster, peerOf, waitForPinCount, type TestPeer } from '../test/fixtures/cluster.js'
import { makeCids } from '../test/fixtures/cids.js'

const PINS = Number(process.env.RESYNC_PINS ?? 100_000)
const AWAY_PINS = Number(process.env.RESYNC_AWAY_PINS ?? 1000)
const AWAY_MS = Number(process.env.RESYNC_AWAY_MS ?? 60_000)
const ARGS = (process.env.RESYNC_ARGS ?? '').split(' ').filter(a => a !== '')

const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`
const catchUp = (s: Record<string, number>): string =>
  `sync in ${kib(s.syncBytesIn ?? 0)}, out ${kib(s.syncBytesOut ?? 0)}, gossip in ${kib(s.gossipBytesIn ?? 0)}; exchanges ${s.syncRounds ?? '?'}/${s.syncs ?? 0}, shards synced ${s.shardsSynced ?? '?'}`

const peers = await startCluster(2, { args: ARGS })
const others: TestPeer[] = []
try {
  const [a, b] = [peers[0], peers[1]] as [TestPeer, TestPeer]
  const cids = await makeCids(PINS + AWAY_PINS, 'resync')
  for (let i = 0; i < PINS; i += 10_000) await a.admin.pinMany(cids.slice(i, Math.min(PINS, i + 10_000)))
  await waitForPinCount(b.admin, PINS, 300_000)
  const whole = await a.admin.pinsetStats()
  console.log(`${PINS} pins on a and b; a's pinset state ${kib((whole.stateBytes ?? 0) + (whole.logBytes ?? 0))} on disk (state + log)`)

  await b.proc.stop()
  const t0 = Date.now()
  for (let i = 0; i < AWAY_PINS; i++) {
    await a.admin.pin(cids[PINS + i] as string)
    const due = t0 + (i + 1) * AWAY_MS / AWAY_PINS
    if (due > Date.now()) await sleep(due - Date.now())
  }
  console.log(`b away ${((Date.now() - t0) / 1000).toFixed(1)} s while a took ${AWAY_PINS} pins`)
  const t1 = Date.now()
  await b.proc.restart()
  await waitForPinCount(b.admin, PINS + AWAY_PINS, 300_000)
  const back = Date.now() - t1
  // Let the exchanges that brought it end, so that their bytes count.
  await sleep(2000)
  console.log(`returning peer: caught up in ${back} ms (restart included); ${catchUp(await b.admin.pinsetStats())}`)

  const t2 = Date.now()
  const c = peerOf(await startPinmesh({ secret: peers.secret, bootstrap: a.proc.swarmAddrs, args: ARGS }))
  others.push(c)
  const started = Date.now()
  await waitForPinCount(c.admin, PINS + AWAY_PINS, 600_000)
  const done = Date.now()
  await sleep(2000)
  console.log(`late joiner: ${PINS + AWAY_PINS} pins in ${done - started} ms after its start (${done - t2} ms with the start); ${catchUp(await c.admin.pinsetStats())}`)
} finally {
  await Promise.all([...peers, ...others].map(async p => { await p.proc.destroy() }))
}
