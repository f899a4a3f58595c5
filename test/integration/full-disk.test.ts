import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, readdir, stat, writeFile } from 'node:fs/promises'
import { openSync, closeSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { copyAsKilled } from '../fixtures/crash-copy.js'
import { startKubo, addUnpinned, type KuboDaemon } from '../fixtures/kubo.js'
import { startPinmesh, newSecret, PINMESH_BIN } from '../fixtures/pinmesh.js'
import { httpRequest } from '../fixtures/http.js'
import { waitFor } from '../fixtures/wait-for.js'
import { smallDisk, fill } from '../fixtures/small-disk.js'
import { ShardedPinSet, shardOf } from '../../src/pinset/index.js'
import { PinsetWriteError } from '../../src/errors.js'
import type { PinRecord } from '../../src/types.js'
import type { Logger } from '../../src/logger.js'

// A real full disk: a small tmpfs as the data directory, filled up (test/fixtures/small-disk.ts).

function record (cid: string): PinRecord {
  return { cid, name: 'x'.repeat(900), mode: 'recursive', replicationMin: -1, replicationMax: -1, allocations: [], metadata: {}, createdAt: 1000, updatedAt: 1000, updatedBy: 'peerA' }
}

/**
 * What a crash would leave of the pinset in `dir` (no stop, no final checkpoint): a copy of its files,
 * made outside the small disk, opened as a new ShardedPinSet and given to `fn`.
 */
async function afterKill<T> (dir: string, fn: (p: ShardedPinSet) => T): Promise<T> {
  const copy = await mkdtemp(join(tmpdir(), 'pinmesh-killed-'))
  try {
    copyAsKilled(dir, copy)
    const p = new ShardedPinSet({ logger: pino({ level: 'silent' }) }, { dir: copy, trusted: true, shards: SHARDS })
    await p.start()
    try { return fn(p) } finally { await p.stop() }
  } finally {
    await rm(copy, { recursive: true, force: true })
  }
}

const SHARDS = 8
/** Room left on the disk for the checkpoint that fails midway: its new segment and a few state files. */
const SPARE = 24 * 1024
/** The first CID `<prefix><i>` that falls in `shard`. */
function cidIn (shard: number, prefix: string): string {
  for (let i = 0; ; i++) if (shardOf(`${prefix}${i}`, SHARDS) === shard) return `${prefix}${i}`
}
const missing = (p: ShardedPinSet, cids: readonly string[]): string[] => cids.filter(c => !p.has(c))


/** A ShardedPinSet in a directory on a 256 KiB tmpfs, started (stopped after the test). */
async function pinsetOnSmallDisk (t: TestContext, init: { cachePins?: number } = {}): Promise<{ disk: string, dir: string, logger: Logger, p: ShardedPinSet }> {
  const disk = await smallDisk(t, '256k')
  const dir = join(disk, 'pinset')
  const logger = pino({ level: 'silent' })
  const p = new ShardedPinSet({ logger }, { dir, trusted: true, shards: SHARDS, ...init })
  await p.start()
  t.after(async () => { await p.stop() })
  return { disk, dir, logger, p }
}

/** 40 pins on a small disk, then shard 3 rebuilt while the disk is full (space is back on return). */
async function rebuiltOnFullDisk (t: TestContext): Promise<{ dir: string, logger: Logger, p: ShardedPinSet, acked: string[], rebuilt: number }> {
  const { disk, dir, logger, p } = await pinsetOnSmallDisk(t, { cachePins: 2 })
  const acked = Array.from({ length: 40 }, (_, i) => `a${i}`)
  await p.put(acked.map(record))
  const rebuilt = 3
  await fill(join(disk, 'filler'))
  // Its new epoch's state cannot be written: it stays decoded until it is.
  await p.rebuild(rebuilt, 'leader')
  await rm(join(disk, 'filler'))
  return { dir, logger, p, acked, rebuilt }
}
test('sharded pinset: puts the full disk refused are written once space is back, and every acknowledged put survives a kill, across a shard rebuild and a checkpoint that fails midway', async (t) => {
  const { disk, dir, logger, p } = await pinsetOnSmallDisk(t)
  const acked: string[] = []
  const refused: string[] = []
  const putAll = async (cids: string[]): Promise<void> => {
    for (const cid of cids) {
      try {
        await p.put([record(cid)])
        acked.push(cid)
      } catch (err) {
        assert.equal((err as Error).name, PinsetWriteError.NAME, String(err))
        refused.push(cid)
      }
    }
  }
  await putAll(['a0'])
  await fill(join(disk, 'filler'))
  await putAll(Array.from({ length: 11 }, (_, i) => `a${i + 1}`))
  assert.ok(refused.length > 0, 'some puts were refused on the full disk')
  assert.deepEqual(missing(p, acked), [], 'no acknowledged put is lost while the disk is full')
  await afterKill(dir, k => { assert.deepEqual(missing(k, acked), [], 'every acknowledged put survives a kill on the full disk') })
  await rm(join(disk, 'filler'))
  // No restart needed: the next put writes the refused ones first, then its own.
  await putAll(['c0', 'c1'])
  assert.equal(refused.length + acked.length, 14)
  assert.ok(acked.includes('c0') && acked.includes('c1'), 'puts succeed once space is back')
  await afterKill(dir, k => {
    assert.deepEqual(missing(k, acked), [], 'every acknowledged put survives a kill')
    assert.deepEqual(missing(k, refused), [], 'the refused puts were written once space was back')
  })

  // A shard rebuilt while the disk is full: its new epoch's state cannot be written yet, nor any put in it.
  const shard = shardOf('a1', SHARDS)
  await fill(join(disk, 'filler'))
  assert.equal((await p.rebuild(shard, 'leader')).n, 1)
  await assert.rejects(p.put([record(cidIn(shard, 'b'))]), { name: PinsetWriteError.NAME })
  await rm(join(disk, 'filler'))
  await putAll([cidIn(shard, 'd'), cidIn((shard + 1) % SHARDS, 'd')])
  assert.equal(acked.at(-2), cidIn(shard, 'd'), 'a put in the rebuilt shard succeeds once space is back')
  await afterKill(dir, k => {
    assert.equal(k.epoch(shard).n, 1, 'the rebuilt shard is on its new epoch')
    assert.deepEqual(missing(k, acked), [], 'every acknowledged put survives a kill after the rebuild')
  })

  // A checkpoint that fails midway: some state files are written, then the disk is full.
  await putAll(Array.from({ length: 24 }, (_, i) => `e${i}`))
  const segments = async (): Promise<string[]> => (await readdir(dir)).filter(f => f.startsWith('wal-')).sort()
  const before = await segments()
  const states = async (): Promise<Map<string, number>> => new Map(await Promise.all((await readdir(join(dir, 'shards'))).map(async f => [f, (await stat(join(dir, 'shards', f))).mtimeMs] as [string, number])))
  const statesBefore = await states()
  await writeFile(join(disk, 'spare'), Buffer.alloc(SPARE, 1))
  await fill(join(disk, 'filler'))
  await rm(join(disk, 'spare'))
  await assert.rejects(p.checkpoint(), { name: PinsetWriteError.NAME })
  const statesAfter = await states()
  const rewritten = [...statesAfter].filter(([f, m]) => statesBefore.get(f) !== m).length
  assert.ok(rewritten > 0 && rewritten < SHARDS, `the checkpoint failed midway (${rewritten} state files written)`)
  for (const s of before) assert.ok((await segments()).includes(s), `WAL segment ${s} is kept while a state could not be written (${(await segments()).join(', ')})`)
  await afterKill(dir, k => { assert.deepEqual(missing(k, acked), [], 'every acknowledged put survives a kill after a failed checkpoint') })
  await rm(join(disk, 'filler'))
  await putAll(['f0'])
  await p.checkpoint()
  assert.equal((await segments()).length, 1, 'a checkpoint once space is back drops the older segments')
  await afterKill(dir, k => {
    assert.deepEqual(missing(k, acked), [], 'every acknowledged put survives a kill after the checkpoint')
    assert.equal(k.epoch(shard).n, 1)
  })
  // Before the disk is unmounted (the hooks run in order): a clean stop, and a start from what it wrote.
  await p.stop()
  const again = new ShardedPinSet({ logger }, { dir, trusted: true, shards: SHARDS })
  await again.start()
  assert.deepEqual(missing(again, acked), [], 'every acknowledged put is there after a clean restart')
  assert.equal((await segments()).length, 1)
  await again.stop()
})

test('sharded pinset: a shard dropped from the cache after a put the full disk refused comes back with that put, which is written once space is back', async (t) => {
  // One decoded shard at a time.
  const { disk, dir, logger, p } = await pinsetOnSmallDisk(t, { cachePins: 1 })
  const X = 3
  const other = cidIn((X + 1) % SHARDS, 'o')
  // Shard X's put decodes it and drops the others (the cache is trimmed as shards are decoded).
  const acked = [cidIn(X, 'x'), other, cidIn((X + 3) % SHARDS, 'w')]
  await p.put(acked.map(record))
  await fill(join(disk, 'filler'))
  // The WAL's last page may still take a few puts.
  let refused: string | undefined
  for (let i = 0; i < 20 && refused === undefined; i++) {
    const cid = cidIn(X, `y${i}-`)
    try {
      await p.put([record(cid)])
      acked.push(cid)
    } catch (err) {
      assert.equal((err as Error).name, PinsetWriteError.NAME)
      refused = cid
    }
  }
  assert.ok(refused !== undefined, 'a put was refused on the full disk')
  // Reading a pin of another shard decodes it and drops shard X from memory.
  assert.deepEqual(p.get(other), record(other))
  assert.equal(p.stats().shardsDecoded, 1, 'only the shard just read is decoded')
  assert.deepEqual(p.get(refused), record(refused), 'decoded again, shard X has the refused put')
  assert.equal(p.has(other), true)
  await rm(join(disk, 'filler'))
  // A put in another shard writes the refused one first.
  const later = cidIn((X + 2) % SHARDS, 'z')
  await p.put([record(later)])
  acked.push(later)
  await afterKill(dir, k => {
    assert.deepEqual(missing(k, acked), [], 'every acknowledged put survives a kill')
    assert.deepEqual(k.get(refused as string), record(refused as string), 'the refused put was written once space was back')
  })
  // And a checkpoint writes it into shard X's state.
  await p.checkpoint()
  await p.stop()
  await rm(join(dir, (await readdir(dir)).find(f => f.startsWith('wal-')) as string))
  const again = new ShardedPinSet({ logger }, { dir, trusted: true, shards: SHARDS })
  await again.start()
  assert.deepEqual(missing(again, [...acked, refused]), [], 'the shard states hold every put')
  await again.stop()
})

test('sharded pinset: while a shard rebuilt on the full disk must stay in the cache, puts in the other shards are still written (the shard a put decodes is not dropped under it)', async (t) => {
  const { dir, p, acked, rebuilt } = await rebuiltOnFullDisk(t)
  for (let s = 0; s < SHARDS; s++) {
    if (s === rebuilt) continue
    const cid = cidIn(s, 'b')
    await p.put([record(cid)])
    acked.push(cid)
    assert.deepEqual(p.get(cid), record(cid), `${cid} (shard ${s}) is in the pinset`)
  }
  await afterKill(dir, k => { assert.deepEqual(missing(k, acked), [], 'every acknowledged put survives a kill') })
  await p.stop()
})

test('sharded pinset: a shard whose new epoch is written whole (its first write failed on the full disk) loses no put when it leaves the cache or is checkpointed while a later write of it is under way', async (t) => {
  const { dir, logger, p, acked, rebuilt } = await rebuiltOnFullDisk(t)
  // Each put in the shard writes its whole state, one after the other.
  const first = cidIn(rebuilt, 'c')
  const second = cidIn(rebuilt, `${first}-`)
  const writes = [p.put([record(first)]), p.put([record(second)])]
  await writes[0]
  // The second write is still under way: reading another shard must not drop this one from the cache...
  const other = acked.find(c => shardOf(c, SHARDS) !== rebuilt) as string
  assert.deepEqual(p.get(other), record(other))
  assert.deepEqual(p.get(second), record(second), 'the shard still has the second put')
  // ...nor may a checkpoint write it without the second put.
  const checkpoint = p.checkpoint()
  await writes[1]
  await checkpoint
  acked.push(first, second)
  assert.deepEqual(missing(p, acked), [])
  await afterKill(dir, k => { assert.deepEqual(missing(k, acked), [], 'every acknowledged put survives a kill') })
  await p.stop()
})

/**
 * Resolves once nothing of `p` is being written: its checkpoint and the store's writes (a copy of its
 * directory made meanwhile would be no state a crash can leave).
 */
async function quiet (p: ShardedPinSet): Promise<void> {
  const inside = p as unknown as { checkpointing?: Promise<void>, store?: { chain: { idle: () => Promise<void> }, stateChain: { idle: () => Promise<void> } } }
  await new Promise(resolve => setImmediate(resolve))
  while (inside.checkpointing !== undefined) await inside.checkpointing.catch(() => {})
  await inside.store?.stateChain.idle()
  await inside.store?.chain.idle()
}

const SEEDS = 20
test(`sharded pinset on a disk that fills and empties, ${SEEDS} random runs of concurrent puts and removes, checkpoints and shard rebuilds, with a small cache: after a kill at any point every acknowledged put and remove is there`, async (t) => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    await t.test(`seed ${seed}`, async (t) => {
      let x = seed
      const random = (): number => { x = (x * 1103515245 + 12345) % 2147483648; return x / 2147483648 }
      const disk = await smallDisk(t, '512k')
      const dir = join(disk, 'pinset')
      const logger = pino({ level: 'silent' })
      const p = new ShardedPinSet({ logger }, { dir, trusted: true, shards: SHARDS, cachePins: 20, walBytes: 16 * 1024 })
      await p.start()
      t.after(async () => { await p.stop() })
      const pinned = new Set<string>()
      const unpinned = new Set<string>()
      const check = async (when: string): Promise<void> => {
        const want = [...pinned]
        const gone = [...unpinned]
        await quiet(p)
        await afterKill(dir, k => {
          assert.deepEqual(missing(k, want), [], `${when}: acknowledged puts lost`)
          assert.deepEqual(gone.filter(c => k.has(c)), [], `${when}: acknowledged removes lost`)
        })
      }
      let full = false
      let n = 0
      for (let round = 0; round < 40; round++) {
        const r = random()
        if (r < 0.15) {
          if (full) await rm(join(disk, 'filler'))
          else {
            // Some room left at times: a checkpoint then fails midway.
            await writeFile(join(disk, 'spare'), Buffer.alloc(Math.floor(random() * 16) * 4096))
            await fill(join(disk, 'filler'))
            await rm(join(disk, 'spare'))
          }
          full = !full
        } else if (r < 0.22) {
          await p.checkpoint().catch(() => {})
        } else if (r < 0.27) {
          await p.rebuild(Math.floor(random() * SHARDS), 'leader').catch(() => {})
        } else {
          const writes: Array<Promise<void>> = []
          const removing = new Set<string>()
          for (let i = 1 + Math.floor(random() * 6); i > 0; i--) {
            const victim = [...pinned][Math.floor(random() * pinned.size)]
            if (random() < 0.2 && victim !== undefined && !removing.has(victim)) {
              removing.add(victim)
              // A refused remove may still take effect (written once space is back): the pin is then neither.
              writes.push(p.remove([victim]).then(() => { unpinned.add(victim) }, () => {}).finally(() => { pinned.delete(victim) }))
            } else {
              const cids = Array.from({ length: 1 + Math.floor(random() * 4) }, () => `p${n++}`)
              writes.push(p.put(cids.map(record)).then(() => { for (const c of cids) pinned.add(c) }, (err: Error) => { assert.equal(err.name, PinsetWriteError.NAME, String(err)) }))
            }
          }
          await Promise.all(writes)
          if (random() < 0.3) await check(`round ${round}`)
        }
      }
      if (full) await rm(join(disk, 'filler'))
      await p.put([record('last')])
      pinned.add('last')
      await check('at the end')
      await p.stop()
      const again = new ShardedPinSet({ logger }, { dir, trusted: true, shards: SHARDS })
      await again.start()
      assert.deepEqual(missing(again, [...pinned]), [], 'after a clean restart')
      assert.deepEqual([...unpinned].filter(c => again.has(c)), [], 'after a clean restart')
      await again.stop()
    })
  }
})

