import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, readFile, writeFile, readdir, cp } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { ShardedPinSet, shardOf, type PinSetChange } from '../../../src/pinset/index.js'
import type { PinRecord } from '../../../src/types.js'
import { holdFsyncs } from '../../fixtures/hold-fsyncs.js'

const logger = pino({ level: 'silent' })
const SHARDS = 16

function pin (cid: string, over: Partial<PinRecord> = {}): PinRecord {
  return { cid, name: `n-${cid}`, mode: 'recursive', replicationMin: 1, replicationMax: 2, allocations: ['peerA', 'peerB'], metadata: { k: 'v' }, createdAt: 1000, updatedAt: 1000, updatedBy: 'peerA', ...over }
}
const pins = (n: number, prefix = 'k'): PinRecord[] => Array.from({ length: n }, (_, i) => pin(`${prefix}${i}`))
const cids = (rs: Iterable<PinRecord>): string[] => [...rs].map(r => r.cid).sort()

async function withDir (fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pinmesh-sharded-'))
  try { await fn(dir) } finally { await rm(dir, { recursive: true, force: true }) }
}

type Init = Partial<ConstructorParameters<typeof ShardedPinSet>[1]>
async function open (dir: string, init: Init = {}): Promise<ShardedPinSet> {
  const p = new ShardedPinSet({ logger }, { dir, trusted: true, shards: SHARDS, ...init })
  await p.start()
  return p
}

async function withTwo (fn: (a: ShardedPinSet, b: ShardedPinSet) => Promise<void>, bInit: Init = {}): Promise<void> {
  await withDir(async (dir) => {
    await withDir(async (dir2) => {
      const a = await open(dir)
      const b = await open(dir2, bInit)
      try { await fn(a, b) } finally { await a.stop(); await b.stop() }
    })
  })
}

/** Sends each side what the other lacks, for every shard whose digest differs (what the replicator does). */
function exchange (a: ShardedPinSet, b: ShardedPinSet, ids = ['peerA', 'peerB']): number {
  const sa = a.summary()
  const sb = b.summary()
  let differing = 0
  for (let s = 0; s < a.shards; s++) {
    if (Buffer.from(sa[s]?.digest ?? []).equals(Buffer.from(sb[s]?.digest ?? []))) continue
    differing++
    b.applyRemote(s, [a.diff(s, b.stateVector(s))], ids[0] as string, b.epoch(s))
    a.applyRemote(s, [b.diff(s, a.stateVector(s))], ids[1] as string, a.epoch(s))
  }
  return differing
}
const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise(resolve => setImmediate(resolve)) }
async function converge (a: ShardedPinSet, b: ShardedPinSet): Promise<void> { exchange(a, b); await settle(); exchange(a, b) }

test('pins survive a restart with every field intact, spread over the shards', async () => {
  await withDir(async (dir) => {
    const a = await open(dir)
    await a.put([pin('c1'), pin('c2', { mode: 'direct', expireAt: 5000, metadata: {} }), ...pins(200)])
    await a.remove(['c1'])
    assert.equal(a.size, 201)
    await a.stop()
    const b = await open(dir)
    assert.equal(b.size, 201)
    assert.equal(b.has('c1'), false)
    assert.deepEqual(b.get('c2'), pin('c2', { mode: 'direct', expireAt: 5000, metadata: {} }))
    const used = new Set(cids(b.list()).map(c => shardOf(c, SHARDS)))
    assert.equal(used.size, SHARDS, 'every shard holds pins')
    assert.equal((await readdir(join(dir, 'shards'))).filter(f => f.endsWith('.state')).length, SHARDS)
    await b.stop()
  })
})

test('put resolves only after its WAL frame is on disk', async () => {
  await withDir(async (dir) => {
    const a = await open(dir)
    await a.put([pin('warm')])
    const disk = await holdFsyncs()
    try {
      let resolved = false
      const put = a.put([pin('durable')]).then(() => { resolved = true })
      await disk.reached
      await sleep(100)
      assert.equal(resolved, false, 'put is still pending while its fsync is held')
      disk.release()
      await put
    } finally {
      disk.restore()
    }
    // A crash now (no stop, no checkpoint): the frame is in the WAL.
    const copy = `${dir}-crash`
    await cp(dir, copy, { recursive: true })
    try {
      const b = await open(copy)
      assert.deepEqual(b.get('durable'), pin('durable'))
      await b.stop()
    } finally {
      await rm(copy, { recursive: true, force: true })
    }
    await a.stop()
  })
})

