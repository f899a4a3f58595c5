import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, writeFile, readdir, rm, cp, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { startPinmesh, newSecret } from '../fixtures/pinmesh.js'
import { startCluster, peerOf, waitForPinCount, type TestPeer } from '../fixtures/cluster.js'
import { makeCids } from '../fixtures/cids.js'
import { waitFor } from '../fixtures/wait-for.js'

// A damaged pinset file (sharded layout: wal-<seq>.log segments, shards/<shard>.state) on one peer of
// a cluster of separate processes: it starts, says what it dropped, keeps the damaged file aside and
// re-syncs the rest from the other peer.

// A small WAL (frequent checkpoints: both state files and WAL frames exist) and a fast anti-entropy.
const ARGS = ['--pinset-compact-log-bytes', '4096', '--pinset-sync-interval', '1s']

/** Pins `n` CIDs one request each, so that each is a frame of its own in the WAL. */
async function pinEach (peer: TestPeer, cids: string[]): Promise<void> {
  for (const cid of cids) await peer.admin.pin(cid)
}

/** Files set aside as `<name>.corrupt-<time>`, in the pinset directory and its shards/. */
async function asideFiles (dir: string): Promise<string[]> {
  const top = (await readdir(dir)).filter(f => f.includes('.corrupt-'))
  const shards = (await readdir(join(dir, 'shards')).catch(() => [])).filter(f => f.includes('.corrupt-')).map(f => `shards/${f}`)
  return [...top, ...shards].sort()
}

function flipByte (buf: Buffer, at: number): Buffer {
  const out = Buffer.from(buf)
  out.writeUInt8(out.readUInt8(at) ^ 0x5a, at)
  return out
}

/** The largest file matching `re` in `dir`. */
async function largest (dir: string, re: RegExp): Promise<string> {
  const names = (await readdir(dir)).filter(f => re.test(f))
  const sizes = await Promise.all(names.map(async f => ({ f, size: (await stat(join(dir, f))).size })))
  const best = sizes.sort((a, b) => b.size - a.size)[0]
  assert.ok(best !== undefined, `no file like ${re} in ${dir}`)
  return best.f
}

interface Variant {
  name: string
  /** Damages the pinset directory; returns the file damaged (relative) and its damaged bytes. */
  damage: (dir: string) => Promise<{ file: string, bytes: Buffer }>
  says: RegExp
  aside: RegExp[]
}

const VARIANTS: Variant[] = [
  {
    name: 'flipped byte in a shard state file (found when the shard is decoded)',
    damage: async (dir) => {
      const f = `shards/${await largest(join(dir, 'shards'), /^[0-9a-f]{3}\.state$/)}`
      const b = await readFile(join(dir, f))
      const bytes = flipByte(b, b.length - 10)
      await writeFile(join(dir, f), bytes)
      return { file: f, bytes }
    },
    says: /shard \d+ state file unreadable \(checksum mismatch\): moved to shards\/[0-9a-f]{3}\.state\.corrupt-\S+; its \d+ bytes dropped, the shard is re-synced from peers/,
    aside: [/^shards\/[0-9a-f]{3}\.state\.corrupt-/]
  },
  {
    name: 'truncated shard state file',
    damage: async (dir) => {
      const f = `shards/${await largest(join(dir, 'shards'), /^[0-9a-f]{3}\.state$/)}`
      const bytes = (await readFile(join(dir, f))).subarray(0, 20)
      await writeFile(join(dir, f), bytes)
      return { file: f, bytes }
    },
    says: /shard \d+ state file unreadable \(.+\): moved to shards\/[0-9a-f]{3}\.state\.corrupt-\S+; its 20 bytes dropped, the shard is re-synced from peers/,
    aside: [/^shards\/[0-9a-f]{3}\.state\.corrupt-/]
  },
  {
    name: 'garbage WAL segment header',
    damage: async (dir) => {
      const f = await largest(dir, /^wal-\d{8}\.log$/)
      const b = await readFile(join(dir, f))
      const bytes = Buffer.concat([Buffer.from('garbage!garbage!'), b.subarray(16)])
      await writeFile(join(dir, f), bytes)
      return { file: f, bytes }
    },
    says: /pinset WAL segment wal-\d{8}\.log unreadable \(.+\): moved to wal-\d{8}\.log\.corrupt-\S+; \d+ bytes of updates dropped, to be re-synced from peers/,
    aside: [/^wal-\d{8}\.log\.corrupt-/]
  },
  {
    name: 'flipped byte in a WAL frame',
    damage: async (dir) => {
      const f = await largest(dir, /^wal-\d{8}\.log$/)
      const b = await readFile(join(dir, f))
      const bytes = flipByte(b, 12 + 16 + 2)
      await writeFile(join(dir, f), bytes)
      return { file: f, bytes }
    },
    says: /pinset WAL wal-\d{8}\.log: dropped \d+ bytes after frame 0 at offset 12 \(checksum mismatch\); the original is kept as wal-\d{8}\.log\.corrupt-/,
    aside: [/^wal-\d{8}\.log\.corrupt-/]
  }
]

