import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, readFile, writeFile, readdir } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { copyAsKilled } from '../../fixtures/crash-copy.js'
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

/** What a crash would leave of the pinset in `dir` (no stop, no checkpoint): a copy of its files, opened with `init` and given to `fn`. */
async function afterCrash (dir: string, fn: (p: ShardedPinSet) => void, init: Init = {}): Promise<void> {
  const copy = `${dir}-crash`
  copyAsKilled(dir, copy)
  try {
    const p = await open(copy, init)
    try { fn(p) } finally { await p.stop() }
  } finally {
    await rm(copy, { recursive: true, force: true })
  }
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
    await afterCrash(dir, b => { assert.deepEqual(b.get('durable'), pin('durable')) })
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
    await afterCrash(dir, b => {
      assert.equal(b.size, 498)
      assert.equal(b.has('k1'), false)
      assert.deepEqual(b.get('k499'), pin('k499'))
    }, { cachePins: 50 })
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

test('the removal is remembered only for removeWinsMs', async () => {
  await withTwo(async (a, b) => {
    await a.put([pin('p')])
    exchange(a, b)
    await a.put([pin('p', { allocations: ['peerC'] })])
    await b.remove(['p'])
    await sleep(5)
    await converge(a, b)
    // Without the memory, the rewrite survives: what the removal memory exists to prevent.
    for (const s of [a, b]) assert.deepEqual(s.get('p')?.allocations, ['peerC'])
  }, { removeWinsMs: 0 })
})

test('a pin requested again through a peer that had not yet seen the unpin is kept (a newer request, not a rewrite)', async () => {
  await withTwo(async (a, b) => {
    await a.put([pin('p')])
    exchange(a, b)
    // The client unpins through b, then pins again through a before a heard of the unpin.
    await b.remove(['p'])
    await a.put([pin('p', { name: 'again', updatedAt: 5000 })])
    await converge(a, b)
    for (const s of [a, b]) assert.equal(s.get('p')?.name, 'again')
  })
})

test('a pinset written by another format version is refused, and nothing of it is moved', async () => {
  const refused = (version: number) => (err: Error): boolean => err.name === 'InvalidDatastoreVersionError' && new RegExp(`(format|version) ${version}`).test(err.message)
  await withDir(async (dir) => {
    const a = await open(dir)
    await a.put(pins(50))
    await a.stop()
    const manifest = join(dir, 'manifest.json')
    const good = await readFile(manifest, 'utf8')
    await writeFile(manifest, JSON.stringify({ ...JSON.parse(good), format: 99 }))
    await assert.rejects(open(dir), refused(99))
    await writeFile(manifest, good)
    const state = join(dir, 'shards', (await readdir(join(dir, 'shards')))[0] as string)
    const bytes = await readFile(state)
    bytes.writeUInt32BE(99, 8)
    await writeFile(state, bytes)
    await assert.rejects(open(dir), refused(99))
    assert.deepEqual((await readdir(join(dir, 'shards'))).filter(f => f.includes('corrupt')), [], 'another release\'s file is not damage')
  })
  // A single-document pinset of an unknown version is not migrated.
  await withDir(async (dir) => {
    for (const f of ['pinset.state', 'pinset.log']) await writeFile(join(dir, f), await readFile(new URL(`../../fixtures/pinset-v2/${f}`, import.meta.url)))
    const state = await readFile(join(dir, 'pinset.state'))
    state.writeUInt32BE(99, 8)
    await writeFile(join(dir, 'pinset.state'), state)
    await assert.rejects(open(dir), refused(99))
    assert.ok(!(await readdir(dir)).includes('manifest.json'))
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
    await afterCrash(dir, c => { assert.deepEqual(written.filter(cid => !c.has(cid)), [], 'every put is in the WAL') })
  }, { cachePins: 1 })
})

test('new pins go into shards that are not decoded without decoding them; reads, restarts and crashes see them', async () => {
  await withDir(async (dir) => {
    const a = await open(dir, { cachePins: 50 })
    const first = pins(800, 'a')
    await a.put(first)
    // Every shard has been written and dropped from the cache: each has a sketch now.
    const before = a.stats().decodes
    const changes: PinSetChange[] = []
    a.onChange(c => { changes.push(c) })
    const second = pins(800, 'b').map(r => ({ ...r, allocations: ['12D3KooWGzBnM5bWLyGvUXHcCk8R4DKi1HQ2t8ZuY2K5wY7Qn4Ys'] }))
    assert.equal(a.getMany(second.map(r => r.cid)).size, 0)
    await a.put(second)
    assert.ok(a.stats().decodes - before <= 2, `${a.stats().decodes - before} decodes for 800 new pins in ${SHARDS} shards`)
    // Once written, the WAL's updates are read back from the WAL when needed, not kept in memory.
    assert.ok(a.stats().logBytes > 50_000)
    assert.equal(a.stats().walBytesInMemory, 0)
    assert.equal(a.size, 1600)
    assert.deepEqual(changes.flatMap(c => c.added).map(r => r.cid).sort(), cids(second))
    assert.ok(changes.every(c => c.local && c.updated.length === 0 && c.removed.length === 0))
    assert.deepEqual(changes.flatMap(c => c.added).find(r => r.cid === 'b5'), second[5])
    // Reads decode and find them, with every field.
    assert.deepEqual(a.get('b5'), second[5])
    assert.equal(a.has('b799'), true)
    assert.equal(a.has('nope'), false)
    await afterCrash(dir, b => {
      assert.equal(b.size, 1600)
      assert.deepEqual(b.get('b123'), second[123])
    }, { cachePins: 50 })
    // A checkpoint writes the blind-written shards' states without decoding them.
    const c0 = a.stats().decodes
    await a.checkpoint()
    assert.ok(a.stats().decodes - c0 <= 2, `${a.stats().decodes - c0} decodes for a checkpoint of ${SHARDS} shards`)
    // An update of a pin written blind, and its removal, go through the decoded shard.
    await a.put([{ ...(second[7] as PinRecord), name: 'renamed', updatedAt: 2000 }])
    await a.remove(['b8'])
    assert.equal(a.get('b7')?.name, 'renamed')
    assert.equal(a.has('b8'), false)
    await a.stop()
    const b = await open(dir, { cachePins: 50 })
    assert.equal(b.size, 1599)
    assert.deepEqual(cids(b.list()), cids([...first, ...second].filter(r => r.cid !== 'b8')))
    assert.equal(b.get('b7')?.name, 'renamed')
    assert.deepEqual(b.get('b9'), second[9])
    await b.stop()
  })
})

test('a peer takes another peer\'s new pins into shards it has not decoded; both end with equal digests and state vectors', async () => {
  await withTwo(async (a, b) => {
    await a.put(pins(600, 'x'))
    await converge(a, b)
    assert.equal(b.size, 600)
    const updates: Array<[number, Uint8Array, ReturnType<ShardedPinSet['epoch']>]> = []
    a.onLocalUpdate((shard, u, epoch) => { updates.push([shard, u, epoch]) })
    const changes: PinSetChange[] = []
    b.onChange(c => { changes.push(c) })
    await a.put(pins(600, 'y'))
    const before = b.stats().decodes
    for (const [shard, u, epoch] of updates) assert.equal(b.applyRemote(shard, [u], 'peerA', epoch), true)
    assert.ok(b.stats().decodes - before <= 2, `${b.stats().decodes - before} decodes at the receiving peer`)
    assert.equal(b.size, 1200)
    assert.equal(changes.flatMap(c => c.added).length, 600)
    assert.ok(changes.every(c => !c.local))
    // Applying them again changes nothing.
    for (const [shard, u, epoch] of updates) b.applyRemote(shard, [u], 'peerA', epoch)
    assert.equal(changes.flatMap(c => c.added).length, 600)
    const [sa, sb] = [a.summary(), b.summary()]
    for (let s = 0; s < a.shards; s++) {
      assert.deepEqual(sb[s], sa[s], `shard ${s} summary`)
      assert.deepEqual(b.stateVector(s), a.stateVector(s), `shard ${s} state vector`)
    }
    assert.equal(exchange(a, b), 0, 'nothing differs')
    assert.deepEqual(b.get('y3'), pin('y3'))
  }, { cachePins: 50 })
})

test('walks keep the shards they decode while the cache has room, and only then', async () => {
  await withDir(async (dir) => {
    const a = await open(dir, { cachePins: 10_000 })
    await a.put(pins(500))
    const walk = async (): Promise<number> => { let n = 0; for await (const batch of a.scan()) n += batch.length; return n }
    assert.equal(await walk(), 500)
    const decodes = a.stats().decodes
    assert.equal(await walk(), 500)
    assert.equal(a.stats().decodes, decodes, 'a second walk decodes nothing again')
    await a.stop()
    const b = await open(dir, { cachePins: 100 })
    const walkB = async (): Promise<number> => { let n = 0; for await (const batch of b.scan()) n += batch.length; return n }
    assert.equal(await walkB(), 500)
    // About 31 pins a shard: the walk keeps at most the 3 or 4 that fit in 100 pins, not all 16.
    assert.ok(b.stats().shardsDecoded <= 4, `${b.stats().shardsDecoded} shards left decoded by a walk of a pinset larger than the cache`)
    await b.stop()
  })
})
