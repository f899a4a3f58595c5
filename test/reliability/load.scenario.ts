// Load scenario (issue 7, deliverable 6): many concurrent Kubo-API clients against a 3-peer cluster, each
// client in a closed loop of mixed forwarded and intercepted calls. Every answer is checked (status, body,
// stream-error trailer); afterwards every acknowledged pin must be in every peer's pinset and on its
// allocated Kubos, and every acknowledged unpin gone. Used by test/reliability/load.test.ts (short) and
// bench/load.bench.ts (long).
import { randomBytes } from 'node:crypto'
import { isDeepStrictEqual } from 'node:util'
import { Agent, request } from 'undici'
import { startKubos, type KuboDaemon } from '../fixtures/kubo.js'
import { startCluster, waitForMesh, type TestPeer } from '../fixtures/cluster.js'
import { multipart } from '../fixtures/http.js'

export interface LoadOptions {
  clients: number
  durationMs: number
  log?: (message: string) => void
  /** Extra pinmesh daemon flags. */
  clusterArgs?: string[]
  /** How long the pinsets and Kubos get to converge after the load. @default 120000 */
  convergeTimeoutMs?: number
  /** One request taking longer than this is an error. @default 60000 */
  requestTimeoutMs?: number
}

export interface Latency { count: number, p50Ms: number, p99Ms: number, meanMs: number, maxMs: number }
export interface KindFigures extends Latency { kind: string, intercepted: boolean, requests: number, errors: number }

export interface LoadFigures {
  clients: number
  durationMs: number
  /** From the first request to the last answer. */
  elapsedMs: number
  requests: number
  errors: number
  /** The first few errors, as `<kind> via peer<i>: <what>`. */
  errorSamples: string[]
  throughputPerS: number
  overall: Latency
  forwarded: Latency
  intercepted: Latency
  kinds: KindFigures[]
  pins: PinFigures
}

export interface PinFigures {
  /** Pins acknowledged (add, pin/add) and not unpinned afterwards: must be everywhere they are allocated. */
  expected: number
  /** Acknowledged pin/rm: must be nowhere. */
  unpinned: number
  /** Expected pins missing from some peer's pinset at the end. */
  lostFromPinset: number
  /** Expected pins missing from an allocated Kubo's recursive pins at the end. */
  lostFromKubo: number
  /** Acknowledged unpins still in a pinset or on a Kubo at the end. */
  resurrected: number
  /** (pin, peer) and (pin, Kubo) pairs checked. */
  checks: number
  /** From the end of the load until every check held (the timeout if they never did). */
  convergedMs: number
  /** A few missing or resurrected pins, for the report. */
  samples: string[]
}

type Kind = 'id' | 'version' | 'cat' | 'block/get' | 'dag/get' | 'swarm/peers' | 'add' | 'pin/add' | 'pin/rm' | 'pin/ls' | 'pin/ls all' | 'repo/stat'

/** Relative frequency of each call kind; false = forwarded to the local Kubo, true = intercepted by pinmesh. */
const MIX: ReadonlyArray<readonly [Kind, number, boolean]> = [
  ['id', 8, false], ['version', 8, false], ['cat', 10, false], ['block/get', 8, false], ['dag/get', 8, false], ['swarm/peers', 6, false],
  ['add', 14, true], ['pin/add', 12, true], ['pin/rm', 8, true], ['pin/ls', 10, true], ['pin/ls all', 1, true], ['repo/stat', 5, true]
]
const TOTAL_WEIGHT = MIX.reduce((s, [, w]) => s + w, 0)
const INTERCEPTED = new Set(MIX.filter(m => m[2]).map(m => m[0]))

const MAX_ERROR_SAMPLES = 10

/** Content every Kubo holds before the load, read back by the forwarded calls. */
interface Known { file: Buffer, fileCid: string, block: Buffer, blockCid: string, node: unknown, nodeCid: string }

class ClientState {
  /** Acknowledged and not (yet) unpinned by this client. */
  readonly pinned: string[] = []
  lastAdd?: { cid: string, bytes: Buffer }
  seq = 0
  constructor (readonly index: number, readonly peer: number) {}
}

class CallError extends Error {}