test('only about cachePins pins stay decoded; the others are read back from disk, identical', async () => {
  await withDir(async (dir) => {
    const a = await open(dir, { cachePins: 100 })
    const all = pins(2000)
    await a.put(all)
    await sleep(20)
    const s = a.stats()
    assert.ok(s.shardsDecoded <= 2, `${s.shardsDecoded} shards decoded of ${SHARDS}`)
    for (const r of all.filter((_, i) => i % 97 === 0)) assert.deepEqual(a.get(r.cid), r)
    assert.equal(a.size, 2000)
    await a.remove(all.slice(0, 1000).map(r => r.cid))
    await sleep(20)
    assert.equal(a.size, 1000)
    assert.equal(a.has('k0'), false)
    assert.ok(a.stats().shardsDecoded <= 2)
    await a.stop()
    const b = await open(dir, { cachePins: 100 })
    assert.deepEqual(cids(b.list()), cids(all.slice(1000)))
    await b.stop()
  })
})

test('a crash before any checkpoint loses nothing: the WAL is replayed into its shards', async () => {
  await withDir(async (dir) => {
    const a = await open(dir, { cachePins: 50 })
    await a.put(pins(500))
    await a.remove(['k1', 'k2'])
    const copy = `${dir}-crash`
    await cp(dir, copy, { recursive: true })
    try {
      const b = await open(copy, { cachePins: 50 })
      assert.equal(b.size, 498)
      assert.equal(b.has('k1'), false)
      assert.deepEqual(b.get('k499'), pin('k499'))
      await b.stop()
    } finally {
      await rm(copy, { recursive: true, force: true })
    }
    await a.stop()
  })
})

test('the WAL is folded into the shard states once it outgrows walBytes', async () => {
  await withDir(async (dir) => {
    const a = await open(dir, { walBytes: 32 * 1024, cachePins: 200 })
    for (let i = 0; i < 20; i++) {
      await a.put(pins(100, `r${i}-`))
      if (i % 2 === 1) await a.remove(pins(100, `r${i - 1}-`).map(r => r.cid))
    }
    await a.checkpoint()
    const s = a.stats()
    assert.equal(s.pins, 1000)
    assert.ok(s.logBytes < 32 * 1024, `WAL ${s.logBytes} B after checkpoint`)
    assert.ok(s.stateBytes > 0)
    const wal = (await readdir(dir)).filter(f => f.startsWith('wal-'))
    assert.equal(wal.length, 1, `one live WAL segment, found ${wal.join(', ')}`)
    await a.stop()
    const b = await open(dir)
    assert.equal(b.size, 1000)
    assert.ok(b.has('r19-99') && !b.has('r18-0'))
    await b.stop()
  })
})

test('scan yields a shard at a time and yields to the event loop; page walks every pin once in cursor order', async () => {
  await withDir(async (dir) => {
    const a = await open(dir, { cachePins: 100 })
    const all = pins(1000)
    await a.put(all)
    let batches = 0
    let ticks = 0
    const timer = setInterval(() => { ticks++ }, 0)
    const seen: string[] = []
    for await (const batch of a.scan()) {
      batches++
      assert.equal(new Set(batch.map(r => shardOf(r.cid, SHARDS))).size, 1, 'one shard per batch')
      seen.push(...batch.map(r => r.cid))
    }
    clearInterval(timer)
    assert.equal(batches, SHARDS)
    assert.ok(ticks > 0, 'timers ran during the walk')
    assert.deepEqual(seen.sort(), cids(all))

    const paged: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const page = await a.page({ cursor, limit: 300 })
      paged.push(...page.pins.map(r => r.cid))
      cursor = page.next
      pages++
      // A pin added during the walk does not disturb the cursor.
      if (pages === 1) await a.put([pin('zz-late')])
    } while (cursor !== undefined)
    assert.equal(new Set(paged).size, paged.length, 'no pin twice')
    for (const c of cids(all)) assert.ok(paged.includes(c), `${c} listed`)
    assert.ok(pages >= 4)
    await assert.rejects(a.page({ cursor: 'nonsense', limit: 10 }), (err: Error) => err.name === 'InvalidParametersError')
    await assert.rejects(a.page({ cursor: 'fff.x', limit: 10 }), (err: Error) => err.name === 'InvalidParametersError')
    assert.ok(a.stats().shardsDecoded <= 3, 'walks leave the cache as it was')
    await a.stop()
  })
})

