import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, readFile, writeFile, readdir, truncate, mkdir, copyFile, cp, open } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { ShardStore, type ShardMeta, type WalFrame } from '../../../src/pinset/shard-store.js'
import { PinsetStore } from '../../../src/pinset/store.js'
import { InvalidDatastoreVersionError, PinsetWriteError } from '../../../src/errors.js'
import { captureLog } from '../../fixtures/log-capture.js'

const silent = pino({ level: 'silent' })
const HEADER = 12
/** A frame of a 100-byte update. */
const FRAME = 16 + 100

async function withDir (fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pinmesh-shards-'))
  try { await fn(dir) } finally { await rm(dir, { recursive: true, force: true }) }
}

function meta (n: number, pins: number, pkg?: Uint8Array): ShardMeta {
  return { epoch: { n, leader: `leader${n}` }, pins, tombstones: pins * 2, digest: Buffer.alloc(16, pins), ...(pkg === undefined ? {} : { package: pkg }) }
}

/** What a frame is in the tests: its shard, epoch, and the byte its update is filled with. */
function id (f: WalFrame): string { return `${f.shard}/${f.epoch}/${f.update[0]}` }

async function segments (dir: string): Promise<string[]> {
  return (await readdir(dir)).filter(f => /^wal-\d{8}\.log$/.test(f)).sort()
}

test('round trip: frames of several shards and epochs and the states written are what a reopen finds', async () => {
  await withDir(async (dir) => {
    const { store, shards, metas, wal, legacy, dropped } = await ShardStore.open(dir, silent, { shards: 1024 })
    assert.deepEqual({ shards, metas: metas.size, wal, legacy, dropped }, { shards: 1024, metas: 0, wal: [], legacy: false, dropped: [] })
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')), { format: 3, shards: 1024 })
    const written = [[0, 0, 1], [5, 0, 2], [1023, 3, 3], [5, 1, 4], [0, 0, 5]] as const
    for (const [shard, epoch, fill] of written) await store.append(shard, Buffer.alloc(100, fill), epoch)
    assert.equal(store.walBytes, HEADER + written.length * FRAME)
    const pkg = Buffer.from('an epoch package')
    await store.writeStates([
      { shard: 5, meta: meta(1, 10, pkg), state: Buffer.from('state of five') },
      { shard: 1023, meta: meta(3, 0), state: new Uint8Array(0) }
    ])
    await store.close()
    assert.deepEqual((await readdir(join(dir, 'shards'))).sort(), ['005.state', '3ff.state'])

    const again = await ShardStore.open(dir, silent, { shards: 1024 })
    try {
      assert.deepEqual(again.wal.map(id), written.map(([s, e, f]) => `${s}/${e}/${f}`))
      assert.deepEqual(again.wal.map(f => f.update.length), written.map(() => 100))
      assert.deepEqual([...again.metas.keys()].sort((a, b) => a - b), [5, 1023])
      assert.deepEqual(again.metas.get(5), meta(1, 10, pkg))
      assert.deepEqual(again.metas.get(1023), meta(3, 0))
      assert.deepEqual(again.dropped, [])
      const five = again.store.readState(5)
      assert.deepEqual(five?.meta, meta(1, 10, pkg))
      assert.equal(Buffer.from(five?.state ?? []).toString(), 'state of five')
      assert.equal(again.store.readState(1023)?.state.length, 0)
      assert.equal(again.store.readState(6), undefined)
      // A state written again replaces the old one; given twice at once, the last one is written.
      await again.store.writeStates([{ shard: 5, meta: meta(2, 11), state: Buffer.alloc(300_000, 1) }, { shard: 5, meta: meta(2, 11), state: Buffer.from('second') }])
      assert.equal(Buffer.from(again.store.readState(5)?.state ?? []).toString(), 'second')
      assert.deepEqual((await readdir(join(dir, 'shards'))).sort(), ['005.state', '3ff.state'], 'no temporary file left')
      // Appends go on after the frames found.
      await again.store.append(7, Buffer.alloc(100, 6), 2)
    } finally {
      await again.store.close()
    }
    const third = await ShardStore.open(dir, silent, { shards: 1024 })
    await third.store.close()
    assert.deepEqual(third.wal.map(id).at(-1), '7/2/6')
    assert.equal(third.wal.length, written.length + 1)
  })
})