export async function runLoad (options: LoadOptions): Promise<LoadFigures> {
  const log = options.log ?? (() => {})
  const requestTimeoutMs = options.requestTimeoutMs ?? 60_000
  const agent = new Agent({ keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000, pipelining: 1 })
  let kubos: KuboDaemon[] = []
  let peers: TestPeer[] = []
  try {
    log('starting 3 Kubo daemons and 3 pinmesh peers')
    kubos = await startKubos(3)
    peers = await startCluster(3, { kuboApis: kubos.map(k => k.apiMultiaddr), args: options.clusterArgs ?? [] })
    await waitForMesh(peers)

    const post = async (base: string, path: string, body?: { body: Buffer, contentType: string }): Promise<{ status: number, body: Buffer, streamError: string | undefined }> => {
      const res = await request(`${base}/api/v0/${path}`, {
        method: 'POST',
        dispatcher: agent,
        signal: AbortSignal.timeout(requestTimeoutMs),
        ...(body !== undefined ? { body: body.body, headers: { 'content-type': body.contentType } } : {})
      })
      const bytes = Buffer.from(await res.body.arrayBuffer())
      const streamError = res.trailers['x-stream-error']
      return { status: res.statusCode, body: bytes, streamError: typeof streamError === 'string' && streamError !== '' ? streamError : undefined }
    }

    const known = await seedKnownContent(kubos, post)
    // Blocks present on one Kubo only, for pin/add: the other Kubos fetch them over bitswap when they pin,
    // as with content that arrived elsewhere. Sized for the pin/add rate observed here (tens per second).
    const pool = await seedPinPool(kubos[0] as KuboDaemon, Math.max(2000, Math.ceil(options.durationMs / 1000) * 150), post)
    log(`seeded: a ${known.file.length}-byte file, a block, a dag-json node on every Kubo; ${pool.length} blocks on Kubo 0 to pin`)

    const proxies = peers.map(p => p.proc.proxyUrl)
    const kuboIds = kubos.map(k => k.peerId)
    const latencies = new Map<Kind, number[]>(MIX.map(([k]) => [k, []]))
    const errorsByKind = new Map<Kind, number>(MIX.map(([k]) => [k, 0]))
    const errorSamples: string[] = []
    const unpinned: string[] = []
    let poolNext = 0

    const expectOk = (r: { status: number, body: Buffer, streamError: string | undefined }): void => {
      if (r.status !== 200) throw new CallError(`HTTP ${r.status}: ${r.body.toString().slice(0, 300)}`)
      if (r.streamError !== undefined) throw new CallError(`X-Stream-Error: ${r.streamError}`)
    }
    const json = (r: { body: Buffer }): any => {
      try { return JSON.parse(r.body.toString()) } catch { throw new CallError(`not JSON: ${r.body.toString().slice(0, 300)}`) }
    }

    const pick = (c: ClientState): Kind => {
      let x = Math.random() * TOTAL_WEIGHT
      let kind: Kind = 'version'
      for (const [k, w] of MIX) { if ((x -= w) < 0) { kind = k; break } }
      // Calls about this client's own pins need one; fall back to creating one.
      if ((kind === 'pin/rm' || kind === 'pin/ls') && c.pinned.length === 0) return 'add'
      if (kind === 'pin/add' && poolNext >= pool.length) return 'add'
      return kind
    }

    const call = async (c: ClientState, kind: Kind): Promise<void> => {
      const base = proxies[c.peer] as string
      switch (kind) {
        case 'id': {
          const r = await post(base, 'id'); expectOk(r)
          const id = json(r).ID
          if (id !== kuboIds[c.peer]) throw new CallError(`id answered ${String(id)}, not the local Kubo's ${kuboIds[c.peer]}`)
          return
        }
        case 'version': {
          const r = await post(base, 'version'); expectOk(r)
          if (typeof json(r).Version !== 'string') throw new CallError(`version without Version: ${r.body.toString()}`)
          return
        }
        case 'cat': {
          // Half of the reads are of this client's own last add: proves add stored what it said it stored.
          const own = c.lastAdd !== undefined && Math.random() < 0.5 ? c.lastAdd : undefined
          const cid = own?.cid ?? known.fileCid
          const r = await post(base, `cat?arg=${cid}`); expectOk(r)
          if (!r.body.equals(own?.bytes ?? known.file)) throw new CallError(`cat ${cid}: ${r.body.length} bytes, not the content added`)
          return
        }
        case 'block/get': {
          const r = await post(base, `block/get?arg=${known.blockCid}`); expectOk(r)
          if (!r.body.equals(known.block)) throw new CallError('block/get: wrong bytes')
          return
        }
        case 'dag/get': {
          const r = await post(base, `dag/get?arg=${known.nodeCid}`); expectOk(r)
          if (!isDeepStrictEqual(json(r), known.node)) throw new CallError(`dag/get: ${r.body.toString().slice(0, 200)}`)
          return
        }
        case 'swarm/peers': {
          const r = await post(base, 'swarm/peers'); expectOk(r)
          const p = json(r).Peers
          if (!Array.isArray(p) || p.length < 2) throw new CallError(`swarm/peers: ${r.body.toString().slice(0, 200)}`)
          return
        }
        case 'add': {
          const bytes = randomBytes(256 + Math.floor(Math.random() * 16_384))
          const r = await post(base, 'add', multipart([{ filename: `load-${c.index}-${c.seq++}.bin`, content: bytes }])); expectOk(r)
          const lines = r.body.toString().split('\n').filter(l => l !== '')
          const last = lines.length > 0 ? JSON.parse(lines[lines.length - 1] as string) as { Hash?: string, Size?: string } : {}
          if (typeof last.Hash !== 'string') throw new CallError(`add: no Hash in ${r.body.toString().slice(0, 300)}`)
          c.pinned.push(last.Hash)
          c.lastAdd = { cid: last.Hash, bytes }
          return
        }
        case 'pin/add': {
          const cid = pool[poolNext++] as string
          const r = await post(base, `pin/add?arg=${cid}`); expectOk(r)
          const pins = json(r).Pins
          if (!Array.isArray(pins) || pins.length !== 1 || pins[0] !== cid) throw new CallError(`pin/add ${cid}: ${r.body.toString()}`)
          c.pinned.push(cid)
          return
        }
        case 'pin/rm': {
          const cid = c.pinned.splice(Math.floor(Math.random() * c.pinned.length), 1)[0] as string
          if (c.lastAdd?.cid === cid) c.lastAdd = undefined
          const r = await post(base, `pin/rm?arg=${cid}`)
          // Until acknowledged, the unpin may or may not have happened: check it only once acknowledged.
          expectOk(r)
          const pins = json(r).Pins
          if (!Array.isArray(pins) || pins[0] !== cid) throw new CallError(`pin/rm ${cid}: ${r.body.toString()}`)
          unpinned.push(cid)
          return
        }
        case 'pin/ls': {
          const cid = c.pinned[Math.floor(Math.random() * c.pinned.length)] as string
          const r = await post(base, `pin/ls?arg=${cid}&type=recursive`); expectOk(r)
          if (json(r).Keys?.[cid]?.Type !== 'recursive') throw new CallError(`pin/ls ${cid} through the peer that acknowledged it: ${r.body.toString()}`)
          return
        }
        case 'pin/ls all': {
          const r = await post(base, 'pin/ls?type=recursive&stream=true'); expectOk(r)
          const listed = new Set(r.body.toString().split('\n').filter(l => l !== '').map(l => (JSON.parse(l) as { Cid: string }).Cid))
          const missing = c.pinned.find(cid => !listed.has(cid))
          if (missing !== undefined) throw new CallError(`pin/ls (all) misses ${missing}, acknowledged by this peer`)
          return
        }
        case 'repo/stat': {
          const r = await post(base, 'repo/stat'); expectOk(r)
          const s = json(r)
          if (typeof s.RepoSize !== 'number' || typeof s.NumObjects !== 'number') throw new CallError(`repo/stat: ${r.body.toString().slice(0, 200)}`)
          return
        }
      }
    }

    // Each client talks to one peer, as a Kubo client is pointed at one API; the clients are spread over the 3.
    const clients = Array.from({ length: options.clients }, (_, i) => new ClientState(i, i % proxies.length))
    log(`load: ${options.clients} clients for ${(options.durationMs / 1000).toFixed(0)} s`)
    const t0 = performance.now()
    const deadline = t0 + options.durationMs
    let lastReport = t0
    await Promise.all(clients.map(async (c) => {
      while (performance.now() < deadline) {
        const kind = pick(c)
        const s = performance.now()
        try {
          await call(c, kind)
          latencies.get(kind)?.push(performance.now() - s)
        } catch (err) {
          errorsByKind.set(kind, (errorsByKind.get(kind) ?? 0) + 1)
          if (errorSamples.length < MAX_ERROR_SAMPLES) errorSamples.push(`${kind} via peer${c.peer}: ${(err as Error).message}`)
        }
        const now = performance.now()
        if (now - lastReport >= 10_000) {
          lastReport = now
          const done = [...latencies.values()].reduce((s, l) => s + l.length, 0)
          log(`  ${((now - t0) / 1000).toFixed(0)} s: ${done} answered, ${[...errorsByKind.values()].reduce((a, b) => a + b, 0)} errors`)
        }
      }
    }))
    const elapsedMs = performance.now() - t0

    const kinds: KindFigures[] = MIX.map(([kind, , intercepted]) => {
      const l = latencies.get(kind) ?? []
      const errors = errorsByKind.get(kind) ?? 0
      return { kind, intercepted, requests: l.length + errors, errors, ...stats(l) }
    })
    const all = (f: (k: Kind) => boolean): number[] => MIX.filter(([k]) => f(k)).flatMap(([k]) => latencies.get(k) ?? [])
    const requests = kinds.reduce((s, k) => s + k.requests, 0)
    const errors = kinds.reduce((s, k) => s + k.errors, 0)
    log(`load done: ${requests} requests in ${(elapsedMs / 1000).toFixed(1)} s, ${errors} errors; checking pins`)

    const expected = clients.flatMap(c => c.pinned)
    const pins = await checkPins(peers, kubos, expected, unpinned, options.convergeTimeoutMs ?? 120_000, post)
    log(`pins: ${pins.expected} expected, ${pins.unpinned} unpinned, ${pins.checks} checks, converged in ${(pins.convergedMs / 1000).toFixed(1)} s; lost ${pins.lostFromPinset} (pinset) / ${pins.lostFromKubo} (Kubo), resurrected ${pins.resurrected}`)

    return {
      clients: options.clients,
      durationMs: options.durationMs,
      elapsedMs,
      requests,
      errors,
      errorSamples,
      throughputPerS: requests / (elapsedMs / 1000),
      overall: stats(all(() => true)),
      forwarded: stats(all(k => !INTERCEPTED.has(k))),
      intercepted: stats(all(k => INTERCEPTED.has(k))),
      kinds,
      pins
    }
  } finally {
    await Promise.all(peers.map(async p => { await p.proc.destroy().catch(() => {}) }))
    await Promise.all(kubos.map(async k => { await k.destroy().catch(() => {}) }))
    await agent.close().catch(() => {})
  }
}