test('digests: equal shards have equal digests; a change marks only its shard as different', async () => {
  await withTwo(async (a, b) => {
    assert.equal(exchange(a, b), 0, 'two empty pinsets agree')
    await a.put(pins(300))
    assert.equal(exchange(a, b), SHARDS)
    assert.equal(exchange(a, b), 0, 'after one exchange every shard agrees')
    await b.put([pin('one-more')])
    assert.equal(exchange(a, b), 1, 'one pin: one shard differs')
    assert.deepEqual(cids(a.list()), cids(b.list()))
  })
})

test('change events report local and remote adds, updates and removals', async () => {
  await withTwo(async (a, b) => {
    const seenA: PinSetChange[] = []
    const seenB: PinSetChange[] = []
    a.onChange(c => seenA.push(c))
    b.onChange(c => seenB.push(c))
    a.onLocalUpdate((shard, u, epoch) => { b.applyRemote(shard, [u], 'peerA', epoch) })
    await a.put([pin('x')])
    await a.put([pin('x', { name: 'renamed', updatedAt: 2000 })])
    await a.remove(['x'])
    const summary = (cs: PinSetChange[]): string[] => cs.map(c => `${c.local ? 'L' : 'R'}:${c.added.length}/${c.updated.length}/${c.removed.length}`)
    assert.deepEqual(summary(seenA), ['L:1/0/0', 'L:0/1/0', 'L:0/0/1'])
    assert.deepEqual(summary(seenB), ['R:1/0/0', 'R:0/1/0', 'R:0/0/1'])
    assert.equal(seenB[1]?.updated[0]?.after.name, 'renamed')
  })
})

test('an unpin wins over a concurrent rewrite of the same pin by another peer, on both peers', async () => {
  await withTwo(async (a, b) => {
    await a.put([pin('p'), pin('q')])
    exchange(a, b)
    await a.put([pin('p', { allocations: ['peerC'] }), pin('q', { allocations: ['peerC'] })])
    await b.remove(['p'])
    await converge(a, b)
    for (const s of [a, b]) {
      assert.equal(s.has('p'), false, 'the unpinned pin stays unpinned')
      assert.deepEqual(s.get('q')?.allocations, ['peerC'], 'the other rewrite is kept')
    }
    await a.put([pin('p', { createdAt: 4000, updatedAt: 4000 })])
    await converge(a, b)
    for (const s of [a, b]) assert.equal(s.get('p')?.createdAt, 4000)
  })
})

test('a shard rebuilt as a new epoch moves the other peer, carrying its concurrent writes; other shards keep their epoch', async () => {
  await withTwo(async (a, b) => {
    const A = '12D3KooWGzBnM5bWLyGvUXHcCk8R4DKi1HQ2t8ZuY2K5wY7Qn4Ys'
    const B = '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK'
    const C = '12D3KooWCyBE4e2ojMoS3hv6zxRnc2yxKYaVdu1HU37LRWoFWcXd'
    const all = pins(400)
    await a.put(all)
    exchange(a, b, [A, B])
    // Every other pin: removed neighbours would merge into one tombstone.
    await a.remove(all.filter((_, i) => i % 2 === 0).map(r => r.cid))
    exchange(a, b, [A, B])
    const candidates = a.compactionCandidates(5)
    assert.ok(candidates.length > 0, 'tombstones outweigh live pins in some shard')
    const shard = candidates[0] as number
    const kept = all.find((r, i) => i % 2 === 1 && shardOf(r.cid, SHARDS) === shard) as PinRecord
    await a.rebuild(shard, A)
    assert.equal(a.epoch(shard).n, 1)
    // b, still on the old epoch, writes in that shard with a peer id the new epoch does not know.
    const cid = Array.from({ length: 1000 }, (_, i) => `b${i}`).find(c => shardOf(c, SHARDS) === shard) as string
    await b.put([pin(cid, { allocations: [C], updatedBy: B, updatedAt: 2000 })])
    const offer = a.epochOffer(shard)
    assert.ok(offer !== undefined)
    assert.equal(await b.adoptEpoch(shard, offer, A), true)
    exchange(a, b, [A, B])
    for (const p of [a, b]) {
      assert.equal(p.epoch(shard).n, 1)
      assert.equal(p.epoch((shard + 1) % SHARDS).n, 0)
      assert.deepEqual(p.get(cid), pin(cid, { allocations: [C], updatedBy: B, updatedAt: 2000 }))
      assert.deepEqual(p.get(kept.cid), kept)
      assert.equal(p.size, 201)
    }
    assert.ok(!a.compactionCandidates(5).includes(shard))
    await a.stop()
    const again = await open((a as unknown as { init: { dir: string } }).init.dir)
    assert.equal(again.epoch(shard).n, 1)
    assert.equal(again.size, 201)
    await again.stop()
  })
})

