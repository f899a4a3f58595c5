import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { YjsPinSet } from '../../../src/pinset/index.js'
import { needsCompaction, isCompactionLeader, compareEpochs } from '../../../src/pinset/epoch.js'
import type { PinRecord } from '../../../src/types.js'

const logger = pino({ level: 'silent' })
const pin = (cid: string, updatedAt = 1): PinRecord => ({ cid, name: '', mode: 'recursive', replicationMin: -1, replicationMax: -1, allocations: [], metadata: {}, createdAt: 1, updatedAt, updatedBy: 'p' })

async function pair (t: { after: (fn: () => Promise<void>) => void }): Promise<[YjsPinSet, YjsPinSet, () => void]> {
  const dirs = await Promise.all([mkdtemp(join(tmpdir(), 'pinmesh-ep-')), mkdtemp(join(tmpdir(), 'pinmesh-ep-'))])
  const [a, b] = dirs.map(dir => new YjsPinSet({ logger }, { dir, trusted: true })) as [YjsPinSet, YjsPinSet]
  await a.start()
  await b.start()
  t.after(async () => { await a.stop(); await b.stop(); for (const d of dirs) await rm(d, { recursive: true, force: true }) })
  const sync = (): void => {
    a.applyRemote([a.diff(b.stateVector())].filter(() => false), 'x', a.epoch())
    b.applyRemote([a.diff(b.stateVector())], 'a', b.epoch())
    a.applyRemote([b.diff(a.stateVector())], 'b', a.epoch())
  }
  return [a, b, sync]
}

const keys = (p: YjsPinSet): string[] => [...p.list()].map(r => r.cid).sort()

test('a rebuilt epoch holds exactly the live pins and no tombstones', async (t) => {
  const [a] = await pair(t)
  await a.put(Array.from({ length: 3000 }, (_, i) => pin(`k${i}`)))
  // Every 10th pin survives: the deletions fragment the array into many tombstones.
  await a.remove(Array.from({ length: 3000 }, (_, i) => `k${i}`).filter((_, i) => i % 10 !== 0))
  assert.deepEqual(a.compactionFigures(), { pins: 300, tombstones: 300 })
  const before = keys(a)
  const epoch = await a.rebuild('leader-a')
  assert.deepEqual(epoch, { n: 1, leader: 'leader-a' })
  assert.deepEqual(keys(a), before)
  assert.equal(a.compactionFigures().tombstones, 0)
  assert.ok(a.stats().structs <= 1, `structs ${a.stats().structs}`)
})

test("a peer on the previous epoch moves across and carries its own changes since the rebuild's base", async (t) => {
  const [a, b, sync] = await pair(t)
  await a.put(['x', 'y', 'z', 'gone'].map(c => pin(c)))
  sync()
  assert.deepEqual(keys(b), ['gone', 'x', 'y', 'z'])
  await a.remove(['gone'])
  sync()
  await a.rebuild('leader-a')
  // Meanwhile b, still on epoch 0, pins w and unpins y (a never saw either).
  await b.put([pin('w', 5)])
  await b.remove(['y'])
  const offer = a.epochOffer()
  assert.ok(offer !== undefined)
  assert.equal(await b.adoptEpoch(offer, 'a'), true)
  assert.deepEqual(b.epoch(), a.epoch())
  assert.deepEqual(keys(b), ['w', 'x', 'z'])
  // b's migration writes reach a through ordinary updates of the new epoch.
  sync()
  assert.deepEqual(keys(a), ['w', 'x', 'z'])
  assert.equal(await b.adoptEpoch(offer, 'a'), false, 'an epoch is adopted once')
})

test('an epoch survives a restart and old-epoch log frames are ignored', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pinmesh-ep-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const a = new YjsPinSet({ logger }, { dir, trusted: true })
  await a.start()
  await a.put([pin('p1'), pin('p2')])
  await a.rebuild('me')
  await a.put([pin('p3')])
  await a.stop()
  const b = new YjsPinSet({ logger }, { dir, trusted: true })
  await b.start()
  assert.deepEqual(b.epoch(), { n: 1, leader: 'me' })
  assert.deepEqual(keys(b), ['p1', 'p2', 'p3'])
  assert.ok(b.epochOffer() !== undefined, 'the package is kept to move others')
  await b.stop()
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