type Post = (base: string, path: string, body?: { body: Buffer, contentType: string }) => Promise<{ status: number, body: Buffer, streamError: string | undefined }>

async function postOk (post: Post, base: string, path: string, body?: { body: Buffer, contentType: string }): Promise<Buffer> {
  const r = await post(base, path, body)
  if (r.status !== 200 || r.streamError !== undefined) throw new Error(`${path} on ${base}: ${r.status} ${r.body.toString()} ${r.streamError ?? ''}`)
  return r.body
}

async function seedKnownContent (kubos: KuboDaemon[], post: Post): Promise<Known> {
  const file = randomBytes(48 * 1024)
  const block = randomBytes(2048)
  const node = { load: 'pinmesh', at: Date.now(), list: [1, 2, 3], nested: { ok: true } }
  let fileCid = ''
  let blockCid = ''
  let nodeCid = ''
  // The same bytes into every Kubo directly, so reads through any peer are local.
  for (const k of kubos) {
    fileCid = (JSON.parse((await postOk(post, k.apiUrl, 'add?pin=true', multipart([{ filename: 'known.bin', content: file }]))).toString()) as { Hash: string }).Hash
    blockCid = (JSON.parse((await postOk(post, k.apiUrl, 'block/put?cid-codec=raw&pin=true', multipart([{ filename: '', content: block }]))).toString()) as { Key: string }).Key
    nodeCid = (JSON.parse((await postOk(post, k.apiUrl, 'dag/put?store-codec=dag-cbor&input-codec=dag-json&pin=true', multipart([{ filename: '', content: JSON.stringify(node) }]))).toString()) as { Cid: { '/': string } }).Cid['/']
  }
  return { file, fileCid, block, blockCid, node, nodeCid }
}

