import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, writeFile, readdir, rm, cp, mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startPinmesh, newSecret } from '../fixtures/pinmesh.js'
import { startCluster, peerOf, waitForPinCount, type TestPeer } from '../fixtures/cluster.js'
import { makeCids } from '../fixtures/cids.js'

// A damaged file of the sharded pinset (a shard's state file, a WAL segment) on one peer of a cluster
// of separate processes: it starts, says what it dropped, keeps the damaged file aside and re-syncs
// the rest from the other peer.

// 16 shards keep the files few; a WAL large enough that the pins made after the restart stay in it.
const ARGS = ['--pinset-shards', '16', '--pinset-compact-log-bytes', String(1 << 20), '--pinset-sync-interval', '1s']
const STATE = join('shards', '000.state')

/** Pins `cids` one request each, so that each is a frame of its own in the WAL. */
async function pinEach (peer: TestPeer, cids: string[]): Promise<void> {
  for (const cid of cids) await peer.admin.pin(cid)
}

/** The files set aside as damaged, in the pinset directory and its shards directory. */
async function asideFiles (dir: string): Promise<string[]> {
  const top = (await readdir(dir)).filter(f => f.includes('.corrupt-'))
  const shards = (await readdir(join(dir, 'shards'))).filter(f => f.includes('.corrupt-')).map(f => join('shards', f))
  return [...top, ...shards].sort()
}

async function walSegment (dir: string): Promise<string> {
  const segments = (await readdir(dir)).filter(f => /^wal-\d{8}\.log$/.test(f))
  assert.equal(segments.length, 1, `one WAL segment: ${segments.join(', ')}`)
  return segments[0] as string
}

function flipByte (buf: Buffer, at: number): Buffer {
  const out = Buffer.from(buf)
  out.writeUInt8(out.readUInt8(at) ^ 0x5a, at)
  return out
}

/** Offsets of the frames of a WAL segment (a 12-byte header, then u32 length, crc, shard, epoch, update). */
function frameOffsets (wal: Buffer): number[] {
  const offsets: number[] = []
  for (let pos = 12; pos < wal.length; pos += 16 + wal.readUInt32BE(pos)) offsets.push(pos)
  return offsets
}