/** One pin/add of `cids` with a name of the longest size Kubo allows, so that each write is ~3 KB (most of a tmpfs page). */
async function proxyPin (url: string, cids: string[]): Promise<{ status: number, body: string }> {
  const r = await httpRequest(`${url}/api/v0/pin/add?${cids.map(c => `arg=${c}`).join('&')}&name=${'n'.repeat(255)}`, { method: 'POST' })
  return { status: r.status, body: r.body.toString() }
}

async function pinnedCids (url: string): Promise<string[]> {
  const r = await httpRequest(`${url}/api/v0/pin/ls?type=recursive`, { method: 'POST' })
  assert.equal(r.status, 200, r.body.toString())
  return Object.keys((JSON.parse(r.body.toString()) as { Keys: Record<string, unknown> }).Keys)
}

test('daemon on a full disk: pins get Kubo\'s error, the rest keeps working, pins succeed once space is back, and no acknowledged pin is lost', async (t) => {
  const disk = await smallDisk(t, '2m')
  let kubo: KuboDaemon | undefined
  t.after(async () => { await kubo?.destroy() })
  kubo = await startKubo()
  const proc = await startPinmesh({ kuboApi: kubo.apiMultiaddr, secret: newSecret(), path: join(disk, 'pinmesh') })
  t.after(async () => { await proc.stop() })
  const acked: string[] = []
  const batches: string[][] = []
  for (let i = 0; i < 12; i++) {
    const batch: string[] = []
    for (let j = 0; j < 8; j++) batch.push(await addUnpinned(kubo, `full disk ${i} ${j}`))
    batches.push(batch)
  }
  const pinBatch = async (): Promise<{ status: number, body: string }> => {
    const batch = batches.shift() as string[]
    const r = await proxyPin(proc.proxyUrl, batch)
    if (r.status === 200) acked.push(...batch)
    return r
  }
  const first = await pinBatch()
  assert.equal(first.status, 200, first.body)

  await fill(join(disk, 'filler'))
  // The log's last page may take one more write, or part of one (a torn frame); then none fits.
  const errors: Array<{ status: number, body: string }> = []
  for (let i = 0; i < 6; i++) {
    const r = await pinBatch()
    if (r.status !== 200) errors.push(r)
  }
  assert.ok(errors.length >= 4, `${errors.length} pins failed on the full disk`)
  for (const e of errors) {
    assert.equal(e.status, 500, e.body)
    const body = JSON.parse(e.body) as Record<string, unknown>
    assert.deepEqual(Object.keys(body), ['Message', 'Code', 'Type'])
    assert.match(body.Message as string, /no space left on device/)
    assert.equal(body.Code, 0)
    assert.equal(body.Type, 'error')
  }
  // The admin API says it in its own shape.
  const viaApi = batches[0]?.[0] as string
  const api = await httpRequest(`${proc.apiUrl}/pins/${viaApi}?name=${'n'.repeat(2000)}`, { method: 'POST' })
  assert.equal(api.status, 507, api.body.toString())
  assert.equal((JSON.parse(api.body.toString()) as { code: string }).code, 'ERR_STORAGE')
  // Everything else keeps working: reads of the pinset, calls passed through to Kubo, the admin API.
  assert.ok((await pinnedCids(proc.proxyUrl)).length >= acked.length)
  assert.equal((await httpRequest(`${proc.proxyUrl}/api/v0/id`, { method: 'POST' })).status, 200)
  assert.equal((await httpRequest(`${proc.apiUrl}/health`, { method: 'GET' })).status, 204)

  await rm(join(disk, 'filler'))
  for (let i = 0; i < 3; i++) {
    const r = await pinBatch()
    assert.equal(r.status, 200, `a pin once space is back: ${r.body}`)
  }
  assert.equal(proc.process.exitCode, null, 'the daemon kept running')

  await proc.kill()
  await proc.restart()
  const after = await pinnedCids(proc.proxyUrl)
  assert.deepEqual(acked.filter(c => !after.includes(c)), [], 'every acknowledged pin is there after a restart')
})