async function seedPinPool (kubo: KuboDaemon, n: number, post: Post): Promise<string[]> {
  const cids: string[] = []
  const salt = randomBytes(8).toString('hex')
  for (let i = 0; i < n; i += 1000) {
    const parts = Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({ filename: '', content: `load pool ${salt} ${i + j}` }))
    const text = (await postOk(post, kubo.apiUrl, 'block/put?cid-codec=raw', multipart(parts))).toString()
    for (const line of text.split('\n')) if (line !== '') cids.push((JSON.parse(line) as { Key: string }).Key)
  }
  return cids
}

async function recursivePins (kubo: KuboDaemon, post: Post): Promise<Set<string>> {
  const text = (await postOk(post, kubo.apiUrl, 'pin/ls?type=recursive&stream=true')).toString()
  return new Set(text.split('\n').filter(l => l !== '').map(l => (JSON.parse(l) as { Cid: string }).Cid))
}

async function checkPins (peers: TestPeer[], kubos: KuboDaemon[], expected: string[], unpinned: string[], timeoutMs: number, post: Post): Promise<PinFigures> {
  const t0 = performance.now()
  for (;;) {
    const samples: string[] = []
    let lostFromPinset = 0
    let lostFromKubo = 0
    let resurrected = 0
    let checks = 0
    const kuboPins = await Promise.all(kubos.map(async k => await recursivePins(k, post)))
    for (const [i, p] of peers.entries()) {
      const records = new Map<string, readonly string[]>()
      for await (const r of p.admin.allocations()) records.set(r.cid, r.allocations)
      for (const cid of expected) {
        checks++
        const allocations = records.get(cid)
        if (allocations === undefined) {
          lostFromPinset++
          if (samples.length < 5) samples.push(`${cid} missing from peer${i}'s pinset`)
          continue
        }
        // Each peer's own Kubo is checked once, through the pinset of the peer that runs it.
        if (allocations.length === 0 || allocations.includes(p.proc.peerId)) {
          checks++
          if (!(kuboPins[i] as Set<string>).has(cid)) {
            lostFromKubo++
            if (samples.length < 5) samples.push(`${cid} allocated to peer${i} but not pinned on its Kubo`)
          }
        }
      }
      for (const cid of unpinned) {
        checks += 2
        if (records.has(cid) || (kuboPins[i] as Set<string>).has(cid)) {
          resurrected++
          if (samples.length < 5) samples.push(`${cid} unpinned but still on peer${i} (pinset ${records.has(cid)}, Kubo ${(kuboPins[i] as Set<string>).has(cid)})`)
        }
      }
    }
    const convergedMs = performance.now() - t0
    if ((lostFromPinset === 0 && lostFromKubo === 0 && resurrected === 0) || convergedMs > timeoutMs) {
      return { expected: expected.length, unpinned: unpinned.length, lostFromPinset, lostFromKubo, resurrected, checks, convergedMs, samples }
    }
    await new Promise(resolve => setTimeout(resolve, 500))
  }
}

