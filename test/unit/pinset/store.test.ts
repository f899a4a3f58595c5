import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, readFile, writeFile, readdir, truncate } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { pino } from 'pino'
import { readLegacyPinset } from '../../../src/pinset/store.js'
import { fileHeader } from '../../../src/pinset/files.js'
import { ShardedPinSet } from '../../../src/pinset/index.js'
import { InvalidDatastoreVersionError } from '../../../src/errors.js'
import type { PinRecord } from '../../../src/types.js'
import { captureLog } from '../../fixtures/log-capture.js'

// The reader of the single-document pinset of earlier releases (migrated into shards on first
// start), on damaged files: what was dropped is said, the original is kept aside, everything
// before the damage is kept. (The sharded layout's own damage: shard-store.test.ts and
// test/integration/pinset-corruption.test.ts.)

async function withDir (fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pinmesh-store-'))
  try { await fn(dir) } finally { await rm(dir, { recursive: true, force: true }) }
}

/** A format 2 log of `n` frames of 100 bytes each (frame i filled with byte i) at epoch 0, and no state file. */
async function logOf (dir: string, n: number): Promise<void> {
  const frames = Array.from({ length: n }, (_, i) => {
    const frame = Buffer.alloc(12 + 100, i)
    frame.writeUInt32BE(100, 0)
    frame.writeUInt32BE(0, 8)
    frame.writeUInt32BE(crc32(frame.subarray(12), crc32(frame.subarray(8, 12))), 4)
    return frame
  })
  await writeFile(join(dir, 'pinset.log'), Buffer.concat([fileHeader(Buffer.from('PMLOG\0\0\0'), 2), ...frames]))
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
    const loaded = await readLegacyPinset(dir, logger)
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
    const loaded = await readLegacyPinset(dir, logger)
    assert.deepEqual(loaded.updates.map(u => u[0]), [0, 1])
    const files = await aside(dir, 'pinset.log')
    assert.equal(files.length, 1)
    assert.deepEqual(await readFile(join(dir, files[0] as string)), bad, 'the damaged log is kept as it was')
    const said = `pinset log: dropped ${3 * FRAME} bytes after frame 2 at offset ${HEADER + 2 * FRAME} (checksum mismatch); the original is kept as ${files[0]}`
    assert.ok(lines().some(l => l.startsWith(said)), lines().join('\n'))
    assert.deepEqual(loaded.dropped.map(d => d.slice(0, said.length)), [said])
    // The log is cut back to its last good frame: read again, it is whole.
    const again = await readLegacyPinset(dir, logger)
    assert.deepEqual({ updates: again.updates.map(u => u[0]), dropped: again.dropped }, { updates: [0, 1], dropped: [] })
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
    const loaded = await readLegacyPinset(dir, logger)
    assert.deepEqual(loaded.updates.map(u => u[0]), [0])
    assert.ok(lines().some(l => l.includes('(checksum mismatch)')), lines().join('\n'))
  })
})

test('a log with a garbage header is moved aside and reported', async () => {
  await withDir(async (dir) => {
    await logOf(dir, 2)
    const path = join(dir, 'pinset.log')
    const bad = await readFile(path)
    bad.write('GARBAGE!', 0)
    await writeFile(path, bad)
    const { logger, lines } = captureLog()
    const loaded = await readLegacyPinset(dir, logger)
    assert.deepEqual(loaded.updates, [])
    const files = await aside(dir, 'pinset.log')
    assert.equal(files.length, 1)
    assert.deepEqual(await readFile(join(dir, files[0] as string)), bad)
    assert.ok(lines().some(l => l === `pinset log unreadable (not a pinmesh pinset file: bad magic bytes): moved to ${files[0]}; ${bad.length} bytes of updates dropped, to be re-synced from peers`), lines().join('\n'))
    assert.ok(!(await readdir(dir)).includes('pinset.log'))
  })
})

test('a log of an unknown format version is not damage: the peer refuses to start and moves nothing', async () => {
  await withDir(async (dir) => {
    await logOf(dir, 1)
    const path = join(dir, 'pinset.log')
    const bad = await readFile(path)
    bad.writeUInt32BE(99, 8)
    await writeFile(path, bad)
    await assert.rejects(readLegacyPinset(dir, pino({ level: 'silent' })), { name: InvalidDatastoreVersionError.NAME })
    assert.deepEqual(await aside(dir, 'pinset.log'), [])
  })
})

function pin (cid: string): PinRecord {
  return { cid, name: cid, mode: 'recursive', replicationMin: -1, replicationMax: -1, allocations: [], metadata: {}, createdAt: 1000, updatedAt: 1000, updatedBy: 'peerA' }
}

/** The format 2 fixture: pins a..c in the state file, then d added and b removed in the log. */
async function legacy (dir: string): Promise<void> {
  for (const f of ['pinset.state', 'pinset.log']) await writeFile(join(dir, f), await readFile(new URL(`../../fixtures/pinset-v2/${f}`, import.meta.url)))
}

for (const [name, damage] of [
  ['a flipped byte in its pins', (b: Buffer) => { b.writeUInt8(b.readUInt8(b.length - 20) ^ 0x20, b.length - 20) }],
  ['a garbage header', (b: Buffer) => { b.write('NOTSTATE', 0) }],
  ['a truncated body', (b: Buffer) => b.subarray(0, b.length - 30)],
  ['a truncated header', (b: Buffer) => b.subarray(0, 10)]
] as const) {
  test(`a single-document state file with ${name}: the migration starts the sharded pinset empty, says so, and keeps both files aside`, async () => {
    await withDir(async (dir) => {
      await legacy(dir)
      const path = join(dir, 'pinset.state')
      const bad = await readFile(path)
      const damaged = damage(bad) ?? bad
      await writeFile(path, damaged)
      const { logger, lines } = captureLog()
      const p = new ShardedPinSet({ logger }, { dir, trusted: true, shards: 4 })
      await p.start()
      try {
        assert.equal(p.size, 0)
        const states = await aside(dir, 'pinset.state')
        const logs = await aside(dir, 'pinset.log')
        assert.equal(states.length, 1)
        assert.equal(logs.length, 1)
        assert.deepEqual(await readFile(join(dir, states[0] as string)), damaged, 'the damaged state is kept as it was')
        assert.deepEqual(await readFile(join(dir, logs[0] as string)), await readFile(new URL('../../fixtures/pinset-v2/pinset.log', import.meta.url)), 'the log is kept as it was')
        assert.ok(lines().some(l => /^pinset state file unreadable \(.+\): moved to pinset\.state\.corrupt-\S+ and pinset\.log\.corrupt-\S+; starting empty and re-syncing from peers$/.test(l)), lines().join('\n'))
        // It serves and persists new writes, in shards.
        await p.put([pin('e')])
      } finally {
        await p.stop()
      }
      assert.ok((await readdir(dir)).includes('manifest.json'))
      const again = new ShardedPinSet({ logger }, { dir, trusted: true, shards: 4 })
      await again.start()
      assert.deepEqual([...again.list()].map(r => r.cid), ['e'])
      await again.stop()
    })
  })
}
