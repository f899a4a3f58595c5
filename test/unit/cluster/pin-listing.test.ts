import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { PinListing, REFS_METHOD, refsOf } from '../../../src/cluster/pin-listing.js'
import type { Rpc } from '../../../src/rpc/index.js'
import type { PinRecord } from '../../../src/types.js'
import { FakeKubo } from '../../fixtures/fake-kubo.js'
import { makeCids } from '../../fixtures/cids.js'

const logger = pino({ level: 'silent' })

function record (cid: string, mode: PinRecord['mode'], allocations: string[], name = ''): PinRecord {
  return { cid, name, mode, replicationMin: 1, replicationMax: 2, allocations, metadata: {}, createdAt: 1, updatedAt: 1, updatedBy: 'p1' }
}

/**
 * This peer's Kubo pins L (recursive, outside the cluster) above l1. The cluster pins R1 (on p1,
 * whose Kubo lacks it, and p2, whose Kubo has it: c1, c2 below it), R2 (only on p3, unreachable),
 * D and c1 directly.
 */
async function world (leaving: ReadonlySet<string> = new Set()): Promise<{ listing: () => PinListing, c: Record<string, string>, calls: string[], batches: string[], gets: string[], local: FakeKubo }> {
  const [L, l1, R1, c1, c2, R2, D] = await makeCids(7, 'pin-listing')
  const c = { L, l1, R1, c1, c2, R2, D } as Record<string, string>
  const local = new FakeKubo()
  local.makeAvailable(c.l1 as string)
  local.makeAvailable(c.L as string, { links: { x: c.l1 as string } })
  local.pins.set(c.L as string, { type: 'recursive', name: 'legacy' })
  const kubos: Record<string, FakeKubo> = { p1: new FakeKubo(), p2: new FakeKubo() }
  for (const leaf of [c.c1, c.c2] as string[]) kubos.p2?.makeAvailable(leaf)
  kubos.p2?.makeAvailable(c.R1 as string, { links: { a: c.c1 as string, b: c.c2 as string } })
  const pins = [record(c.R1 as string, 'recursive', ['p1', 'p2'], 'r1'), record(c.R2 as string, 'recursive', ['p3']), record(c.D as string, 'direct', ['p1']), record(c.c1 as string, 'direct', ['p2'])]
  const calls: string[] = []
  const rpc = {
    register () {},
    async call (peer: string, name: string, params: unknown) {
      calls.push(peer)
      assert.equal(name, REFS_METHOD)
      const kubo = kubos[peer]
      if (kubo === undefined) throw new Error(`cannot reach peer ${peer}`)
      return await refsOf(kubo, (params as { cids: string[] }).cids, new AbortController().signal)
    }
  } as unknown as Rpc
  // The pinset in batches of one pin, in this order; `batches` records each batch as it is handed out.
  const batches: string[] = []
  async function * scan (): AsyncIterable<readonly PinRecord[]> { for (const p of pins) { batches.push(p.cid); yield [p] } }
  const gets: string[] = []
  const listing = (): PinListing => new PinListing({
    kubo: local, rpc, logger, scan, get: (cid) => { gets.push(cid); return pins.find(p => p.cid === cid) }, leaving: (cid) => leaving.has(cid), holders: (r) => [...r.allocations]
  })
  return { listing, c, calls, batches, gets, local }
}

test('list: cluster pins, then this Kubo\'s own, then indirect pins from this Kubo and from the holders of the rest, each once', async () => {
  const { listing, c, calls } = await world()
  const got: string[] = []
  for await (const p of listing().list('all')) got.push(`${p.type} ${p.cid} ${p.name}`)
  assert.deepEqual(got, [
    `recursive ${c.R1} r1`, `recursive ${c.R2} `, `recursive ${c.L} legacy`,
    `direct ${c.D} `, `direct ${c.c1} `,
    `indirect ${c.l1} `, `indirect ${c.c2} `
  ])
  // R1: p1's Kubo lacks it, p2's walks it; R2: p3 cannot be reached, so its indirect pins are left out.
  assert.deepEqual(calls.sort(), ['p1', 'p2', 'p3'])
  const recursive: string[] = []
  for await (const p of listing().list('recursive')) recursive.push(p.cid)
  assert.deepEqual(recursive, [c.R1, c.R2, c.L])
})

test('list streams: a pin is listed as soon as its batch is read, before the rest of the pinset', async () => {
  const { listing, c, batches } = await world()
  const it = listing().list('recursive')[Symbol.asyncIterator]()
  const first = await it.next()
  assert.equal(first.value?.cid, c.R1)
  assert.deepEqual(batches, [c.R1], 'only the first batch was read')
  await it.return?.()
})

test('list looks no pin up one by one but a CID that may be a cluster pin (here c1, a direct cluster pin below R1)', async () => {
  const { listing, c, gets, local } = await world()
  // 2,000 pins of this Kubo's own outside the cluster: none of them is looked up in the pinset.
  const own = await makeCids(2000, 'pin-listing-own')
  for (const cid of own) local.pins.set(cid, { type: 'direct' })
  let n = 0
  for await (const p of listing().list('all')) { void p; n++ }
  assert.equal(n, 7 + own.length)
  assert.deepEqual(gets, [c.c1])
})

test('check: type by precedence, indirect pins through the recursive pin that holds them, here or on another peer', async () => {
  const { listing, c } = await world()
  const l = listing()
  assert.deepEqual(await l.check(c.R1 as string, 'all'), { cid: c.R1, type: 'recursive', name: 'r1' })
  assert.deepEqual(await l.check(c.L as string, 'all'), { cid: c.L, type: 'recursive', name: 'legacy' })
  assert.deepEqual(await l.check(c.l1 as string, 'all'), { cid: c.l1, type: 'indirect', name: '', via: c.L })
  assert.deepEqual(await l.check(c.c2 as string, 'all'), { cid: c.c2, type: 'indirect', name: '', via: c.R1 })
  assert.deepEqual(await l.check(c.c2 as string, 'indirect'), { cid: c.c2, type: 'indirect', name: '', via: c.R1 })
  assert.equal(await l.check(c.c2 as string, 'recursive'), undefined)
  // As in Kubo: a recursive pin is never indirect, a direct one can be.
  assert.equal(await l.check(c.R1 as string, 'indirect'), undefined)
  assert.deepEqual(await l.check(c.c1 as string, 'all'), { cid: c.c1, type: 'direct', name: '' })
  assert.deepEqual(await l.check(c.c1 as string, 'indirect'), { cid: c.c1, type: 'indirect', name: '', via: c.R1 })
  const [nowhere] = await makeCids(1, 'not pinned')
  assert.equal(await l.check(nowhere as string, 'all'), undefined)
})

test('a removed cluster pin this Kubo still holds (the tracker is unpinning it) is not listed, nor what only it holds', async () => {
  const [L] = await makeCids(1, 'pin-listing')
  const { listing, c } = await world(new Set([L as string]))
  const got: string[] = []
  for await (const p of listing().list('all')) got.push(p.cid)
  assert.ok(!got.includes(c.L as string) && !got.includes(c.l1 as string), got.join(' '))
  assert.ok(got.includes(c.c2 as string))
  assert.equal(await listing().check(c.L as string, 'all'), undefined)
  assert.equal(await listing().check(c.l1 as string, 'all'), undefined)
  assert.equal(await listing().check(c.l1 as string, 'indirect'), undefined)
})
