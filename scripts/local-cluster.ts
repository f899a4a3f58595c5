// `npm run cluster`: a 3-peer pinmesh cluster on this machine, each peer with its own Kubo, all on
// 127.0.0.1. Builds pinmesh if src/ changed, installs the pinned Kubo (scripts/install-kubo.sh),
// keeps everything under .pinmesh-local/ (reused by the next run), and stops every process it
// started on Ctrl-C (SIGINT) or SIGTERM: the pinmesh daemons first, then the Kubos.
//
// Environment:
//   PINMESH_LOCAL_DIR        data directory (default <repo>/.pinmesh-local)
//   PINMESH_LOCAL_BASE_PORT  peer N (1..3) uses admin BASE+100(N-1), proxy +1, swarm +2 (default 9094)
//   KUBO_BINARY              a Kubo v0.42.0 binary to use instead of building one
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loopbackOnly } from './kubo-loopback.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const DIR = resolve(process.env.PINMESH_LOCAL_DIR ?? join(ROOT, '.pinmesh-local'))
const BASE = Number(process.env.PINMESH_LOCAL_BASE_PORT ?? '9094')
const PEERS = 3
const PINMESH_BIN = join(ROOT, 'dist', 'bin', 'pinmesh.js')
const PIDS_FILE = join(DIR, 'pids.json')
const READY_TIMEOUT_MS = 90_000
const STOP_TIMEOUT_MS = 15_000

interface Peer {
  n: number
  name: string
  dir: string
  ports: { api: number, proxy: number, swarm: number }
  kuboApi?: string
  peerId?: string
  kubo?: ChildProcess
  pinmesh?: ChildProcess
}

const peers: Peer[] = Array.from({ length: PEERS }, (_, i) => ({
  n: i + 1,
  name: `peer${i + 1}`,
  dir: join(DIR, `peer${i + 1}`),
  ports: { api: BASE + 100 * i, proxy: BASE + 1 + 100 * i, swarm: BASE + 2 + 100 * i }
}))

let stopping = false
let stopped: Promise<void> | undefined

function say (line: string): void { process.stdout.write(`${line}\n`) }
function fail (message: string): never { throw new Error(message) }
const rel = (p: string): string => { const r = relative(process.cwd(), p); return r.startsWith('..') ? p : (r.startsWith('.') ? r : `./${r}`) }
const ma = (port: number): string => `/ip4/127.0.0.1/tcp/${port}`

async function main (): Promise<void> {
  if (!Number.isInteger(BASE) || BASE < 1024 || BASE + 100 * (PEERS - 1) + 2 > 65535) fail(`PINMESH_LOCAL_BASE_PORT=${process.env.PINMESH_LOCAL_BASE_PORT}: expected a port between 1024 and ${65535 - 100 * (PEERS - 1) - 2}`)
  await mkdir(DIR, { recursive: true })
  await refuseIfRunning()
  await checkPortsFree()
  buildIfNeeded()
  const ipfs = installKubo()

  say(`Starting ${PEERS} Kubo daemons (data in ${rel(DIR)}/peerN/ipfs)…`)
  await Promise.all(peers.map(async p => { await startKubo(p, ipfs) }))
  await writePids()

  say('Starting pinmesh peer1, then peer2 and peer3 (bootstrapping to peer1)…')
  await initPinmesh(peers[0] as Peer, undefined)
  const secret = (JSON.parse(await readFile(join((peers[0] as Peer).dir, 'pinmesh', 'config.json'), 'utf8')) as { cluster: { secret: string } }).cluster.secret
  await startPinmesh(peers[0] as Peer, [])
  const bootstrap = [`${ma((peers[0] as Peer).ports.swarm)}/p2p/${(peers[0] as Peer).peerId as string}`]
  await Promise.all(peers.slice(1).map(async p => { await initPinmesh(p, secret); await startPinmesh(p, bootstrap) }))
  await writePids()

  say('Waiting until every peer sees the other two…')
  await waitForMesh()
  printSummary(ipfs)
}

/** Another run of this script on the same directory would fight over ports and repo locks. */
async function refuseIfRunning (): Promise<void> {
  if (!existsSync(PIDS_FILE)) return
  const pids = (JSON.parse(await readFile(PIDS_FILE, 'utf8')) as { pids: number[] }).pids
  const alive = pids.filter(pid => {
    try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(DIR) } catch { return false }
  })
  if (alive.length > 0) fail(`a local cluster already runs from ${rel(DIR)} (pids ${alive.join(', ')}); stop it first (Ctrl-C in its terminal, or kill ${alive.join(' ')})`)
}

async function checkPortsFree (): Promise<void> {
  for (const p of peers) {
    for (const [what, port] of Object.entries(p.ports)) {
      await new Promise<void>((resolve, reject) => {
        const s = createServer()
        s.once('error', (err: NodeJS.ErrnoException) => {
          reject(new Error(`${p.name} ${what} port 127.0.0.1:${port} is not free (${err.code ?? err.message}); stop whatever uses it or set PINMESH_LOCAL_BASE_PORT`))
        })
        s.listen(port, '127.0.0.1', () => { s.close(() => { resolve() }) })
      })
    }
  }
}

