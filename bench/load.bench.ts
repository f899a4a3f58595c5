// Load benchmark (issue 7, deliverable 6), the long version of test/reliability/load.test.ts: 64 concurrent
// Kubo-API clients for 60 s of mixed forwarded and intercepted calls on a 3-peer cluster (3 pinmesh
// processes, each with its own Kubo). Prints requests, errors, p50/p99 per call kind and overall, and the
// pins checked afterwards; raw figures go to bench/out/load-*.json.
// Run (after a build): node --import tsx bench/load.bench.ts
// Env knobs: LOAD_CLIENTS (64), LOAD_DURATION_S (60).
import '../src/polyfills.js'
import '../src/pnet-fix.js'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { availableParallelism, cpus, totalmem } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { KUBO_VERSION } from '../test/fixtures/kubo.js'
import { runLoad, formatLoadTable, loadSummary } from '../test/reliability/load.scenario.js'

const clients = Number(process.env.LOAD_CLIENTS ?? 64)
const durationS = Number(process.env.LOAD_DURATION_S ?? 60)
if (!Number.isInteger(clients) || clients <= 0 || !(durationS > 0)) throw new Error('LOAD_CLIENTS and LOAD_DURATION_S must be positive')

const loadavg = async (): Promise<string> => (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')
const log = (m: string): void => { process.stderr.write(`[bench] ${m}\n`) }

const load0 = await loadavg()
const f = await runLoad({
  clients,
  durationMs: durationS * 1000,
  // Default settings, except metrics fast enough for the peers to see each other at once, and quiet logs
  // (the fixture keeps every line a peer prints).
  clusterArgs: ['--metrics-interval', '500ms', '--metrics-ttl', '5s', '--log-level', 'error'],
  log
})
const load1 = await loadavg()

process.stdout.write(`\n${formatLoadTable(f)}\n\n${loadSummary(f)}\n`)
if (f.errorSamples.length > 0) process.stdout.write(`first errors:\n${f.errorSamples.map(s => `  ${s}`).join('\n')}\n`)
if (f.pins.samples.length > 0) process.stdout.write(`pin check failures:\n${f.pins.samples.map(s => `  ${s}`).join('\n')}\n`)
process.stdout.write(`machine: ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, Kubo ${KUBO_VERSION}; load average ${load0} -> ${load1}\n`)

const date = new Date().toISOString()
const outDir = join(dirname(fileURLToPath(import.meta.url)), 'out')
await mkdir(outDir, { recursive: true })
const result = { date, machine: { nproc: availableParallelism(), cpu: cpus()[0]?.model, totalMemBytes: totalmem(), node: process.version, kubo: KUBO_VERSION }, loadavgStart: load0, loadavgEnd: load1, figures: f }
await writeFile(join(outDir, `load-${date.replace(/[:.]/g, '-')}.json`), JSON.stringify(result, null, 2) + '\n')
// Errors or lost pins are a failed run, unlike a slow one.
if (f.errors > 0 || f.pins.lostFromPinset + f.pins.lostFromKubo + f.pins.resurrected > 0) process.exitCode = 1
