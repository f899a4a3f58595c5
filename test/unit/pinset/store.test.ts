import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, readFile, writeFile, readdir, truncate } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { PinsetStore } from '../../../src/pinset/store.js'
import { YjsPinSet } from '../../../src/pinset/index.js'
import { InvalidDatastoreVersionError } from '../../../src/errors.js'
import type { PinRecord } from '../../../src/types.js'
import { captureLog } from '../../fixtures/log-capture.js'

// What a damaged pinset file does at open: what was dropped is said, the original is kept aside,
// everything before the damage is kept. (A full disk is tested on a real one in
// test/integration/full-disk.test.ts; re-sync from peers in test/integration/pinset-corruption.test.ts.)

async function withDir (fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pinmesh-store-'))
  try { await fn(dir) } finally { await rm(dir, { recursive: true, force: true }) }
}

/** A log of `n` frames of 100 bytes each (frame i filled with byte i), and no state file. */
async function logOf (dir: string, n: number): Promise<void> {
  const { store } = await PinsetStore.open(dir, pino({ level: 'silent' }))
  for (let i = 0; i < n; i++) await store.append(Buffer.alloc(100, i), 0)
  await store.close()
}

const FRAME = 12 + 100
const HEADER = 12

async function aside (dir: string, name: string): Promise<string[]> {
  return (await readdir(dir)).filter(f => f.startsWith(`${name}.corrupt-`))
}

test('a log truncated in the middle of a frame keeps the frames before it and says what it dropped', async () => {
  await withDir(async (dir) => {
    await logOf(dir, 5)
    await truncate(join(dir, 'pinset.log'), HEADER + 3 * FRAME + 40)
    const { logger, lines } = captureLog()
    const { store, loaded } = await PinsetStore.open(dir, logger)
    await store.close()
    assert.deepEqual(loaded.updates.map(u => u[0]), [0, 1, 2])
    assert.ok(lines().some(l => l.startsWith(`pinset log: dropped 40 bytes after frame 3 at offset ${HEADER + 3 * FRAME} (incomplete frame of 100 bytes)`)), lines().join('\n'))
  })
})

test('a flipped byte in a frame: the frames before it are kept, the rest is dropped, reported, and kept aside', async () => {
  await withDir(async (dir) => {
    await logOf(dir, 5)
    const path = join(dir, 'pinset.log')
    const original = await readFile(path)
    const bad = Buffer.from(original)
    bad.writeUInt8(bad.readUInt8(HEADER + 2 * FRAME + 50) ^ 0x40, HEADER + 2 * FRAME + 50)
    await writeFile(path, bad)
    const { logger, lines } = captureLog()
    const { store, loaded } = await PinsetStore.open(dir, logger)
    assert.deepEqual(loaded.updates.map(u => u[0]), [0, 1])
    const files = await aside(dir, 'pinset.log')
    assert.equal(files.length, 1)
    assert.deepEqual(await readFile(join(dir, files[0] as string)), bad, 'the damaged log is kept as it was')
    const said = `pinset log: dropped ${3 * FRAME} bytes after frame 2 at offset ${HEADER + 2 * FRAME} (checksum mismatch); the original is kept as ${files[0]}`
    assert.ok(lines().some(l => l.startsWith(said)), lines().join('\n'))
    assert.deepEqual(loaded.dropped.map(d => d.slice(0, said.length)), [said])
    // Appends go on after the last good frame.
    await store.append(Buffer.alloc(100, 9), 0)
    await store.close()
    const again = await PinsetStore.open(dir, logger)
    await again.store.close()
    assert.deepEqual(again.loaded.updates.map(u => u[0]), [0, 1, 9])
  })
})

test('a flipped byte in a frame\'s epoch number is caught by its checksum, not skipped as another epoch', async () => {
  await withDir(async (dir) => {
    await logOf(dir, 3)
    const path = join(dir, 'pinset.log')
    const bad = await readFile(path)
    bad.writeUInt8(bad.readUInt8(HEADER + FRAME + 11) ^ 0x01, HEADER + FRAME + 11)
    await writeFile(path, bad)
    const { logger, lines } = captureLog()
    const { store, loaded } = await PinsetStore.open(dir, logger)
    await store.close()
    assert.deepEqual(loaded.updates.map(u => u[0]), [0])
    assert.ok(lines().some(l => l.includes('(checksum mismatch)')), lines().join('\n'))
  })
})