for (const pretty of ['false', 'true']) {
  test(`a daemon whose log output fails (stderr on /dev/full, pretty ${pretty}) keeps serving and stops cleanly`, async (t) => {
    const devFull = openSync('/dev/full', 'w')
    t.after(() => { closeSync(devFull) })
    const proc = await startPinmesh({ secret: newSecret(), stderrFd: devFull, env: { PINMESH_LOG_LEVEL: 'debug', PINMESH_LOG_PRETTY: pretty } })
    t.after(async () => { await proc.destroy() })
    for (let i = 0; i < 20; i++) {
      const r = await httpRequest(`${proc.apiUrl}/pinset/stats`, { method: 'GET' })
      assert.equal(r.status, 200)
    }
    // A request that logs at every level it reaches, and an error answer.
    assert.equal((await httpRequest(`${proc.proxyUrl}/api/v0/pin/add?arg=not-a-cid`, { method: 'POST' })).status >= 400, true)
    await new Promise(resolve => setTimeout(resolve, 500))
    assert.equal(proc.process.exitCode, null, 'still running')
    assert.equal((await httpRequest(`${proc.apiUrl}/health`, { method: 'GET' })).status, 204)
    const started = Date.now()
    assert.equal(await proc.stop(), 0, 'SIGTERM ends it with code 0')
    assert.ok(Date.now() - started < 10_000, `stopped in ${Date.now() - started} ms`)
  })
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise(resolve => server.close(resolve))
  return port
}

