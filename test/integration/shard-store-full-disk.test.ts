import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { pino } from 'pino'
import { ShardStore } from '../../src/pinset/shard-store.js'
import { PinsetWriteError } from '../../src/errors.js'
import { smallDisk, fill } from '../fixtures/small-disk.js'

const log = pino({ level: 'silent' })
const HEADER = 12
const FRAME = 16 + 1000

/** Whole frames from the header to the end: a failed write left no torn frame behind. */
async function wholeFrames (path: string): Promise<number> {
  const size = (await readFile(path)).length
  assert.equal((size - HEADER) % FRAME, 0, `${path} ends in a whole frame (${size} bytes)`)
  return (size - HEADER) / FRAME
}

test('shard store on a full disk: a failed append is not acknowledged and leaves no torn frame; it is written first once space is back; no acknowledged frame is lost', async (t) => {
  const disk = await smallDisk(t, '256k')
  const dir = join(disk, 'pinset')
  const { store } = await ShardStore.open(dir, log, { shards: 8 })
  const acked: number[] = []
  const failed: number[] = []
  await store.append(0, Buffer.alloc(1000, 0), 0)
  acked.push(0)
  await fill(join(disk, 'filler'))
  // The segment's last page still has room for a few frames, then one is cut short, then none fits.
  for (let i = 1; i < 20; i++) {
    try {
      await store.append(i % 8, Buffer.alloc(1000, i), 0)
      acked.push(i)
    } catch (err) {
      assert.equal((err as Error).name, PinsetWriteError.NAME)
      assert.match((err as Error).message, /^cannot write the pinset to disk: ENOSPC/)
      failed.push(i)
    }
    assert.equal(await wholeFrames(join(dir, 'wal-00000001.log')), acked.length)
  }
  assert.ok(failed.length > 0, 'some appends failed on the full disk')
  // A checkpoint on the full disk fails too, and leaves nothing half-written.
  await assert.rejects(store.writeStates([{ shard: 1, meta: { epoch: { n: 0, leader: '' }, pins: 1, tombstones: 0, digest: new Uint8Array(16) }, state: Buffer.alloc(64 * 1024, 1) }]), { name: PinsetWriteError.NAME })
  assert.deepEqual(await readdir(join(dir, 'shards')).catch(() => []), [])
  await rm(join(disk, 'filler'))
  await store.append(1, Buffer.alloc(1000, 100), 0)
  acked.push(100)
  // The failed frames went first, in their order, then the new one.
  assert.equal(await wholeFrames(join(dir, 'wal-00000001.log')), 20 + 1)
  for (let i = 101; i < 103; i++) { await store.append(2, Buffer.alloc(1000, i), 0); acked.push(i) }
  await store.close()
  const again = await ShardStore.open(dir, log, { shards: 8 })
  await again.store.close()
  const found = again.wal.map(f => f.update[0] as number)
  assert.deepEqual(acked.filter(i => !found.includes(i)), [], `acknowledged frames found after reopening: ${found.join(',')}`)
  assert.deepEqual(found, [...Array(20).keys(), 100, 101, 102])
})

test('shard store on a full disk: a rotation that cannot create its segment rejects, leaves no half-made one, and the next write makes it once space is back; dropSegmentsBefore forgets failed frames the states hold', async (t) => {
  const disk = await smallDisk(t, '256k')
  const dir = join(disk, 'pinset')
  const { store } = await ShardStore.open(dir, log, { shards: 8 })
  await store.append(0, Buffer.alloc(1000, 0), 0)
  await fill(join(disk, 'filler'))
  await assert.rejects(store.rotate(), { name: PinsetWriteError.NAME })
  assert.deepEqual((await readdir(dir)).filter(f => f.startsWith('wal-')), ['wal-00000001.log'], 'no half-made segment')
  // Appends fail until there is space (frames for segment 2, which cannot be made).
  await assert.rejects(store.append(1, Buffer.alloc(1000, 1), 0), { name: PinsetWriteError.NAME })
  await rm(join(disk, 'filler'))
  await store.append(2, Buffer.alloc(1000, 2), 0)
  assert.deepEqual((await readdir(dir)).filter(f => f.startsWith('wal-')).sort(), ['wal-00000001.log', 'wal-00000002.log'])

  // A frame that failed before a rotation is forgotten by dropSegmentsBefore (the states written hold it).
  await fill(join(disk, 'filler'))
  let refused = 0
  for (let i = 3; i < 10 && refused === 0; i++) await store.append(3, Buffer.alloc(1000, i), 0).catch(() => { refused++ })
  assert.equal(refused, 1)
  await rm(join(disk, 'filler'))
  const seq = await store.rotate()
  await store.dropSegmentsBefore(seq)
  await store.append(4, Buffer.alloc(1000, 50), 0)
  await store.close()
  const again = await ShardStore.open(dir, log, { shards: 8 })
  await again.store.close()
  assert.deepEqual(again.wal.map(f => f.update[0]), [50])
})
