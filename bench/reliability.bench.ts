// Reliability suites (issue 7), long versions of test/reliability/*.test.ts: each starts real Kubo daemons and
// pinmesh peers, injects its faults under traffic and prints what it tried and what it found.
// Run: npm run build && node --import tsx bench/reliability.bench.ts [suite…]   (no suite: all of them)
// Figures go to stdout as tables and to bench/out/reliability-<suite>.json; the exit code is 1 if a suite found a problem.
import '../src/polyfills.js'
import '../src/pnet-fix.js'
import { mkdir, writeFile } from 'node:fs/promises'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { crashScenario, crashSummary } from '../test/reliability/crash.scenario.js'
import { pauseScenario, pauseSummary } from '../test/reliability/pause.scenario.js'
import { kuboDeathScenario, kuboDeathSummary } from '../test/reliability/kubo-death.scenario.js'
import { runLoad, loadSummary } from '../test/reliability/load.scenario.js'
import { badInputScenario, badInputSummary, RSS_GROWTH_BOUND, RSS_PEAK_BOUND, SLOW_LORIS_BOUND_MS } from '../test/reliability/bad-input.scenario.js'
import { randomInt } from 'node:crypto'

const HERE = dirname(fileURLToPath(import.meta.url))
const log = (line: string): void => { console.log(`  ${line}`) }

type Figures = Record<string, unknown>

/** One suite: runs its scenario and says what it found. */
export interface Suite {
  name: string
  run: () => Promise<{ figures: Figures, summary: string, problems: string[] }>
}

/** A suite from a scenario, a one-line summary for the reader and the problems it found (none: it passed). */
export function suite<F extends object> (name: string, run: () => Promise<F>, summary: (f: F) => string, problems: (f: F) => string[]): Suite {
  return {
    name,
    run: async () => {
      const f = await run()
      return { figures: { ...f } as Figures, summary: summary(f), problems: problems(f) }
    }
  }
}

/** The checks every suite that tracks pins shares. */
function pinProblems (f: { pinsLost: number, unpinsResurrected: number, phantoms: number, kuboPinsMissing: number, kuboUnpinsLeft: number, convergedMs: number }): string[] {
  const out: string[] = []
  if (f.pinsLost > 0) out.push(`${f.pinsLost} acknowledged pins lost`)
  if (f.unpinsResurrected > 0) out.push(`${f.unpinsResurrected} acknowledged unpins back`)
  if (f.phantoms > 0) out.push(`${f.phantoms} pins nobody made`)
  if (f.kuboPinsMissing > 0) out.push(`${f.kuboPinsMissing} pins missing on their allocated Kubos`)
  if (f.kuboUnpinsLeft > 0) out.push(`${f.kuboUnpinsLeft} acknowledged unpins still on a Kubo`)
  if (f.convergedMs > 10_000) out.push(`converged in ${f.convergedMs} ms (> 10 s)`)
  return out
}