function stats (values: number[]): Latency {
  if (values.length === 0) return { count: 0, p50Ms: 0, p99Ms: 0, meanMs: 0, maxMs: 0 }
  const s = Float64Array.from(values).sort()
  // Nearest rank: the smallest value with at least p of the samples at or below it.
  const q = (p: number): number => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)] as number
  let sum = 0
  for (const v of s) sum += v
  return { count: s.length, p50Ms: q(0.5), p99Ms: q(0.99), meanMs: sum / s.length, maxMs: s[s.length - 1] as number }
}

/** The figures as a Markdown table, one row per call kind plus the groups. */
export function formatLoadTable (f: LoadFigures): string {
  const row = (name: string, path: string, requests: number, errors: number, l: Latency): string =>
    `| ${name} | ${path} | ${requests} | ${errors} | ${l.p50Ms.toFixed(1)} | ${l.p99Ms.toFixed(1)} | ${l.maxMs.toFixed(1)} |`
  const lines = ['| call | path | requests | errors | p50 ms | p99 ms | max ms |', '|---|---|---:|---:|---:|---:|---:|']
  for (const k of f.kinds) lines.push(row(k.kind, k.intercepted ? 'intercepted' : 'forwarded', k.requests, k.errors, k))
  const sum = (intercepted: boolean): [number, number] => {
    const ks = f.kinds.filter(k => k.intercepted === intercepted)
    return [ks.reduce((s, k) => s + k.requests, 0), ks.reduce((s, k) => s + k.errors, 0)]
  }
  lines.push(row('**all forwarded**', '', ...sum(false), f.forwarded))
  lines.push(row('**all intercepted**', '', ...sum(true), f.intercepted))
  lines.push(row('**overall**', '', f.requests, f.errors, f.overall))
  return lines.join('\n')
}

/** One line: what was sent, what failed, what was checked. */
export function loadSummary (f: LoadFigures): string {
  return `load: ${f.clients} clients, ${(f.elapsedMs / 1000).toFixed(1)} s, ${f.requests} requests (${f.throughputPerS.toFixed(0)}/s), ` +
    `${f.errors} errors, p50 ${f.overall.p50Ms.toFixed(1)} ms, p99 ${f.overall.p99Ms.toFixed(1)} ms; ` +
    `pins checked ${f.pins.expected} (+${f.pins.unpinned} unpins, ${f.pins.checks} checks), pins lost ${f.pins.lostFromPinset + f.pins.lostFromKubo}, unpins undone ${f.pins.resurrected}`
}
