import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { BalancedAllocator, balancedOrder, parseAllocateBy, type AllocationCandidate, type AllocationRequest } from '../../../src/allocator/index.js'
import { InsufficientPeersError, isErrorNamed } from '../../../src/errors.js'
import { schema, type AllocatorConfig } from '../../../src/config/index.js'

function peer (id: string, freeSpace: number | undefined, tags: Record<string, string> = {}, queued = 0): AllocationCandidate {
  return { peer: id, freeSpace, queued, tags }
}

function request (candidates: AllocationCandidate[], fields: Partial<AllocationRequest>): AllocationRequest {
  return { current: [], priority: [], blacklist: [], min: 1, max: 1, candidates, ...fields }
}

const regions = [
  peer('eu1', 100, { region: 'eu' }),
  peer('eu2', 90, { region: 'eu' }),
  peer('us1', 50, { region: 'us' }),
  peer('us2', 80, { region: 'us' }),
  peer('ap1', 10, { region: 'ap' })
]

const zones = [
  peer('e-a1', 100, { region: 'eu', zone: 'a' }),
  peer('e-a2', 95, { region: 'eu', zone: 'a' }),
  peer('e-b1', 50, { region: 'eu', zone: 'b' }),
  peer('u-a1', 70, { region: 'us', zone: 'a' }),
  peer('u-b1', 20, { region: 'us', zone: 'b' })
]

const plain = [peer('a', 30), peer('b', 20), peer('c', 10), peer('d', 5)]

interface Case {
  name: string
  allocateBy: string[]
  request: AllocationRequest
  expected: string[]
}