test('group commit: concurrent appends share fdatasyncs, and each resolves only once its frame is in the file', async (t) => {
  await withDir(async (dir) => {
    const { store } = await ShardStore.open(dir, silent, { shards: 16 })
    const probe = await open(join(dir, 'probe'), 'w')
    const datasync = t.mock.method(Object.getPrototypeOf(probe) as { datasync: () => Promise<void> }, 'datasync')
    await probe.close()
    const [segment] = await segments(dir)
    const n = 200
    const order: number[] = []
    await Promise.all(Array.from({ length: n }, async (_, i) => {
      await store.append(i % 16, Buffer.alloc(100, i), 0)
      // Durable before acknowledged: the frame is in the segment when its append resolves.
      const file = readFileSync(join(dir, segment as string))
      assert.ok(file.length >= HEADER + (i + 1) * FRAME && file[HEADER + i * FRAME + 16] === i, `frame ${i} is in the file when acknowledged`)
      order.push(i)
    }))
    const syncs = datasync.mock.callCount()
    t.diagnostic(`${n} concurrent appends: ${syncs} fdatasyncs`)
    assert.ok(syncs >= 1 && syncs <= 5, `${syncs} fdatasyncs for ${n} concurrent appends`)
    assert.equal(order.length, n)
    // One at a time, each append has its own.
    datasync.mock.resetCalls()
    for (let i = 0; i < 5; i++) await store.append(0, Buffer.alloc(10, i), 0)
    assert.equal(datasync.mock.callCount(), 5)
    await store.close()
    const again = await ShardStore.open(dir, silent, { shards: 16 })
    await again.store.close()
    assert.deepEqual(again.wal.slice(0, n).map(f => f.update[0]), [...Array(n).keys()], 'frames in the order appended')
  })
})

test('rotate and dropSegmentsBefore: appends racing a rotation are kept, in the segment of their time; the older segments go', async () => {
  await withDir(async (dir) => {
    const { store } = await ShardStore.open(dir, silent, { shards: 4 })
    await store.append(0, Buffer.alloc(100, 1), 0)
    const before = [2, 3, 4].map(i => store.append(i % 4, Buffer.alloc(100, i), 0))
    const rotation = store.rotate()
    const after = [5, 6, 7].map(i => store.append(i % 4, Buffer.alloc(100, i), 0))
    const seq = await rotation
    await Promise.all([...before, ...after])
    await store.append(0, Buffer.alloc(100, 8), 0)
    assert.deepEqual(await segments(dir), ['wal-00000001.log', 'wal-00000002.log'])
    assert.equal(seq, 2)
    assert.equal(store.walBytes, 2 * HEADER + 8 * FRAME)
    const inNew = (await readFile(join(dir, 'wal-00000002.log')))
    assert.equal(inNew.length, HEADER + 4 * FRAME)
    assert.deepEqual([0, 1, 2, 3].map(i => inNew[HEADER + i * FRAME + 16]), [5, 6, 7, 8], 'the appends made after rotate() are in the new segment')
    await store.close()

    const reopened = await ShardStore.open(dir, silent, { shards: 4 })
    assert.deepEqual(reopened.wal.map(f => f.update[0]), [1, 2, 3, 4, 5, 6, 7, 8], 'every segment is read, oldest first')
    await reopened.store.dropSegmentsBefore(2)
    assert.deepEqual(await segments(dir), ['wal-00000002.log'])
    assert.equal(reopened.store.walBytes, HEADER + 4 * FRAME)
    await reopened.store.append(1, Buffer.alloc(100, 9), 0)
    await reopened.store.close()
    const last = await ShardStore.open(dir, silent, { shards: 4 })
    await last.store.close()
    assert.deepEqual(last.wal.map(f => f.update[0]), [5, 6, 7, 8, 9])
  })
})

test('many rotations racing appends lose no frame', async () => {
  await withDir(async (dir) => {
    const { store } = await ShardStore.open(dir, silent, { shards: 4 })
    const work: Array<Promise<unknown>> = []
    for (let i = 0; i < 100; i++) {
      work.push(store.append(i % 4, Buffer.alloc(10, i), 0))
      if (i % 7 === 0) work.push(store.rotate())
    }
    await Promise.all(work)
    await store.close()
    const again = await ShardStore.open(dir, silent, { shards: 4 })
    await again.store.close()
    assert.deepEqual(again.wal.map(f => f.update[0]), [...Array(100).keys()])
    assert.equal((await segments(dir)).length, 16)
  })
})