function newestMtime (dir: string): number {
  let newest = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs)
  }
  return newest
}

function buildIfNeeded (): void {
  const built = existsSync(PINMESH_BIN) ? statSync(PINMESH_BIN).mtimeMs : 0
  if (built >= newestMtime(join(ROOT, 'src'))) return
  say('Building pinmesh (npm run build)…')
  const r = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' })
  if (r.status !== 0) fail('npm run build failed')
}

function installKubo (): string {
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'install-kubo.sh')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' })
  if (r.status !== 0) fail('could not find or build Kubo v0.42.0 (see above)')
  return r.stdout.trim()
}

/** Resolves once `file` has `marker` past `offset`; rejects if `child` exits first or time runs out. */
async function waitForLog (file: string, offset: number, marker: string, child: ChildProcess, what: string): Promise<string> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  for (;;) {
    const text = readFileSync(file).subarray(offset).toString()
    if (text.includes(marker)) return text
    if (child.exitCode !== null || child.signalCode !== null) fail(`${what} exited (${child.exitCode ?? child.signalCode}) before it was ready; see ${rel(file)}:\n${text.slice(-2000)}`)
    if (stopping) fail('stopped while starting')
    if (Date.now() > deadline) fail(`${what} was not ready after ${READY_TIMEOUT_MS / 1000}s; see ${rel(file)}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

/** Spawns a daemon in its own process group, so a terminal's Ctrl-C reaches only this script, which then stops it in order. */
function spawnDaemon (cmd: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): { child: ChildProcess, offset: number } {
  const offset = existsSync(logFile) ? statSync(logFile).size : 0
  const fd = openSync(logFile, 'a')
  const child = spawn(cmd, args, { env, stdio: ['ignore', fd, fd], detached: true })
  closeSync(fd)
  return { child, offset }
}

function kuboEnv (repo: string): NodeJS.ProcessEnv {
  return { ...process.env, IPFS_PATH: repo, IPFS_TELEMETRY: 'off', GOLOG_LOG_LEVEL: process.env.GOLOG_LOG_LEVEL ?? 'error' }
}

async function startKubo (p: Peer, ipfs: string): Promise<void> {
  const repo = join(p.dir, 'ipfs')
  const env = kuboEnv(repo)
  if (!existsSync(join(repo, 'config'))) {
    await mkdir(p.dir, { recursive: true })
    const r = spawnSync(ipfs, ['init', '--profile=test', '--empty-repo'], { env, encoding: 'utf8' })
    if (r.status !== 0) fail(`ipfs init ${repo} failed: ${r.stderr}`)
    const configPath = join(repo, 'config')
    const cfg = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, any>
    loopbackOnly(cfg)
    await writeFile(configPath, JSON.stringify(cfg, null, 2))
  }
  const log = join(p.dir, 'ipfs.log')
  const { child, offset } = spawnDaemon(ipfs, ['daemon', '--migrate=false'], env, log)
  p.kubo = child
  watchExit(p, 'Kubo', child, log)
  await waitForLog(log, offset, 'Daemon is ready', child, `${p.name}'s Kubo`)
  p.kuboApi = (await readFile(join(repo, 'api'), 'utf8')).trim()
}

async function initPinmesh (p: Peer, secret: string | undefined): Promise<void> {
  const path = join(p.dir, 'pinmesh')
  if (existsSync(join(path, 'config.json'))) return
  const r = spawnSync(process.execPath, [PINMESH_BIN, 'init', '--path', path, '--cluster-peername', p.name,
    '--api-listen', ma(p.ports.api), '--proxy-listen', ma(p.ports.proxy), '--net-listen', ma(p.ports.swarm),
    ...(p.kuboApi !== undefined ? ['--kubo-api', p.kuboApi] : [])],
  // The secret goes through the environment: flags show in `ps`.
  { encoding: 'utf8', env: { ...pinmeshEnv(), ...(secret !== undefined ? { PINMESH_CLUSTER_SECRET: secret } : {}) } })
  if (r.status !== 0) fail(`pinmesh init ${path} failed: ${r.stderr}`)
}

function pinmeshEnv (): NodeJS.ProcessEnv {
  return { ...process.env, PINMESH_LOG_PRETTY: process.env.PINMESH_LOG_PRETTY ?? 'true' }
}

async function startPinmesh (p: Peer, bootstrap: string[]): Promise<void> {
  // Ports, Kubo address and bootstrap peer are passed on every start (Kubo's API port is new each
  // time), so a reused directory follows PINMESH_LOCAL_BASE_PORT.
  const args = [PINMESH_BIN, 'daemon', '--path', join(p.dir, 'pinmesh'),
    '--api-listen', ma(p.ports.api), '--proxy-listen', ma(p.ports.proxy), '--net-listen', ma(p.ports.swarm),
    '--kubo-api', p.kuboApi as string, ...bootstrap.flatMap(b => ['--bootstrap', b])]
  const log = join(p.dir, 'pinmesh.log')
  const { child, offset } = spawnDaemon(process.execPath, args, pinmeshEnv(), log)
  p.pinmesh = child
  watchExit(p, 'pinmesh', child, log)
  const text = await waitForLog(log, offset, 'Daemon is ready', child, `${p.name}'s pinmesh`)
  p.peerId = /Peer id: (\S+)/.exec(text)?.[1] ?? fail(`no peer id in ${rel(log)}`)
}

function watchExit (p: Peer, what: string, child: ChildProcess, log: string): void {
  child.once('exit', (code, signal) => {
    if (!stopping) say(`${p.name}'s ${what} exited (${code ?? signal}); see ${rel(log)}. The others keep running; Ctrl-C stops them.`)
  })
}

async function writePids (): Promise<void> {
  const pids = peers.flatMap(p => [p.kubo?.pid, p.pinmesh?.pid]).filter((x): x is number => x !== undefined)
  await writeFile(PIDS_FILE, JSON.stringify({ script: process.pid, pids }) + '\n')
}

async function waitForMesh (): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  for (;;) {
    if (stopping) fail('stopped while starting')
    let ok = true
    for (const p of peers) {
      try {
        const seen = await (await fetch(`http://127.0.0.1:${p.ports.api}/peers`)).json() as Array<{ id: string, connected: boolean, alive?: boolean }>
        if (!peers.every(o => o === p || seen.some(s => s.id === o.peerId && s.connected && s.alive === true))) ok = false
      } catch { ok = false }
    }
    if (ok) return
    if (Date.now() > deadline) fail(`the peers did not all see each other within ${READY_TIMEOUT_MS / 1000}s; see ${rel(DIR)}/peer*/pinmesh.log`)
    await new Promise(resolve => setTimeout(resolve, 250))
  }
}