const cases: Case[] = [
  {
    name: 'picks one peer per region first, regions in the order of their emptiest peer',
    allocateBy: ['tag:region', 'freespace'],
    request: request(regions, { min: 3, max: 3 }),
    expected: ['eu1', 'us2', 'ap1']
  },
  {
    name: 'goes round the regions again once each has a replica',
    allocateBy: ['tag:region', 'freespace'],
    request: request(regions, { min: 5, max: 5 }),
    expected: ['eu1', 'us2', 'ap1', 'eu2', 'us1']
  },
  {
    name: 'alternates zones inside a region and regions at the top level',
    allocateBy: ['tag:region', 'tag:zone', 'freespace'],
    request: request(zones, { min: 5, max: 5 }),
    expected: ['e-a1', 'u-a1', 'e-b1', 'u-b1', 'e-a2']
  },
  {
    name: 'a peer without the tag forms its own group',
    allocateBy: ['tag:region', 'freespace'],
    request: request([peer('eu1', 100, { region: 'eu' }), peer('eu2', 90, { region: 'eu' }), peer('x', 5)], { min: 2, max: 2 }),
    expected: ['eu1', 'x']
  },
  {
    name: 'freespace alone orders by free space, most first',
    allocateBy: ['freespace'],
    request: request([peer('c', 10), peer('a', 30), peer('d', 5), peer('b', 20)], { min: 3, max: 3 }),
    expected: ['a', 'b', 'c']
  },
  {
    name: 'undefined free space counts as none',
    allocateBy: ['freespace'],
    request: request([peer('b', undefined), peer('a', 0), peer('c', 1)], { min: 3, max: 3 }),
    expected: ['c', 'a', 'b']
  },
  {
    name: 'pinqueue orders by queued pins, fewest first',
    allocateBy: ['pinqueue'],
    request: request([peer('a', 0, {}, 9), peer('b', 0, {}, 1), peer('c', 0, {}, 5)], { min: 2, max: 2 }),
    expected: ['b', 'c']
  },
  {
    name: 'queue is an alias of pinqueue',
    allocateBy: ['queue'],
    request: request([peer('a', 0, {}, 9), peer('b', 0, {}, 1)], { min: 1, max: 1 }),
    expected: ['b']
  },
  {
    name: 'equal free space falls through to the queue',
    allocateBy: ['freespace', 'pinqueue'],
    request: request([peer('a', 50, {}, 7), peer('b', 50, {}, 2), peer('c', 10, {}, 0)], { min: 3, max: 3 }),
    expected: ['b', 'a', 'c']
  },
  {
    name: 'equal metrics are ordered by peer id',
    allocateBy: ['tag:group', 'freespace'],
    request: request([peer('z', 5, { group: 'g' }), peer('m', 5, { group: 'g' }), peer('q', 5, { group: 'g' })], { min: 3, max: 3 }),
    expected: ['m', 'q', 'z']
  },
  {
    name: 'with no allocateBy entry peers are ordered by id',
    allocateBy: [],
    request: request([peer('b', 1), peer('a', 99)], { min: 2, max: 2 }),
    expected: ['a', 'b']
  },
  {
    name: 'adds up to max when more candidates than min are available',
    allocateBy: ['freespace'],
    request: request(plain, { min: 1, max: 3 }),
    expected: ['a', 'b', 'c']
  },
  {
    name: 'takes every candidate when fewer than max but at least min exist',
    allocateBy: ['freespace'],
    request: request(plain.slice(0, 3), { min: 2, max: 10 }),
    expected: ['a', 'b', 'c']
  },
  {
    name: 'keeps current peers first and adds only what is needed to reach max',
    allocateBy: ['freespace'],
    request: request(plain, { current: ['d'], min: 3, max: 3 }),
    expected: ['d', 'a', 'b']
  },
  {
    name: 'keeps current unchanged when it already has min peers (no repin when a peer blinks)',
    allocateBy: ['freespace'],
    request: request(plain, { current: ['c', 'd'], min: 2, max: 4 }),
    expected: ['c', 'd']
  },
  {
    name: 'truncates current to max when it has too many peers',
    allocateBy: ['freespace'],
    request: request(plain, { current: ['d', 'c', 'b'], min: 1, max: 2 }),
    expected: ['d', 'c']
  },
  {
    name: 'max 0 keeps no peer',
    allocateBy: ['freespace'],
    request: request(plain, { current: ['a'], min: 0, max: 0 }),
    expected: []
  },
  {
    name: 'never picks a blacklisted candidate',
    allocateBy: ['freespace'],
    request: request(plain, { blacklist: ['a'], min: 2, max: 2 }),
    expected: ['b', 'c']
  },
  {
    name: 'drops a blacklisted current peer and replaces it',
    allocateBy: ['freespace'],
    request: request(plain, { current: ['c', 'a'], blacklist: ['a'], min: 2, max: 2 }),
    expected: ['c', 'b']
  },
  {
    name: 'priority peers go first, in the order given, even when others have more space',
    allocateBy: ['freespace'],
    request: request(plain, { priority: ['d', 'c'], min: 3, max: 3 }),
    expected: ['d', 'c', 'a']
  },
  {
    name: 'priority peers that are not candidates, blacklisted or current are skipped',
    allocateBy: ['freespace'],
    request: request(plain, { current: ['b'], priority: ['gone', 'c', 'b', 'd'], blacklist: ['d'], min: 3, max: 3 }),
    expected: ['b', 'c', 'a']
  },
  {
    name: 'priority counts towards what is available but is cut at wanted',
    allocateBy: ['freespace'],
    request: request(plain, { priority: ['d', 'c', 'b'], min: 1, max: 2 }),
    expected: ['d', 'c']
  },
  {
    name: 'everywhere (-1/-1) takes every candidate, current first, balanced after',
    allocateBy: ['tag:region', 'freespace'],
    request: request(regions, { current: ['us1'], min: -1, max: -1 }),
    expected: ['us1', 'eu1', 'us2', 'ap1', 'eu2']
  },
  {
    name: 'everywhere leaves out blacklisted peers',
    allocateBy: ['freespace'],
    request: request(plain, { current: ['b'], blacklist: ['b', 'c'], min: -1, max: -1 }),
    expected: ['a', 'd']
  },
  {
    name: 'everywhere with no candidate is empty, not an error',
    allocateBy: ['freespace'],
    request: request([], { min: -1, max: -1 }),
    expected: []
  },
  {
    name: 'duplicate current peers and candidates count once',
    allocateBy: ['freespace'],
    request: request([...plain, peer('a', 0)], { current: ['d', 'd'], min: 3, max: 3 }),
    expected: ['d', 'a', 'b']
  }
]