test('a peer with a damaged pinset file starts, says what it dropped, keeps the file aside and re-syncs from its peer', async (t) => {
  const peers = await startCluster(2, { args: ARGS })
  t.after(async () => { await Promise.all(peers.map(async p => { await p.proc.destroy() })) })
  const a = peers[0] as TestPeer
  const b = peers[1] as TestPeer
  const cids = await makeCids(240, 'corruption')
  // 200 in one write (past the 4 KiB WAL: checkpointed into state files), then 40 frames.
  assert.equal(await a.admin.pinMany(cids.slice(0, 200)), 200)
  await pinEach(a, cids.slice(200))
  await waitForPinCount(b.admin, cids.length)
  const dir = join(b.proc.path, 'pinset')
  // kill -9: the WAL keeps its frames (a clean stop checkpoints them away).
  await b.proc.kill()
  const pristine = `${dir}.pristine`
  await cp(dir, pristine, { recursive: true })
  const wal = await readFile(join(dir, await largest(dir, /^wal-\d{8}\.log$/)))
  assert.ok(wal.length > 12 + 16, `the WAL holds frames (${wal.length} bytes)`)

  for (const v of VARIANTS) {
    await t.test(v.name, async () => {
      await rm(dir, { recursive: true, force: true })
      await cp(pristine, dir, { recursive: true })
      const damaged = await v.damage(dir)
      await b.proc.restart()
      // Every pin read back: a shard whose state file is damaged past its head is found when decoded.
      await waitFor(async () => {
        for (const cid of cids) await b.admin.allocation(cid)
        return true
      }, { timeoutMs: 30_000, message: 'every pin back on the damaged peer' })
      assert.match(b.proc.output(), v.says)
      const files = await asideFiles(dir)
      assert.equal(files.length, v.aside.length, `set aside: ${files.join(', ')}`)
      v.aside.forEach((re, i) => { assert.match(files[i] as string, re) })
      const kept = files.find(f => f.startsWith(damaged.file))
      assert.ok(kept !== undefined, `${damaged.file} kept aside`)
      assert.deepEqual(await readFile(join(dir, kept)), damaged.bytes, 'the damaged file is kept as it was')
      await waitForPinCount(b.admin, cids.length, 30_000)
      await b.proc.stop()
    })
  }
  await rm(pristine, { recursive: true, force: true })
})

test('a single peer with a damaged WAL and no peers starts, reports, and serves the pins it kept', async (t) => {
  const proc = await startPinmesh({ secret: newSecret() })
  t.after(async () => { await proc.destroy() })
  const peer = peerOf(proc)
  const cids = await makeCids(30, 'alone')
  await pinEach(peer, cids)
  // kill -9: the frames stay in the WAL (the default WAL size is far from a checkpoint).
  await proc.kill()
  const dir = join(proc.path, 'pinset')
  const name = await largest(dir, /^wal-\d{8}\.log$/)
  const bytes = await readFile(join(dir, name))
  // Frame offsets, read from the frames' length fields (a 12-byte header, then 16-byte frame headers).
  const offsets: number[] = []
  for (let pos = 12; pos < bytes.length; pos += 16 + bytes.readUInt32BE(pos)) offsets.push(pos)
  // A frame a pin at least (the first pin of a shard also brings this peer's code to it).
  assert.ok(offsets.length >= 30, `${offsets.length} frames`)
  // Damage the 10th frame from the end: the frames before it are kept, so the pins kept are the
  // first ones written, all but a few.
  const k = offsets.length - 10
  const at = offsets[k] as number
  await writeFile(join(dir, name), flipByte(bytes, at + 18))
  await proc.restart()
  assert.match(proc.output(), new RegExp(`pinset WAL ${name.replace('.', '\\.')}: dropped ${bytes.length - at} bytes after frame ${k} at offset ${at} \\(checksum mismatch\\); the original is kept as ${name.replace('.', '\\.')}\\.corrupt-`))
  const kept = (await peer.admin.pinsetStats()).pins as number
  assert.ok(kept >= 20 && kept < 30, `${kept} pins kept`)
  for (const cid of cids.slice(0, kept)) assert.equal((await peer.admin.allocation(cid)).cid, cid)
  for (const cid of cids.slice(kept)) await assert.rejects(peer.admin.allocation(cid), /not in the cluster pinset/)
  // It goes on taking writes.
  await peer.admin.pin(cids[29] as string)
  assert.equal((await peer.admin.pinsetStats()).pins, kept + 1)
})
