import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, writeFile, readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { startPinmesh, newSecret } from '../fixtures/pinmesh.js'
import { startCluster, peerOf, waitForPinCount, type TestPeer } from '../fixtures/cluster.js'
import { makeCids } from '../fixtures/cids.js'

// A damaged pinset file on one peer of a cluster of separate processes: it starts, says what it
// dropped, keeps the damaged file aside and re-syncs the rest from the other peer.

const ARGS = ['--pinset-compact-log-bytes', '4096', '--pinset-sync-interval', '1s']

/** Pins `n` CIDs one request each, so that each is a frame of its own in the log. */
async function pinEach (peer: TestPeer, cids: string[]): Promise<void> {
  for (const cid of cids) await peer.admin.pin(cid)
}

async function asideFiles (dir: string): Promise<string[]> {
  return (await readdir(dir)).filter(f => f.includes('.corrupt-')).sort()
}

function flipByte (buf: Buffer, at: number): Buffer {
  const out = Buffer.from(buf)
  out.writeUInt8(out.readUInt8(at) ^ 0x5a, at)
  return out
}

const VARIANTS: Array<{ name: string, file: 'pinset.state' | 'pinset.log', damage: (b: Buffer) => Buffer, says: RegExp, aside: RegExp[] }> = [
  {
    name: 'log truncated mid-frame',
    file: 'pinset.log',
    damage: b => b.subarray(0, Math.floor(b.length / 2)),
    says: /pinset log: dropped \d+ bytes after frame \d+ at offset \d+ \(incomplete frame/,
    aside: []
  },
  {
    name: 'flipped byte in a log frame',
    file: 'pinset.log',
    damage: b => flipByte(b, Math.floor(b.length / 3)),
    says: /pinset log: dropped \d+ bytes after frame \d+ at offset \d+ \(checksum mismatch\); the original is kept as pinset\.log\.corrupt-/,
    aside: [/^pinset\.log\.corrupt-/]
  },
  {
    name: 'garbage log header',
    file: 'pinset.log',
    damage: b => Buffer.concat([Buffer.from('garbage!garbage!'), b.subarray(16)]),
    says: /pinset log unreadable \(not a pinmesh pinset file: bad magic bytes\): moved to pinset\.log\.corrupt-\S+; \d+ bytes of updates dropped/,
    aside: [/^pinset\.log\.corrupt-/]
  },
  {
    name: 'flipped byte in the state file',
    file: 'pinset.state',
    damage: b => flipByte(b, b.length - 100),
    says: /pinset state file unreadable \(checksum mismatch\): moved to pinset\.state\.corrupt-\S+ and pinset\.log\.corrupt-\S+; starting empty and re-syncing from peers/,
    aside: [/^pinset\.log\.corrupt-/, /^pinset\.state\.corrupt-/]
  },
  {
    name: 'truncated state file',
    file: 'pinset.state',
    damage: b => b.subarray(0, 20),
    says: /pinset state file unreadable \(checksum mismatch\): moved to pinset\.state\.corrupt-/,
    aside: [/^pinset\.log\.corrupt-/, /^pinset\.state\.corrupt-/]
  }
]

test('a peer with a damaged pinset file starts, says what it dropped, keeps the file aside and re-syncs from its peer', async (t) => {
  const peers = await startCluster(2, { args: ARGS })
  t.after(async () => { await Promise.all(peers.map(async p => { await p.proc.destroy() })) })
  const a = peers[0] as TestPeer
  const b = peers[1] as TestPeer
  const cids = await makeCids(240, 'corruption')
  // 200 in one write (the log outgrows 4 KiB and is folded into the state file), then 40 frames.
  assert.equal(await a.admin.pinMany(cids.slice(0, 200)), 200)
  await pinEach(a, cids.slice(200))
  await waitForPinCount(b.admin, cids.length)
  const dir = join(b.proc.path, 'pinset')
  await b.proc.stop()
  const pristine = { state: await readFile(join(dir, 'pinset.state')), log: await readFile(join(dir, 'pinset.log')) }
  assert.ok(pristine.log.length > 40 * 50, `the log holds the 40 single pins (${pristine.log.length} bytes)`)

  for (const v of VARIANTS) {
    await t.test(v.name, async () => {
      for (const f of await asideFiles(dir)) await rm(join(dir, f))
      await writeFile(join(dir, 'pinset.state'), pristine.state)
      await writeFile(join(dir, 'pinset.log'), pristine.log)
      const damaged = v.damage(pristine[v.file === 'pinset.state' ? 'state' : 'log'])
      await writeFile(join(dir, v.file), damaged)
      await b.proc.restart()
      assert.match(b.proc.output(), v.says)
      const files = await asideFiles(dir)
      assert.equal(files.length, v.aside.length, `set aside: ${files.join(', ')}`)
      v.aside.forEach((re, i) => { assert.match(files[i] as string, re) })
      const kept = files.find(f => f.startsWith(v.file))
      if (kept !== undefined) assert.deepEqual(await readFile(join(dir, kept)), damaged, 'the damaged file is kept as it was')
      await waitForPinCount(b.admin, cids.length, 30_000)
      for (const cid of [cids[0], cids[199], cids[239]] as string[]) assert.equal((await b.admin.allocation(cid)).cid, cid)
      await b.proc.stop()
    })
  }
})

test('a single peer with a damaged log and no peers starts, reports, and serves the pins it kept', async (t) => {
  const proc = await startPinmesh({ secret: newSecret(), args: ARGS })
  t.after(async () => { await proc.destroy() })
  const peer = peerOf(proc)
  const cids = await makeCids(30, 'alone')
  await pinEach(peer, cids)
  await proc.stop()
  const log = join(proc.path, 'pinset', 'pinset.log')
  const bytes = await readFile(log)
  // Frame offsets, read from the frames' length fields (a 12-byte header, then u32 length, crc, epoch, update).
  const offsets: number[] = []
  for (let pos = 12; pos < bytes.length; pos += 12 + bytes.readUInt32BE(pos)) offsets.push(pos)
  // One frame a pin (the first pin also brings this peer's code in a frame of its own).
  assert.ok(offsets.length >= 30, `${offsets.length} frames`)
  // Damage the frame of pin 20: pins 0..19 are kept.
  const k = offsets.length - 10
  const at = offsets[k] as number
  await writeFile(log, flipByte(bytes, at + 14))
  await proc.restart()
  assert.match(proc.output(), new RegExp(`pinset log: dropped ${bytes.length - at} bytes after frame ${k} at offset ${at} \\(checksum mismatch\\); the original is kept as pinset\\.log\\.corrupt-`))
  assert.equal((await peer.admin.pinsetStats()).pins, 20)
  for (const cid of cids.slice(0, 20)) assert.equal((await peer.admin.allocation(cid)).cid, cid)
  // It goes on taking writes.
  await peer.admin.pin(cids[25] as string)
  assert.equal((await peer.admin.pinsetStats()).pins, 21)
  assert.ok((await stat(log)).size > 0)
})