describe('BalancedAllocator', () => {
  for (const c of cases) {
    test(c.name, () => {
      const allocator = new BalancedAllocator({ allocateBy: c.allocateBy })
      assert.deepEqual(allocator.allocate(c.request), c.expected)
    })
  }

  const insufficient: Array<{ name: string, request: AllocationRequest, needed: number, wanted: number, available: number }> = [
    { name: 'a replication factor above the number of peers', request: request(plain.slice(0, 3), { min: 5, max: 5 }), needed: 5, wanted: 5, available: 3 },
    { name: 'min above what current plus candidates reach', request: request(plain.slice(0, 3), { current: ['a'], min: 4, max: 6 }), needed: 3, wanted: 5, available: 2 },
    { name: 'blacklisted peers do not count as available', request: request(plain, { blacklist: ['a', 'b', 'c'], min: 2, max: 2 }), needed: 2, wanted: 2, available: 1 },
    { name: 'no candidate at all', request: request([], { min: 1, max: 1 }), needed: 1, wanted: 1, available: 0 }
  ]
  for (const c of insufficient) {
    test(`throws InsufficientPeersError for ${c.name}`, () => {
      const allocator = new BalancedAllocator({ allocateBy: ['freespace'] })
      assert.throws(() => allocator.allocate(c.request), (err: unknown) => {
        assert.ok(isErrorNamed(err, InsufficientPeersError.NAME))
        const e = err as InsufficientPeersError
        assert.deepEqual([e.needed, e.wanted, e.available], [c.needed, c.wanted, c.available])
        assert.match(e.message, new RegExp(`Needed at least: ${c.needed}\\b`))
        assert.match(e.message, new RegExp(`Available candidates: ${c.available}\\b`))
        return true
      })
    })
  }

  for (const [min, max] of [[-1, 3], [2, -1], [3, 2], [-2, -2], [1.5, 2]] as const) {
    test(`rejects min=${min} max=${max} with InvalidParametersError`, () => {
      const allocator = new BalancedAllocator({ allocateBy: ['freespace'] })
      assert.throws(() => allocator.allocate(request(plain, { min, max })), { name: 'InvalidParametersError' })
    })
  }

  test('an unknown allocateBy entry is a configuration error naming it', () => {
    assert.throws(() => new BalancedAllocator({ allocateBy: ['tag:region', 'numpin', 'tag:'] }), (err: unknown) => {
      assert.ok(isErrorNamed(err, 'InvalidConfigurationError'))
      assert.match(err.message, /"numpin"/)
      assert.match(err.message, /"tag:"/)
      return true
    })
  })

  test('the result does not depend on the order of candidates, current or blacklist', () => {
    const allocator = new BalancedAllocator({ allocateBy: ['tag:region', 'tag:zone', 'freespace'] })
    const many = [...zones, ...regions, peer('x1', 100), peer('x2', 100, { region: 'eu' })]
    const base = { current: ['eu2'], blacklist: ['us1', 'e-b1'], min: 6, max: 8 }
    const expected = allocator.allocate(request(many, base))
    assert.equal(expected.length, 8)
    let seed = 7
    const random = (): number => { seed = (seed * 48271) % 2147483647; return seed / 2147483647 }
    for (let i = 0; i < 50; i++) {
      const shuffled = [...many].sort(() => random() - 0.5)
      const blacklist = [...base.blacklist].reverse()
      assert.deepEqual(allocator.allocate(request(shuffled, { ...base, blacklist })), expected)
    }
  })

  test('a stream of pins is spread evenly over regions and, within them, over peers', () => {
    const allocator = new BalancedAllocator({ allocateBy: ['tag:region', 'freespace'] })
    const peers = new Map([
      ['eu1', peer('eu1', 1000, { region: 'eu' })],
      ['eu2', peer('eu2', 1000, { region: 'eu' })],
      ['us1', peer('us1', 1000, { region: 'us' })],
      ['us2', peer('us2', 1000, { region: 'us' })]
    ])
    const held = new Map<string, number>()
    const perRegion = { eu: 0, us: 0 }
    for (let i = 0; i < 40; i++) {
      const chosen = allocator.allocate(request([...peers.values()], { min: 2, max: 2 }))
      assert.equal(chosen.length, 2)
      assert.notEqual(peers.get(chosen[0] as string)?.tags.region, peers.get(chosen[1] as string)?.tags.region, 'both regions hold every pin')
      for (const id of chosen) {
        const p = peers.get(id) as AllocationCandidate
        peers.set(id, { ...p, freeSpace: (p.freeSpace ?? 0) - 10 })
        held.set(id, (held.get(id) ?? 0) + 1)
        perRegion[p.tags.region as 'eu' | 'us']++
      }
    }
    assert.deepEqual(perRegion, { eu: 40, us: 40 })
    assert.deepEqual([...held.values()], [20, 20, 20, 20])
  })
})

describe('BalancedAllocator with the allocator config section', () => {
  test('the default allocateBy (tag:group, freespace) spreads over groups, then by free space', () => {
    const config: AllocatorConfig = { allocateBy: schema.allocator.allocateBy.default }
    const allocator = new BalancedAllocator(config)
    const peers = [peer('a', 10, { group: 'x' }), peer('b', 50, { group: 'x' }), peer('c', 20, { group: 'y' }), peer('d', 5)]
    assert.deepEqual(allocator.allocate(request(peers, { min: 3, max: 3 })), ['b', 'c', 'd'])
  })
})

describe('balancedOrder', () => {
  test('orders every candidate', () => {
    assert.deepEqual(balancedOrder(regions, parseAllocateBy(['tag:region', 'freespace'])), ['eu1', 'us2', 'ap1', 'eu2', 'us1'])
  })
})