const VARIANTS: Array<{ name: string, file: 'state' | 'wal', damage: (b: Buffer) => Buffer, says: RegExp, aside: RegExp[] }> = [
  {
    name: 'WAL segment with a torn tail',
    file: 'wal',
    damage: b => b.subarray(0, b.length - 10),
    says: /pinset WAL wal-\d{8}\.log: dropped \d+ bytes after frame \d+ at offset \d+ \(incomplete frame/,
    aside: []
  },
  {
    name: 'WAL segment with a checksum mismatch mid-segment',
    file: 'wal',
    damage: b => flipByte(b, (frameOffsets(b)[Math.floor(frameOffsets(b).length / 2)] as number) + 20),
    says: /pinset WAL wal-\d{8}\.log: dropped \d+ bytes after frame \d+ at offset \d+ \(checksum mismatch\); the original is kept as wal-\d{8}\.log\.corrupt-/,
    aside: [/^wal-\d{8}\.log\.corrupt-/]
  },
  {
    name: 'WAL segment with a garbage header',
    file: 'wal',
    damage: b => Buffer.concat([Buffer.from('garbage!garbage!'), b.subarray(16)]),
    says: /pinset WAL segment wal-\d{8}\.log unreadable \(not a pinmesh pinset file: bad magic bytes\): moved to wal-\d{8}\.log\.corrupt-\S+; \d+ bytes of updates dropped/,
    aside: [/^wal-\d{8}\.log\.corrupt-/]
  },
  {
    // Only the start of a state file is read at startup: a bad checksum is found when the shard is decoded.
    name: 'shard state file with a checksum mismatch',
    file: 'state',
    damage: b => flipByte(b, b.length - 10),
    says: /shard 0 state file unreadable \(checksum mismatch\): moved to shards\/000\.state\.corrupt-\S+; its \d+ bytes dropped, the shard is re-synced from peers/,
    aside: [/^shards\/000\.state\.corrupt-/]
  },
  {
    name: 'truncated shard state file',
    file: 'state',
    damage: b => b.subarray(0, 20),
    says: /shard 0 state file unreadable \(truncated in its metadata\): moved to shards\/000\.state\.corrupt-/,
    aside: [/^shards\/000\.state\.corrupt-/]
  },
  {
    name: 'garbage shard state file',
    file: 'state',
    damage: b => Buffer.concat([Buffer.from('garbage!garbage!'), b.subarray(16)]),
    says: /shard 0 state file unreadable \(not a pinmesh pinset file: bad magic bytes\): moved to shards\/000\.state\.corrupt-/,
    aside: [/^shards\/000\.state\.corrupt-/]
  }
]

test('a peer with a damaged shard state file or WAL segment starts, says what it dropped, keeps the file aside and re-syncs from its peer', async (t) => {
  const peers = await startCluster(2, { args: ARGS })
  t.after(async () => { await Promise.all(peers.map(async p => { await p.proc.destroy() })) })
  const a = peers[0] as TestPeer
  const b = peers[1] as TestPeer
  const cids = await makeCids(240, 'corruption')
  // 200 in one write, folded into b's shard state files by the checkpoint of a clean stop...
  assert.equal(await a.admin.pinMany(cids.slice(0, 200)), 200)
  await waitForPinCount(b.admin, 200)
  await b.proc.restart()
  // ...then 40 frames, left in b's WAL by a crash.
  await pinEach(a, cids.slice(200))
  await waitForPinCount(b.admin, cids.length)
  await b.proc.kill()
  const dir = join(b.proc.path, 'pinset')
  const wal = await walSegment(dir)
  const pristine = await mkdtemp(join(tmpdir(), 'pinmesh-pristine-'))
  t.after(async () => { await rm(pristine, { recursive: true, force: true }) })
  await cp(dir, pristine, { recursive: true })
  const bytes = { state: await readFile(join(dir, STATE)), wal: await readFile(join(dir, wal)) }
  assert.ok(frameOffsets(bytes.wal).length >= 20, `the WAL holds the 40 pins made since the restart, a frame or a few each (${frameOffsets(bytes.wal).length} frames)`)

  for (const v of VARIANTS) {
    await t.test(v.name, async () => {
      await rm(dir, { recursive: true })
      await cp(pristine, dir, { recursive: true })
      const damaged = v.damage(bytes[v.file])
      const name = v.file === 'state' ? STATE : wal
      await writeFile(join(dir, name), damaged)
      await b.proc.restart()
      // Every pin read once: each shard is decoded, and a damaged one found.
      for (const cid of cids) await b.admin.allocation(cid).catch(() => {})
      assert.match(b.proc.output(), v.says)
      const files = await asideFiles(dir)
      assert.equal(files.length, v.aside.length, `set aside: ${files.join(', ')}`)
      v.aside.forEach((re, i) => { assert.match(files[i] as string, re) })
      if (files.length > 0) assert.deepEqual(await readFile(join(dir, files[0] as string)), damaged, 'the damaged file is kept as it was')
      await waitForPinCount(b.admin, cids.length, 30_000)
      for (const cid of cids) assert.equal((await b.admin.allocation(cid)).cid, cid)
      await b.proc.stop()
    })
  }
})

test('a single peer with a damaged WAL frame and no peers starts, reports, and serves the pins it kept', async (t) => {
  const proc = await startPinmesh({ secret: newSecret(), args: ARGS })
  t.after(async () => { await proc.destroy() })
  const peer = peerOf(proc)
  const cids = await makeCids(30, 'alone')
  const dir = join(proc.path, 'pinset')
  const wal = join(dir, await walSegment(dir))
  // Where the WAL ended after each pin (a put resolves once its frames are on disk).
  const ends: number[] = []
  for (const cid of cids) {
    await peer.admin.pin(cid)
    ends.push((await readFile(wal)).length)
  }
  await proc.kill()
  const bytes = await readFile(wal)
  // Damage the first frame of pin 20: pins 0..19 are kept.
  const at = ends[19] as number
  const k = frameOffsets(bytes).indexOf(at)
  assert.ok(k > 0, `pin 20's frames start at ${at}, on a frame boundary`)
  await writeFile(wal, flipByte(bytes, at + 20))
  await proc.restart()
  assert.match(proc.output(), new RegExp(`pinset WAL wal-\\d{8}\\.log: dropped ${bytes.length - at} bytes after frame ${k} at offset ${at} \\(checksum mismatch\\); the original is kept as wal-\\d{8}\\.log\\.corrupt-`))
  assert.equal((await peer.admin.pinsetStats()).pins, 20)
  for (const cid of cids.slice(0, 20)) assert.equal((await peer.admin.allocation(cid)).cid, cid)
  // It goes on taking writes.
  await peer.admin.pin(cids[25] as string)
  assert.equal((await peer.admin.pinsetStats()).pins, 21)
})