test('a log with a garbage header is moved aside, reported, and a new log started', async () => {
  await withDir(async (dir) => {
    await logOf(dir, 2)
    const path = join(dir, 'pinset.log')
    const bad = await readFile(path)
    bad.write('GARBAGE!', 0)
    await writeFile(path, bad)
    const { logger, lines } = captureLog()
    const { store, loaded } = await PinsetStore.open(dir, logger)
    assert.deepEqual(loaded.updates, [])
    const files = await aside(dir, 'pinset.log')
    assert.equal(files.length, 1)
    assert.deepEqual(await readFile(join(dir, files[0] as string)), bad)
    assert.ok(lines().some(l => l === `pinset log unreadable (not a pinmesh pinset file: bad magic bytes): moved to ${files[0]}; ${bad.length} bytes of updates dropped, to be re-synced from peers`), lines().join('\n'))
    await store.append(Buffer.alloc(10, 7), 0)
    await store.close()
    assert.deepEqual((await PinsetStore.open(dir, logger)).loaded.updates.map(u => u[0]), [7])
  })
})

test('a log of an unknown format version is not damage: the peer refuses to start and moves nothing', async () => {
  await withDir(async (dir) => {
    await logOf(dir, 1)
    const path = join(dir, 'pinset.log')
    const bad = await readFile(path)
    bad.writeUInt32BE(99, 8)
    await writeFile(path, bad)
    await assert.rejects(PinsetStore.open(dir, pino({ level: 'silent' })), { name: InvalidDatastoreVersionError.NAME })
    assert.deepEqual(await aside(dir, 'pinset.log'), [])
  })
})

function pin (cid: string): PinRecord {
  return { cid, name: cid, mode: 'recursive', replicationMin: -1, replicationMax: -1, allocations: [], metadata: {}, createdAt: 1000, updatedAt: 1000, updatedBy: 'peerA' }
}

/** A pinset with pins a..c compacted into the state file, and d in the log. */
async function compacted (dir: string): Promise<void> {
  const p = new YjsPinSet({ logger: pino({ level: 'silent' }) }, { dir, trusted: true })
  await p.start()
  await p.put(['a', 'b', 'c'].map(pin))
  await p.compact()
  await p.put([pin('d')])
  await p.stop()
}

for (const [name, damage] of [
  ['a flipped byte in its pins', (b: Buffer) => { b.writeUInt8(b.readUInt8(b.length - 20) ^ 0x20, b.length - 20) }],
  ['a garbage header', (b: Buffer) => { b.write('NOTSTATE', 0) }],
  ['a truncated body', (b: Buffer) => b.subarray(0, b.length - 30)],
  ['a truncated header', (b: Buffer) => b.subarray(0, 10)]
] as const) {
  test(`a state file with ${name}: the pinset starts empty, says so, and keeps both files aside`, async () => {
    await withDir(async (dir) => {
      await compacted(dir)
      const path = join(dir, 'pinset.state')
      const original = await readFile(path)
      const bad = Buffer.from(original)
      const damaged = damage(bad) ?? bad
      await writeFile(path, damaged)
      const { logger, lines } = captureLog()
      const p = new YjsPinSet({ logger }, { dir, trusted: true })
      await p.start()
      try {
        assert.equal(p.size, 0)
        const states = await aside(dir, 'pinset.state')
        const logs = await aside(dir, 'pinset.log')
        assert.equal(states.length, 1)
        assert.equal(logs.length, 1)
        assert.deepEqual(await readFile(join(dir, states[0] as string)), damaged, 'the damaged state is kept as it was')
        assert.ok(lines().some(l => /^pinset state file unreadable \(.+\): moved to pinset\.state\.corrupt-\S+ and pinset\.log\.corrupt-\S+; starting empty and re-syncing from peers$/.test(l)), lines().join('\n'))
        // It serves and persists new writes.
        await p.put([pin('e')])
      } finally {
        await p.stop()
      }
      const again = new YjsPinSet({ logger }, { dir, trusted: true })
      await again.start()
      assert.deepEqual([...again.list()].map(r => r.cid), ['e'])
      await again.stop()
    })
  })
}

test('a version 1 log takes new frames in its own format until the next compaction, and they load', async () => {
  await withDir(async (dir) => {
    for (const f of ['pinset.state', 'pinset.log']) await writeFile(join(dir, f), await readFile(new URL(`../../fixtures/pinset-v1/${f}`, import.meta.url)))
    const logger = pino({ level: 'silent' })
    const a = new YjsPinSet({ logger }, { dir, trusted: true })
    await a.start()
    const before = a.size
    await a.put([pin('bafkreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa9')])
    await a.stop()
    assert.equal((await readFile(join(dir, 'pinset.log'))).readUInt32BE(8), 1)
    const { logger: seen, lines } = captureLog()
    const b = new YjsPinSet({ logger: seen }, { dir, trusted: true })
    await b.start()
    assert.equal(b.size, before + 1)
    await b.stop()
    assert.deepEqual(lines(), [], 'nothing dropped')
  })
})
