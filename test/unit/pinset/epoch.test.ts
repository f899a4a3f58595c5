import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, cp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { ShardedPinSet, shardOf } from '../../../src/pinset/index.js'
import { needsCompaction, isCompactionLeader, compareEpochs } from '../../../src/pinset/epoch.js'
import type { PinRecord } from '../../../src/types.js'

const logger = pino({ level: 'silent' })
const pin = (cid: string, updatedAt = 1): PinRecord => ({ cid, name: '', mode: 'recursive', replicationMin: -1, replicationMax: -1, allocations: [], metadata: {}, createdAt: 1, updatedAt, updatedBy: 'p' })

// Epochs are per shard: these tests drive one shard (S) of a pinset of a few, the others stay at epoch 0.
const SHARDS = 4
const S = 2
/** `n` CIDs that fall in shard S, named by `name(i)` for the i-th candidate tried. */
function inS (n: number, name: (i: number) => string): string[] {
  const out: string[] = []
  for (let i = 0; out.length < n; i++) if (shardOf(name(i), SHARDS) === S) out.push(name(i))
  return out
}
const open = async (dir: string): Promise<ShardedPinSet> => {
  const p = new ShardedPinSet({ logger }, { dir, trusted: true, shards: SHARDS })
  await p.start()
  return p
}

async function pair (t: { after: (fn: () => Promise<void>) => void }): Promise<[ShardedPinSet, ShardedPinSet, () => void]> {
  const dirs = await Promise.all([mkdtemp(join(tmpdir(), 'pinmesh-ep-')), mkdtemp(join(tmpdir(), 'pinmesh-ep-'))])
  const [a, b] = await Promise.all(dirs.map(open)) as [ShardedPinSet, ShardedPinSet]
  t.after(async () => { await a.stop(); await b.stop(); for (const d of dirs) await rm(d, { recursive: true, force: true }) })
  const sync = (): void => {
    b.applyRemote(S, [a.diff(S, b.stateVector(S))], 'a', b.epoch(S))
    a.applyRemote(S, [b.diff(S, a.stateVector(S))], 'b', a.epoch(S))
  }
  return [a, b, sync]
}

const keys = (p: ShardedPinSet): string[] => [...p.list()].map(r => r.cid).sort()
const [X, Y, Z, W, V, GONE] = inS(6, i => `c${i}`) as [string, string, string, string, string, string]

test('a rebuilt shard holds exactly the live pins and no tombstones; the other shards keep their epoch', async (t) => {
  const [a] = await pair(t)
  const all = inS(3000, i => `k${i}`)
  await a.put(all.map(c => pin(c)))
  // Every 10th pin survives: the deletions fragment the array into many tombstones.
  await a.remove(all.filter((_, i) => i % 10 !== 0))
  assert.deepEqual(a.compactionCandidates(300), [S])
  const before = keys(a)
  assert.equal(before.length, 300)
  const epoch = await a.rebuild(S, 'leader-a')
  assert.deepEqual(epoch, { n: 1, leader: 'leader-a' })
  assert.deepEqual(a.epoch(S), epoch)
  for (const other of [0, 1, 3]) assert.equal(a.epoch(other).n, 0)
  assert.deepEqual(keys(a), before)
  assert.deepEqual(a.compactionCandidates(1), [], 'no tombstones left')
  assert.ok(a.stats().structs <= 1, `structs ${a.stats().structs}`)
})

test("a peer on the previous epoch moves across and carries its own changes since the rebuild's base", async (t) => {
  const [a, b, sync] = await pair(t)
  await a.put([X, Y, Z, GONE].map(c => pin(c)))
  sync()
  assert.deepEqual(keys(b), [X, Y, Z, GONE].sort())
  await a.remove([GONE])
  sync()
  await a.rebuild(S, 'leader-a')
  // Meanwhile b, still on epoch 0, pins W and unpins Y (a never saw either).
  await b.put([pin(W, 5)])
  await b.remove([Y])
  const offer = a.epochOffer(S)
  assert.ok(offer !== undefined)
  assert.equal(await b.adoptEpoch(S, offer, 'a'), true)
  assert.deepEqual(b.epoch(S), a.epoch(S))
  assert.deepEqual(keys(b), [W, X, Z].sort())
  // b's migration writes reach a through ordinary updates of the new epoch.
  sync()
  assert.deepEqual(keys(a), [W, X, Z].sort())
  assert.equal(await b.adoptEpoch(S, offer, 'a'), false, 'an epoch is adopted once')
})

test('a peer two epochs behind moves to the newest, keeping its own pins (add-wins) and getting the leader\'s', async (t) => {
  const [a, b, sync] = await pair(t)
  await a.put([X, Y].map(c => pin(c)))
  sync()
  await a.rebuild(S, 'leader-a')
  await a.put([pin(Z, 3)])
  await a.rebuild(S, 'leader-a')
  assert.equal(a.epoch(S).n, 2)
  // b never saw epoch 1; it pinned V meanwhile.
  await b.put([pin(V, 4)])
  const offer = a.epochOffer(S)
  assert.ok(offer !== undefined)
  assert.equal(await b.adoptEpoch(S, offer, 'a'), true)
  assert.deepEqual(b.epoch(S), { n: 2, leader: 'leader-a' })
  sync()
  for (const p of [a, b]) assert.deepEqual(keys(p), [V, X, Y, Z].sort())
  assert.deepEqual(b.get(V), pin(V, 4))
})

test('an epoch survives a restart and old-epoch WAL frames are ignored', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pinmesh-ep-'))
  const copy = `${dir}-crash`
  t.after(async () => { for (const d of [dir, copy]) await rm(d, { recursive: true, force: true }) })
  const a = await open(dir)
  await a.put([pin(X), pin(Y)])
  await a.rebuild(S, 'me')
  await a.put([pin(Z)])
  // A crash (no checkpoint: the WAL still holds the epoch-0 frames), then a clean stop.
  await cp(dir, copy, { recursive: true })
  await a.stop()
  for (const d of [copy, dir]) {
    const b = await open(d)
    assert.deepEqual(b.epoch(S), { n: 1, leader: 'me' })
    assert.deepEqual(keys(b), [X, Y, Z].sort())
    assert.ok(b.epochOffer(S) !== undefined, 'the package is kept to move others')
    await b.stop()
  }
})

test('compaction policy: enough tombstones, outweighing live pins; the lowest trusted id leads', () => {
  assert.equal(needsCompaction({ pins: 10_000, tombstones: 10_000 }, 1000), true)
  assert.equal(needsCompaction({ pins: 10_000, tombstones: 4000 }, 1000), false)
  assert.equal(needsCompaction({ pins: 10, tombstones: 900 }, 1000), false)
  assert.equal(isCompactionLeader('a', ['b', 'c']), true)
  assert.equal(isCompactionLeader('b', ['a', 'c']), false)
  assert.equal(isCompactionLeader('a', []), true)
  assert.ok(compareEpochs({ n: 2, leader: 'a' }, { n: 1, leader: 'z' }) > 0)
  assert.ok(compareEpochs({ n: 1, leader: 'a' }, { n: 1, leader: 'b' }) < 0)
})