/** A store with `n` frames of 100 bytes (frame i filled with i, shard i) in one segment. */
async function walOf (dir: string, n: number): Promise<string> {
  const { store } = await ShardStore.open(dir, silent, { shards: 16 })
  for (let i = 0; i < n; i++) await store.append(i, Buffer.alloc(100, i), 0)
  await store.close()
  return join(dir, 'wal-00000001.log')
}

test('a segment truncated in the middle of a frame: the frames before are kept, the tail dropped with a warning, appends go on', async () => {
  await withDir(async (dir) => {
    const path = await walOf(dir, 5)
    await truncate(path, HEADER + 3 * FRAME + 40)
    const { logger, lines } = captureLog()
    const { store, wal, dropped } = await ShardStore.open(dir, logger, { shards: 16 })
    assert.deepEqual(wal.map(f => f.update[0]), [0, 1, 2])
    assert.deepEqual(dropped, [], 'a torn tail is a crash, not damage')
    assert.ok(lines().some(l => l.startsWith(`pinset WAL wal-00000001.log: dropped 40 bytes after frame 3 at offset ${HEADER + 3 * FRAME} (incomplete frame of 100 bytes)`)), lines().join('\n'))
    assert.equal((await readFile(path)).length, HEADER + 3 * FRAME, 'cut back to its last whole frame')
    await store.append(9, Buffer.alloc(100, 9), 0)
    await store.close()
    const again = await ShardStore.open(dir, logger, { shards: 16 })
    await again.store.close()
    assert.deepEqual(again.wal.map(f => f.update[0]), [0, 1, 2, 9])
  })
})

for (const [what, offset] of [['update', 50], ['shard number', 11], ['epoch number', 15]] as const) {
  test(`a flipped byte in a frame's ${what}: the segment is copied aside, the frames before it kept, and dropped says what was lost`, async () => {
    await withDir(async (dir) => {
      const path = await walOf(dir, 5)
      const bad = await readFile(path)
      bad.writeUInt8(bad.readUInt8(HEADER + 2 * FRAME + offset) ^ 0x01, HEADER + 2 * FRAME + offset)
      await writeFile(path, bad)
      const { logger, lines } = captureLog()
      const { store, wal, dropped } = await ShardStore.open(dir, logger, { shards: 16 })
      assert.deepEqual(wal.map(f => f.update[0]), [0, 1])
      const aside = (await readdir(dir)).filter(f => f.startsWith('wal-00000001.log.corrupt-'))
      assert.equal(aside.length, 1)
      assert.deepEqual(await readFile(join(dir, aside[0] as string)), bad, 'the damaged segment is kept as it was')
      const said = `pinset WAL wal-00000001.log: dropped ${3 * FRAME} bytes after frame 2 at offset ${HEADER + 2 * FRAME} (checksum mismatch); the original is kept as ${aside[0]}`
      assert.deepEqual(dropped.map(d => d.slice(0, said.length)), [said])
      assert.ok(lines().some(l => l.startsWith(said)), lines().join('\n'))
      await store.append(9, Buffer.alloc(100, 9), 0)
      await store.close()
      const again = await ShardStore.open(dir, logger, { shards: 16 })
      await again.store.close()
      assert.deepEqual(again.wal.map(f => f.update[0]), [0, 1, 9])
      assert.deepEqual(again.dropped, [])
    })
  })
}

test('damage in an older segment drops only its tail: the newer segments are read', async () => {
  await withDir(async (dir) => {
    const { store } = await ShardStore.open(dir, silent, { shards: 4 })
    for (let i = 0; i < 3; i++) await store.append(0, Buffer.alloc(100, i), 0)
    await store.rotate()
    for (let i = 3; i < 5; i++) await store.append(0, Buffer.alloc(100, i), 0)
    await store.close()
    const path = join(dir, 'wal-00000001.log')
    const bad = await readFile(path)
    bad.writeUInt8(bad.readUInt8(HEADER + FRAME + 30) ^ 0xff, HEADER + FRAME + 30)
    await writeFile(path, bad)
    const { wal, dropped, store: again } = await ShardStore.open(dir, silent, { shards: 4 })
    await again.close()
    assert.deepEqual(wal.map(f => f.update[0]), [0, 3, 4])
    assert.equal(dropped.length, 1)
  })
})