test('a daemon whose stdout and stderr are on a full disk starts and serves', async (t) => {
  const devFull = openSync('/dev/full', 'w')
  t.after(() => { closeSync(devFull) })
  const path = await mkdtemp(join(tmpdir(), 'pinmesh-node-'))
  t.after(async () => { await rm(path, { recursive: true, force: true }) })
  const api = await freePort()
  const proxy = await freePort()
  const child = spawn(process.execPath, [PINMESH_BIN, 'daemon', '--path', path, '--cluster-secret', newSecret(),
    '--api-listen', `/ip4/127.0.0.1/tcp/${api}`, '--proxy-listen', `/ip4/127.0.0.1/tcp/${proxy}`,
    '--net-listen', '/ip4/127.0.0.1/tcp/0', '--kubo-api', '/ip4/127.0.0.1/tcp/1'],
  { stdio: ['ignore', devFull, devFull], env: { ...process.env, PINMESH_LOG_LEVEL: 'debug', PINMESH_LOG_PRETTY: 'false' } })
  const exited = new Promise<number | null>(resolve => child.once('exit', resolve))
  t.after(async () => { if (child.exitCode === null && child.signalCode === null) { child.kill('SIGKILL'); await exited } })
  await waitFor(async () => {
    if (child.exitCode !== null) assert.fail(`the daemon exited with ${child.exitCode}`)
    try { return (await httpRequest(`http://127.0.0.1:${api}/health`, { method: 'GET' })).status === 204 } catch { return false }
  }, { timeoutMs: 60_000, message: 'the admin API answers' })
  // Past the moment "Daemon is ready" went to stdout.
  await new Promise(resolve => setTimeout(resolve, 500))
  assert.equal(child.exitCode, null, 'still running after writing to a full stdout')
  assert.equal((await httpRequest(`http://127.0.0.1:${api}/pinset/stats`, { method: 'GET' })).status, 200)
  child.kill('SIGTERM')
  assert.equal(await exited, 0)
})
