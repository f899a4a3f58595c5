import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, readFile, writeFile, appendFile, stat, open as fsOpen } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { YjsPinSet, type PinSetChange } from '../../../src/pinset/index.js'
import type { PinRecord } from '../../../src/types.js'

const logger = pino({ level: 'silent' })

function pin (cid: string, over: Partial<PinRecord> = {}): PinRecord {
  return { cid, name: `n-${cid}`, mode: 'recursive', replicationMin: 1, replicationMax: 2, allocations: ['peerA', 'peerB'], metadata: { k: 'v' }, createdAt: 1000, updatedAt: 1000, updatedBy: 'peerA', ...over }
}

async function withDir (fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pinmesh-pinset-'))
  try { await fn(dir) } finally { await rm(dir, { recursive: true, force: true }) }
}

async function open (dir: string, init: Partial<ConstructorParameters<typeof YjsPinSet>[1]> = {}): Promise<YjsPinSet> {
  const p = new YjsPinSet({ logger }, { dir, trusted: true, ...init })
  await p.start()
  return p
}

/** Two pinsets in their own directories, stopped and removed afterwards. */
async function withTwo (fn: (a: YjsPinSet, b: YjsPinSet) => Promise<void>, bInit: Parameters<typeof open>[1] = {}): Promise<void> {
  await withDir(async (dir) => {
    await withDir(async (dir2) => {
      const a = await open(dir)
      const b = await open(dir2, bInit)
      try { await fn(a, b) } finally { await a.stop(); await b.stop() }
    })
  })
}

test('pins survive a restart with every field intact', async () => {
  await withDir(async (dir) => {
    const a = await open(dir)
    await a.put([pin('c1'), pin('c2', { mode: 'direct', expireAt: 5000, metadata: {} })])
    await a.remove(['c1'])
    await a.stop()
    const b = await open(dir)
    assert.deepEqual([...b.list()].map(p => p.cid), ['c2'])
    assert.deepEqual(b.get('c2'), pin('c2', { mode: 'direct', expireAt: 5000, metadata: {} }))
    await b.stop()
  })
})

/**
 * Holds every fsync (FileHandle sync and datasync) of this process until `release()`, so a test can
 * see what waits for the disk. `reached` resolves at the first held call; `restore()` undoes it.
 */
async function holdFsyncs (): Promise<{ reached: Promise<void>, release: () => void, restore: () => void }> {
  const probe = await fsOpen(fileURLToPath(import.meta.url), 'r')
  const proto = Object.getPrototypeOf(probe) as { sync: () => Promise<void>, datasync: () => Promise<void> }
  await probe.close()
  const original = { sync: proto.sync, datasync: proto.datasync }
  const reached = Promise.withResolvers<void>()
  const released = Promise.withResolvers<void>()
  for (const name of ['sync', 'datasync'] as const) {
    proto[name] = async function (this: unknown) {
      reached.resolve()
      await released.promise
      return await original[name].call(this)
    }
  }
  return {
    reached: reached.promise,
    release: () => { released.resolve() },
    restore: () => { proto.sync = original.sync; proto.datasync = original.datasync; released.resolve() }
  }
}

test('put resolves only after the change is in the log on disk', async () => {
  await withDir(async (dir) => {
    const a = await open(dir)
    const before = (await stat(join(dir, 'pinset.log'))).size
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
    const after = (await readFile(join(dir, 'pinset.log'))).length
    assert.ok(after > before, 'the log grew before put resolved')
    await a.stop()
  })
})

test('change events report local and remote adds, updates and removals', async () => {
  await withTwo(async (a, b) => {
    const seenA: PinSetChange[] = []
    const seenB: PinSetChange[] = []
    a.onChange(c => seenA.push(c))
    b.onChange(c => seenB.push(c))
    a.onLocalUpdate((u, epoch) => { b.applyRemote([u], 'peerA', epoch) })
    await a.put([pin('x')])
    await a.put([pin('x', { name: 'renamed', updatedAt: 2000 })])
    await a.remove(['x'])
    const summary = (cs: PinSetChange[]): string[] => cs.map(c => `${c.local ? 'L' : 'R'}:${c.added.length}/${c.updated.length}/${c.removed.length}`)
    assert.deepEqual(summary(seenA), ['L:1/0/0', 'L:0/1/0', 'L:0/0/1'])
    assert.deepEqual(summary(seenB), ['R:1/0/0', 'R:0/1/0', 'R:0/0/1'])
    assert.equal(seenB[1]?.updated[0]?.after.name, 'renamed')
  })
})

test('a torn last frame from a crash is dropped, everything before it kept', async () => {
  await withDir(async (dir) => {
    const a = await open(dir)
    await a.put([pin('kept1')])
    await a.put([pin('kept2')])
    await a.stop()
    await appendFile(join(dir, 'pinset.log'), Buffer.from([0, 0, 1, 0, 9, 9, 9, 9, 1, 2, 3]))
    const b = await open(dir)
    assert.deepEqual([...b.list()].map(p => p.cid).sort(), ['kept1', 'kept2'])
    await b.put([pin('after')])
    await b.stop()
    const c = await open(dir)
    assert.equal(c.size, 3)
    await c.stop()
  })
})