test('a segment with a garbage header is moved aside and said; a segment of an unknown version refuses the start', async () => {
  await withDir(async (dir) => {
    const path = await walOf(dir, 2)
    const bad = await readFile(path)
    bad.write('GARBAGE!', 0)
    await writeFile(path, bad)
    const { store, wal, dropped } = await ShardStore.open(dir, silent, { shards: 16 })
    assert.deepEqual(wal, [])
    assert.equal(dropped.length, 1)
    assert.match(dropped[0] as string, /^pinset WAL segment wal-00000001\.log unreadable \(not a pinmesh pinset file: bad magic bytes\): moved to wal-00000001\.log\.corrupt-\S+; 244 bytes of updates dropped/)
    await store.append(1, Buffer.alloc(10, 7), 0)
    await store.close()
    assert.deepEqual(await segments(dir), ['wal-00000002.log'])
    const newer = await readFile(join(dir, 'wal-00000002.log'))
    newer.writeUInt32BE(4, 8)
    await writeFile(join(dir, 'wal-00000002.log'), newer)
    await assert.rejects(ShardStore.open(dir, silent, { shards: 16 }), { name: InvalidDatastoreVersionError.NAME })
    assert.deepEqual(await segments(dir), ['wal-00000002.log'], 'nothing moved')
  })
})

async function asideIn (dir: string, name: string): Promise<string> {
  const found = (await readdir(dir)).filter(f => f.startsWith(`${name}.corrupt-`))
  assert.equal(found.length, 1, `${name} set aside once`)
  return found[0] as string
}

test('a state file whose start is unreadable: open sets it aside and says so in dropped', async () => {
  await withDir(async (dir) => {
    const { store } = await ShardStore.open(dir, silent, { shards: 64 })
    await store.writeStates([0x07, 0x08, 0x09, 0x3f].map(shard => ({ shard, meta: meta(1, shard), state: Buffer.alloc(1000, shard) })))
    await store.close()
    const shards = join(dir, 'shards')
    const damage = { '007.state': (b: Buffer) => { b.write('NOTSHARD', 0); return b }, '008.state': (b: Buffer) => b.subarray(0, 30), '009.state': (b: Buffer) => { b.write('}', 20); return b } }
    const bad: Record<string, Buffer> = {}
    for (const [name, fn] of Object.entries(damage)) {
      bad[name] = fn(await readFile(join(shards, name)))
      await writeFile(join(shards, name), bad[name] as Buffer)
    }
    const { logger, lines } = captureLog()
    const opened = await ShardStore.open(dir, logger, { shards: 64 })
    await opened.store.close()
    assert.deepEqual([...opened.metas.keys()], [0x3f])
    const said: string[] = []
    for (const [shard, name, why] of [[7, '007.state', 'not a pinmesh pinset file: bad magic bytes'], [8, '008.state', 'truncated in its metadata'], [9, '009.state', 'metadata is not JSON: ']] as const) {
      const aside = await asideIn(shards, name)
      assert.deepEqual(await readFile(join(shards, aside)), bad[name], 'kept as it was')
      said.push(`shard ${shard} state file unreadable (${why}`)
      assert.ok(opened.dropped.some(d => d.startsWith(said.at(-1) as string) && d.endsWith(`): moved to shards/${aside}; its ${(bad[name] as Buffer).length} bytes dropped, the shard is re-synced from peers`)), opened.dropped.join('\n'))
    }
    assert.equal(opened.dropped.length, 3)
    assert.deepEqual(lines().filter(l => said.some(s => l.startsWith(s))).length, 3, lines().join('\n'))
  })
})

test('a state file damaged further in (its checksum): readState returns undefined, renames it aside and logs', async () => {
  await withDir(async (dir) => {
    const { store } = await ShardStore.open(dir, silent, { shards: 64 })
    await store.writeStates([0x2a, 0x3f].map(shard => ({ shard, meta: meta(1, shard), state: Buffer.alloc(1000, shard) })))
    const path = join(dir, 'shards', '02a.state')
    const bad = await readFile(path)
    bad.writeUInt8(bad.readUInt8(bad.length - 10) ^ 0x01, bad.length - 10)
    await writeFile(path, bad)
    const { logger, lines } = captureLog()
    const opened = await ShardStore.open(dir, logger, { shards: 64 })
    try {
      assert.deepEqual(opened.dropped, [])
      assert.equal(opened.store.readState(0x2a), undefined)
      const aside = await asideIn(join(dir, 'shards'), '02a.state')
      assert.deepEqual(await readFile(join(dir, 'shards', aside)), bad)
      assert.ok(lines().includes(`shard 42 state file unreadable (checksum mismatch): moved to shards/${aside}; its ${bad.length} bytes dropped, the shard is re-synced from peers`), lines().join('\n'))
      assert.equal(opened.store.readState(0x2a), undefined, 'it has no state file now')
      assert.equal(opened.store.readState(0x3f)?.state.length, 1000)
      // Truncated in its document, after open.
      const other = join(dir, 'shards', '03f.state')
      await writeFile(other, (await readFile(other)).subarray(0, 500))
      assert.equal(opened.store.readState(0x3f), undefined)
      await asideIn(join(dir, 'shards'), '03f.state')
    } finally {
      await store.close()
      await opened.store.close()
    }
  })
})