export const suites: Suite[] = [
  suite('crash', async () => await crashScenario({ durationMs: 60_000, faultIntervalMs: 4000, concurrency: 6, poolSize: 300, log }), crashSummary, pinProblems),
  suite('pause', async () => await pauseScenario({ pauseMs: 30_000, preload: 100, quietMs: 10_000, log }), pauseSummary, (f) => [
    ...pinProblems(f),
    ...(f.moved > f.preloadedOnVictim ? [`${f.moved} pins moved, only ${f.preloadedOnVictim} had the paused peer`] : []),
    ...(f.rewrittenWithoutCause > 0 ? [`${f.rewrittenWithoutCause} pins rewritten without cause`] : []),
    ...(f.quietPinsetChanges + f.quietKuboChanges > 0 ? [`churn after settling: ${f.quietPinsetChanges} pinset, ${f.quietKuboChanges} kubo`] : [])
  ]),
  // Issue 11 item 9: a slow peer is not a dead peer. 60 s of traffic while CPU busy loops starve every peer.
  suite('slow-peer', async () => await pauseScenario({ pauseMs: 0, trafficMs: 60_000, burners: 10, niceness: 10, spreadPairs: true, preload: 60, quietMs: 10_000, log }), pauseSummary, (f) => [
    ...pinProblems(f),
    ...(f.moved + f.rewritten > 0 ? [`${f.moved} pins moved, ${f.rewritten} rewritten, though no peer was paused or killed`] : []),
    ...(f.quietPinsetChanges + f.quietKuboChanges > 0 ? [`churn after settling: ${f.quietPinsetChanges} pinset, ${f.quietKuboChanges} kubo`] : [])
  ]),
  suite('kubo-death', async () => await kuboDeathScenario({ downMs: 30_000, preload: 100, removeOffline: 20, log }), kuboDeathSummary, (f) => [
    ...pinProblems(f),
    ...(f.otherAnswers > 0 ? [`${f.otherAnswers} forwarded calls not failing Kubo-shaped: ${f.otherSamples.join('; ')}`] : []),
    ...(f.healthFailures > 0 ? [`${f.healthFailures} admin health checks failed`] : []),
    ...(!f.victimAlive ? ['pinmesh exited'] : []),
    ...(f.restoredMs < 0 || f.removedOffline < 0 ? ['pins of the peer not all pinned again'] : [])
  ]),
  suite('bad-input', async () => {
    const seed = process.env.BAD_INPUT_SEED !== undefined ? Number(process.env.BAD_INPUT_SEED) : randomInt(2 ** 31)
    log(`seed ${seed} (BAD_INPUT_SEED=${seed} replays this run)`)
    return await badInputScenario({ requests: 20_000, seed, concurrency: 6, slowLorisPerPort: 16, log })
  }, badInputSummary, (f) => [
    ...(f.faults > 0 ? [`${f.faults} wrong answers (seed ${f.seed}): ${f.faultSamples.slice(0, 5).join('; ')}`] : []),
    ...(f.pinsetChanges > 0 ? [`the pinset changed (${f.pinsetChanges})`] : []),
    ...(!f.alive ? ['pinmesh did not survive'] : []),
    ...(f.slowLorisClosed < f.slowLoris || f.slowLorisMaxMs >= SLOW_LORIS_BOUND_MS ? [`slow-loris: ${f.slowLorisClosed}/${f.slowLoris} closed, slowest ${f.slowLorisMaxMs} ms`] : []),
    ...(f.rssAfter - f.rssBefore >= RSS_GROWTH_BOUND || f.rssPeak - f.rssBefore >= RSS_PEAK_BOUND ? [`RSS grew ${f.rssAfter - f.rssBefore} (peak +${f.rssPeak - f.rssBefore}) bytes`] : [])
  ]),
  suite('load', async () => await runLoad({ clients: 64, durationMs: 60_000, clusterArgs: ['--metrics-interval', '500ms', '--metrics-ttl', '5s', '--log-level', 'error'], log }), loadSummary, (f) => [
    ...(f.errors > 0 ? [`${f.errors} failed calls: ${f.errorSamples.join('; ')}`] : []),
    ...(f.pins.lostFromPinset + f.pins.lostFromKubo + f.pins.resurrected > 0 ? [`pins lost ${f.pins.lostFromPinset} (pinset) / ${f.pins.lostFromKubo} (Kubo), unpins undone ${f.pins.resurrected}: ${f.pins.samples.join('; ')}`] : [])
  ])
]

function table (rows: Array<[string, string]>): string {
  const w = Math.max(...rows.map(([k]) => k.length))
  return rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`).join('\n')
}

const wanted = process.argv.slice(2)
const unknown = wanted.filter(n => !suites.some(s => s.name === n))
if (unknown.length > 0) {
  console.error(`unknown suite(s): ${unknown.join(', ')}; known: ${suites.map(s => s.name).join(', ')}`)
  process.exit(2)
}
const chosen = wanted.length === 0 ? suites : suites.filter(s => wanted.includes(s.name))
await mkdir(join(HERE, 'out'), { recursive: true })
const verdicts: Array<[string, string]> = []
for (const s of chosen) {
  console.log(`\n== ${s.name}`)
  const started = Date.now()
  let result: Awaited<ReturnType<Suite['run']>>
  try {
    result = await s.run()
  } catch (err) {
    verdicts.push([s.name, `ERROR ${(err as Error).message}`])
    console.log(`  failed: ${(err as Error).stack ?? String(err)}`)
    continue
  }
  const wallMs = Date.now() - started
  console.log(table([...Object.entries(result.figures).map(([k, v]): [string, string] => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]), ['wall time', `${(wallMs / 1000).toFixed(1)} s`]]))
  console.log(result.summary)
  await writeFile(join(HERE, 'out', `reliability-${s.name}.json`), JSON.stringify({ suite: s.name, at: new Date().toISOString(), wallMs, figures: result.figures }, null, 2))
  verdicts.push([s.name, result.problems.length === 0 ? 'ok' : `FAILED: ${result.problems.join('; ')}`])
}
console.log('\n== verdict')
console.log(table(verdicts))
process.exitCode = verdicts.every(([, v]) => v === 'ok') ? 0 : 1