test('a single-document pinset of an earlier release (format 1) is migrated into shards once, then served from them', async () => {
  await withDir(async (dir) => {
    for (const f of ['pinset.state', 'pinset.log']) await writeFile(join(dir, f), await readFile(new URL(`../../fixtures/pinset-v1/${f}`, import.meta.url)))
    const A = '12D3KooWGzBnM5bWLyGvUXHcCk8R4DKi1HQ2t8ZuY2K5wY7Qn4Ys'
    const B = '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK'
    const base = { mode: 'recursive' as const, replicationMin: 1, replicationMax: 2, metadata: {}, createdAt: 1764000000000, updatedAt: 1764000000000, updatedBy: A }
    const written = [
      { ...base, cid: 'bafkreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1', name: 'one', allocations: [A, B] },
      { ...base, cid: 'bafkreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2', name: '', allocations: [], replicationMin: -1, replicationMax: -1 },
      { ...base, cid: 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG', name: 'direct "quoted"', mode: 'direct' as const, allocations: [B], metadata: { k: 'v' }, expireAt: 1865000000000, updatedAt: 1764000000500, updatedBy: B }
    ]
    const byCid = (rs: Iterable<PinRecord>): PinRecord[] => [...rs].sort((x, y) => x.cid < y.cid ? -1 : 1)
    const a = await open(dir)
    assert.deepEqual(byCid(a.list()), byCid(written))
    const files = await readdir(dir)
    assert.ok(files.includes('manifest.json') && files.includes('pinset.state.pre-shard'), files.join(', '))
    assert.ok(!files.includes('pinset.state'), 'the old state is not read again')
    const added = pin('new', { allocations: [A], updatedBy: B })
    await a.put([added])
    await a.stop()
    const b = await open(dir)
    assert.deepEqual(byCid(b.list()), byCid([...written, added]))
    await b.stop()
  })
})

test('a single-document pinset of format 2 (state plus log) is migrated with its log applied', async () => {
  await withDir(async (dir) => {
    for (const f of ['pinset.state', 'pinset.log']) await writeFile(join(dir, f), await readFile(new URL(`../../fixtures/pinset-v2/${f}`, import.meta.url)))
    const a = await open(dir)
    assert.deepEqual(cids(a.list()), ['bafkreia', 'bafkreic', 'bafkreid'])
    assert.equal(a.get('bafkreid')?.updatedBy, 'peerA')
    await a.stop()
    const b = await open(dir)
    assert.equal(b.size, 3)
    await b.stop()
  })
})

test('a shard that must stay decoded (updates waiting for ones it has not seen) does not make the cache drop the shard a put is writing to', async () => {
  await withTwo(async (a, b) => {
    const S = 5
    const inShard = (shard: number, prefix: string): string[] => Array.from({ length: 200 }, (_, i) => `${prefix}${i}`).filter(c => shardOf(c, SHARDS) === shard)
    const updates: Uint8Array[] = []
    a.onLocalUpdate((shard, u) => { if (shard === S) updates.push(u) })
    await a.put(inShard(S, 'x').slice(0, 3).map(c => pin(c)))
    await a.put([pin(inShard(S, 'x')[3] as string)])
    await a.put([pin(inShard(S, 'x')[4] as string)])
    // Pins of shard S, and an update that waits for one b has not seen: shard S stays decoded on b.
    assert.equal(b.applyRemote(S, [updates[0] as Uint8Array, updates.at(-1) as Uint8Array], 'peerA', b.epoch(S)), true)
    assert.equal(b.hasMissingDependencies(S), true)
    const written: string[] = []
    for (let shard = 0; shard < SHARDS; shard++) {
      if (shard === S) continue
      const cid = inShard(shard, 'y')[0] as string
      await b.put([pin(cid)])
      written.push(cid)
      assert.deepEqual(b.get(cid), pin(cid), `${cid} (shard ${shard}) is in the pinset`)
    }
    const dir = (b as unknown as { init: { dir: string } }).init.dir
    const copy = `${dir}-crash`
    await cp(dir, copy, { recursive: true })
    try {
      const c = await open(copy)
      assert.deepEqual(written.filter(cid => !c.has(cid)), [], 'every put is in the WAL')
      await c.stop()
    } finally {
      await rm(copy, { recursive: true, force: true })
    }
  }, { cachePins: 1 })
})