test('open reads a state file whose meta and package are larger than its first read', async () => {
  await withDir(async (dir) => {
    const { store } = await ShardStore.open(dir, silent, { shards: 4 })
    const pkg = Buffer.alloc(200 * 1024, 7)
    await store.writeStates([{ shard: 1, meta: meta(2, 5, pkg), state: Buffer.alloc(10, 1) }])
    await store.close()
    const opened = await ShardStore.open(dir, silent, { shards: 4 })
    await opened.store.close()
    assert.deepEqual(opened.metas.get(1), meta(2, 5, pkg))
    assert.deepEqual(opened.dropped, [])
  })
})

test('a temporary state file left by a crash is removed at open; the state beside it is kept', async () => {
  await withDir(async (dir) => {
    const { store } = await ShardStore.open(dir, silent, { shards: 8 })
    await store.writeStates([{ shard: 1, meta: meta(0, 1), state: Buffer.from('whole') }])
    await store.close()
    await writeFile(join(dir, 'shards', '001.state.tmp'), 'half-writ')
    const again = await ShardStore.open(dir, silent, { shards: 8 })
    assert.deepEqual(await readdir(join(dir, 'shards')), ['001.state'])
    assert.equal(Buffer.from(again.store.readState(1)?.state ?? []).toString(), 'whole')
    await again.store.close()
  })
})

for (const version of ['v1', 'v2']) {
  test(`a single-document pinset of format ${version.slice(1)} is legacy: no manifest until completeMigration, which keeps its files as *.pre-shard`, async () => {
    await withDir(async (dir) => {
      await cp(new URL(`../../fixtures/pinset-${version}/`, import.meta.url), dir, { recursive: true, filter: src => !src.endsWith('.md') })
      // It is what the legacy reader reads (for v2: with pins in both the state and the log).
      const { store: old, loaded } = await PinsetStore.open(dir, silent)
      await old.close()
      assert.ok(loaded.state !== undefined && loaded.updates.length > 0)
      assert.equal((await readFile(join(dir, 'pinset.state'))).readUInt32BE(8), Number(version.slice(1)))

      const opened = await ShardStore.open(dir, silent, { shards: 256 })
      assert.equal(opened.legacy, true)
      assert.equal(opened.shards, 256)
      assert.deepEqual(opened.wal, [])
      await opened.store.writeStates([{ shard: 3, meta: meta(0, 2), state: Buffer.from('migrated') }])
      await opened.store.append(3, Buffer.alloc(10, 1), 0)
      assert.ok(!(await readdir(dir)).includes('manifest.json'))
      await opened.store.completeMigration()
      assert.deepEqual(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')), { format: 3, shards: 256 })
      const files = await readdir(dir)
      assert.ok(files.includes('pinset.state.pre-shard') && files.includes('pinset.log.pre-shard'), files.join(' '))
      assert.ok(!files.includes('pinset.state') && !files.includes('pinset.log'))
      await opened.store.close()
      const again = await ShardStore.open(dir, silent, { shards: 256 })
      await again.store.close()
      assert.equal(again.legacy, false)
      assert.deepEqual([...again.metas.keys()], [3])
      assert.equal(again.wal.length, 1)
    })
  })
}

test('legacy: a log alone counts; shard files of a migration that did not complete are removed; a manifest written before the renames finishes them', async () => {
  await withDir(async (dir) => {
    await copyFile(new URL('../../fixtures/pinset-v2/pinset.log', import.meta.url), join(dir, 'pinset.log'))
    const first = await ShardStore.open(dir, silent, { shards: 4 })
    assert.equal(first.legacy, true)
    await first.store.writeStates([{ shard: 2, meta: meta(0, 1), state: Buffer.from('half a migration') }])
    await first.store.append(2, Buffer.alloc(10, 1), 0)
    await first.store.close()
    // The peer stopped before completeMigration: it migrates again, from nothing but the legacy files.
    const second = await ShardStore.open(dir, silent, { shards: 4 })
    assert.equal(second.legacy, true)
    assert.deepEqual({ metas: second.metas.size, wal: second.wal }, { metas: 0, wal: [] })
    assert.equal(second.store.readState(2), undefined)
    await second.store.close()
    // The manifest is written, the renames are not: the next start does them.
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ format: 3, shards: 4 }))
    const third = await ShardStore.open(dir, silent, { shards: 4 })
    await third.store.close()
    assert.equal(third.legacy, false)
    const files = await readdir(dir)
    assert.ok(files.includes('pinset.log.pre-shard') && !files.includes('pinset.log'), files.join(' '))
  })
})