test('compaction folds the log into the state; restart reads the same pinset', async () => {
  await withDir(async (dir) => {
    const a = await open(dir, { compactMinLogBytes: 64 * 1024 })
    for (let i = 0; i < 40; i++) {
      await a.put(Array.from({ length: 100 }, (_, j) => pin(`k${i}-${j}`)))
      if (i % 2 === 1) await a.remove(Array.from({ length: 100 }, (_, j) => `k${i - 1}-${j}`))
    }
    await a.compact()
    const s = a.stats()
    assert.equal(s.pins, 2000)
    assert.ok(s.logBytes < 64 * 1024, `log ${s.logBytes} B after compaction`)
    assert.ok(s.stateBytes > 0)
    await a.stop()
    const b = await open(dir)
    assert.equal(b.size, 2000)
    assert.ok(b.has('k39-99') && !b.has('k38-0'))
    await b.stop()
  })
})

test('a pinset written by another format version is refused', async () => {
  await withDir(async (dir) => {
    const a = await open(dir)
    await a.put([pin('v')])
    await a.compact()
    await a.stop()
    const state = await readFile(join(dir, 'pinset.state'))
    state.writeUInt32BE(99, 8)
    await writeFile(join(dir, 'pinset.state'), state)
    await assert.rejects(open(dir), (err: Error) => err.name === 'InvalidDatastoreVersionError' && /version 99/.test(err.message))
  })
})

/** Sends each side what the other lacks. */
function exchange (a: YjsPinSet, b: YjsPinSet, ids = ['peerA', 'peerB']): void {
  b.applyRemote([a.diff(b.stateVector())], ids[0] as string, b.epoch())
  a.applyRemote([b.diff(a.stateVector())], ids[1] as string, a.epoch())
}
const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise(resolve => setImmediate(resolve)) }
/** Exchanges, lets the deletions conflict resolution queues run, and exchanges again. */
async function converge (a: YjsPinSet, b: YjsPinSet): Promise<void> { exchange(a, b); await settle(); exchange(a, b) }

test('an unpin wins over a concurrent rewrite of the same pin by another peer (re-allocation), on both peers', async () => {
  await withTwo(async (a, b) => {
    await a.put([pin('p'), pin('q')])
    exchange(a, b)
    // Concurrently: a re-allocates p and q (same version: a re-allocation keeps updatedAt), b unpins p.
    await a.put([pin('p', { allocations: ['peerC'] }), pin('q', { allocations: ['peerC'] })])
    await b.remove(['p'])
    await converge(a, b)
    for (const s of [a, b]) {
      assert.equal(s.has('p'), false, 'the unpinned pin stays unpinned')
      assert.deepEqual(s.get('q')?.allocations, ['peerC'], 'the other rewrite is kept')
    }
    // Pinned again afterwards through a peer that had seen the removal (a new generation): kept.
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
    await new Promise(resolve => setTimeout(resolve, 5))
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

test('a pinset written by the previous release (version 1 records) opens, and takes new writes', async () => {
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
    const added = pin('new', { allocations: [A], updatedBy: B })
    await a.put([added])
    await a.compact()
    await a.stop()
    const b = await open(dir)
    assert.deepEqual(byCid(b.list()), byCid([...written, added]))
    await b.stop()
  })
})

test('peer codes reach other peers with the records and move with them to a new epoch', async () => {
  await withTwo(async (a, b) => {
    const A = '12D3KooWGzBnM5bWLyGvUXHcCk8R4DKi1HQ2t8ZuY2K5wY7Qn4Ys'
    const B = '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK'
    const C = '12D3KooWCyBE4e2ojMoS3hv6zxRnc2yxKYaVdu1HU37LRWoFWcXd'
    const sync = (): void => { exchange(a, b, [A, B]) }
    await a.put([pin('p1', { allocations: [A, B], updatedBy: A })])
    sync()
    assert.deepEqual(b.get('p1'), pin('p1', { allocations: [A, B], updatedBy: A }))
    await a.rebuild(A)
    // b, still on the old epoch, writes with a peer id the new epoch's codes do not know yet.
    await b.put([pin('p2', { allocations: [C], updatedBy: B, updatedAt: 2000 })])
    const offer = a.epochOffer()
    assert.ok(offer !== undefined)
    assert.equal(await b.adoptEpoch(offer, A), true)
    sync()
    for (const p of [a, b]) {
      assert.deepEqual(p.get('p1'), pin('p1', { allocations: [A, B], updatedBy: A }))
      assert.deepEqual(p.get('p2'), pin('p2', { allocations: [C], updatedBy: B, updatedAt: 2000 }))
    }
  })
})