function printSummary (ipfs: string): void {
  const first = peers[0] as Peer
  const host = (p: Peer): string => p.ports.api === 9094 ? '' : ` --host ${ma(p.ports.api)}`
  say('')
  say(`pinmesh local cluster: ${PEERS} peers, each with its own Kubo; data and logs in ${rel(DIR)}/`)
  say('')
  for (const p of peers) {
    say(`  ${p.name}  proxy ${ma(p.ports.proxy)}  admin ${ma(p.ports.api)}  swarm ${ma(p.ports.swarm)}`)
    say(`         Kubo API ${p.kuboApi as string}  peer id ${p.peerId as string}`)
  }
  say('')
  say('Try (the proxy speaks Kubo\'s RPC API, so any Kubo client works; pins go to every peer):')
  say(`  ${rel(ipfs)} --api ${ma(first.ports.proxy)} add README.md`)
  say(`  npx pinmesh${host(first)} peers ls`)
  say(`  npx pinmesh${host(first)} add README.md --wait`)
  say(`  npx pinmesh${host(peers[2] as Peer)} status <cid>`)
  say(`  npx pinmesh${host(first)} pin ls`)
  say('')
  say(`Logs: ${rel(DIR)}/peerN/{pinmesh,ipfs}.log. Press Ctrl-C to stop every process.`)
  say('Local cluster is ready.')
}

/** Stops pinmesh daemons first (they use their Kubo while stopping), then the Kubos. */
async function stopAll (): Promise<void> {
  stopping = true
  const halt = async (child: ChildProcess | undefined): Promise<void> => {
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>(resolve => child.once('exit', () => { resolve() }))
    child.kill('SIGTERM')
    const t = setTimeout(() => { child.kill('SIGKILL') }, STOP_TIMEOUT_MS)
    await exited
    clearTimeout(t)
  }
  await Promise.all(peers.map(async p => { await halt(p.pinmesh) }))
  await Promise.all(peers.map(async p => { await halt(p.kubo) }))
  await rm(PIDS_FILE, { force: true })
}

function onSignal (signal: NodeJS.Signals): void {
  // npm forwards the terminal's SIGINT too, so a second signal while stopping is expected: ignore it.
  if (stopped !== undefined) return
  say(`\n${signal}: stopping every pinmesh and Kubo process…`)
  stopped = stopAll().then(() => { say('Stopped.'); process.exit(0) }, (err: unknown) => { process.stderr.write(`local-cluster: ${String(err)}\n`); process.exit(1) })
}

process.on('SIGINT', onSignal)
process.on('SIGTERM', onSignal)
// Last resort if this script dies of an error: no daemon is left behind.
process.on('exit', () => {
  for (const p of peers) for (const c of [p.pinmesh, p.kubo]) if (c !== undefined && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
})

main().catch(async (err: unknown) => {
  if (stopped !== undefined) return
  process.stderr.write(`local-cluster: ${err instanceof Error ? err.message : String(err)}\n`)
  stopped = stopAll()
  await stopped
  process.exit(1)
})