test('manifest.json: an unknown format refuses the start; its shard count wins over the configured one, with a warning', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ format: 4, shards: 16 }))
    await assert.rejects(ShardStore.open(dir, silent, { shards: 16 }), (err: Error) => {
      assert.equal(err.name, InvalidDatastoreVersionError.NAME)
      assert.match(err.message, /format 4; this pinmesh reads format 3/)
      return true
    })
    assert.deepEqual(await readdir(dir), ['manifest.json'], 'nothing written')
    await writeFile(join(dir, 'manifest.json'), 'not json')
    await assert.rejects(ShardStore.open(dir, silent, { shards: 16 }), { name: InvalidDatastoreVersionError.NAME })
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ format: 3, shards: 12 }))
    await assert.rejects(ShardStore.open(dir, silent, { shards: 16 }), { name: InvalidDatastoreVersionError.NAME })

    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ format: 3, shards: 16 }))
    const { logger, lines } = captureLog()
    const { store, shards } = await ShardStore.open(dir, logger, { shards: 1024 })
    await store.close()
    assert.equal(shards, 16)
    assert.ok(lines().some(l => l.startsWith('the pinset directory has 16 shards (manifest.json), not the 1024 configured')), lines().join('\n'))
    // Without its manifest, a directory of shard files cannot be read: which shard count?
    await rm(join(dir, 'manifest.json'))
    await assert.rejects(ShardStore.open(dir, silent, { shards: 1024 }), (err: Error) => err.name === InvalidDatastoreVersionError.NAME && /holds shard files but no manifest\.json/.test(err.message))
    assert.ok(!(await readdir(dir)).includes('manifest.json'), 'no manifest written')
  })
})

test('writeStates that fails leaves no temporary file and rejects with PinsetWriteError', async () => {
  await withDir(async (dir) => {
    const { store } = await ShardStore.open(dir, silent, { shards: 8 })
    await store.writeStates([{ shard: 0, meta: meta(0, 1), state: Buffer.from('old') }])
    // A directory where shard 1's state file goes: its rename fails.
    await mkdir(join(dir, 'shards', '001.state'))
    await writeFile(join(dir, 'shards', '001.state', 'x'), '')
    await assert.rejects(store.writeStates([
      { shard: 0, meta: meta(1, 1), state: Buffer.from('new') },
      { shard: 1, meta: meta(1, 1), state: Buffer.from('new') }
    ]), { name: PinsetWriteError.NAME })
    assert.deepEqual((await readdir(join(dir, 'shards'))).sort(), ['000.state', '001.state'])
    assert.ok(['old', 'new'].includes(Buffer.from(store.readState(0)?.state ?? []).toString()))
    await store.close()
  })
})

test('diagnostic: open time with 1024 state files of 100 KB', async (t) => {
  await withDir(async (dir) => {
    const { store } = await ShardStore.open(dir, silent, { shards: 1024 })
    await store.writeStates([{ shard: 0, meta: meta(1, 700), state: Buffer.alloc(100 * 1024, 0x5a) }])
    await store.close()
    const one = join(dir, 'shards', '000.state')
    for (let s = 1; s < 1024; s++) await copyFile(one, join(dir, 'shards', `${s.toString(16).padStart(3, '0')}.state`))
    const times: number[] = []
    for (let i = 0; i < 3; i++) {
      const start = performance.now()
      const opened = await ShardStore.open(dir, silent, { shards: 1024 })
      times.push(performance.now() - start)
      assert.equal(opened.metas.size, 1024)
      await opened.store.close()
    }
    t.diagnostic(`open with 1024 state files of 100 KB (page cache warm after the first): ${times.map(ms => `${ms.toFixed(0)} ms`).join(', ')}`)
  })
})
