import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { ClusterIdentity, ClusterPeer, GlobalPinInfo } from '../../../src/cluster/index.js'
import type { PinInfo } from '../../../src/tracker/index.js'
import type { PinRecord } from '../../../src/types.js'
import { ago, formatAdded, formatId, formatPeers, formatPin, formatRecoverAll, formatStatus, humanBytes, peerNames } from '../../../src/cli/format.js'

const T = Date.UTC(2026, 10, 24, 12, 0, 0)
const self: ClusterIdentity = { id: 'P1', peername: 'peer1', clusterName: 'pinmesh', addresses: ['/ip4/127.0.0.1/tcp/9096/p2p/P1'], version: '0.1.0', trusted: true }
const peers: ClusterPeer[] = [
  { id: 'P3', peername: 'peer3', addresses: ['/ip4/127.0.0.1/tcp/9296'], connected: true, alive: true, kubo: { id: 'K3', addresses: ['/ip4/127.0.0.1/tcp/4003/p2p/K3'] }, freeSpace: 1536, queued: 2 },
  { id: 'P2', addresses: ['/ip4/127.0.0.1/tcp/9196'], connected: false, lastSeen: T - 125_000 }
]
const info = (peer: string, status: PinInfo['status'], extra: Partial<PinInfo> = {}): PinInfo => ({ cid: 'Qm1', peer, status, attempts: 0, priority: false, updatedAt: T, ...extra })

test('peers ls prints this peer with how many peers it sees, then the others with their state', () => {
  assert.equal(formatPeers(self, peers, T), [
    'P1 | peer1 | Sees 1 other peer (this peer)',
    '  > Addresses:',
    '    - /ip4/127.0.0.1/tcp/9096/p2p/P1',
    'P2 | - | Disconnected (last seen 2m ago)',
    '  > Addresses:',
    '    - /ip4/127.0.0.1/tcp/9196',
    'P3 | peer3 | Connected | Alive',
    '  > Addresses:',
    '    - /ip4/127.0.0.1/tcp/9296',
    '  > IPFS: K3',
    '    - /ip4/127.0.0.1/tcp/4003/p2p/K3',
    '  > Free space: 1.5 KiB | Queued: 2',
    ''
  ].join('\n'))
})

test('id prints the peer, the cluster and its addresses', () => {
  assert.equal(formatId(self, [...peers, { id: 'P4', addresses: [], connected: true }]), [
    'P1 | peer1 | Sees 2 other peers',
    '  > Cluster: pinmesh | Version: 0.1.0 | Trusted: yes',
    '  > Addresses:',
    '    - /ip4/127.0.0.1/tcp/9096/p2p/P1',
    ''
  ].join('\n'))
})

test('status prints the CID and name, then every peer in upper case with its error, sorted by name', () => {
  const g: GlobalPinInfo = {
    cid: 'Qm1', name: 'hello', allocations: ['P1', 'P2'], replicationMin: 2, replicationMax: 2,
    peerMap: { P3: info('P3', 'remote'), P2: info('P2', 'pin_error', { error: 'context deadline exceeded', attempts: 3 }), P1: info('P1', 'pinned', { priority: true }) }
  }
  const names = peerNames(self, peers)
  assert.equal(formatStatus(g, names), [
    'Qm1 | hello:',
    '    > P2                   : PIN_ERROR: context deadline exceeded | 2026-11-24T12:00:00.000Z | Attempts: 3 | Priority: false',
    '    > peer1                : PINNED | 2026-11-24T12:00:00.000Z | Attempts: 0 | Priority: true',
    '    > peer3                : REMOTE | 2026-11-24T12:00:00.000Z | Attempts: 0 | Priority: false',
    ''
  ].join('\n'))
  const pinning = formatStatus({ ...g, name: '', peerMap: { P1: info('P1', 'pinning', { progress: { nodes: 3, bytes: 2048 } }) } }, new Map())
  assert.match(pinning, /^Qm1:\n {4}> P1 {18} : PINNING \(3 blocks, 2\.0 KiB\) \| /)
})

test('pin ls prints one line per pin, like ipfs-cluster-ctl', () => {
  const pin: PinRecord = { cid: 'Qm1', name: 'n', mode: 'recursive', replicationMin: 1, replicationMax: 2, allocations: ['P3', 'P1'], metadata: { a: 'b' }, createdAt: T, updatedAt: T, updatedBy: 'P1', expireAt: T + 3_600_000 }
  assert.equal(formatPin(pin, peerNames(self, peers), T),
    'Qm1 | n | PIN | Repl. Factor: 1--2 | Allocations: [peer1 peer3] | Recursive | Metadata: a=b | Exp: 2026-11-24T13:00:00.000Z (in 1h) | Added: 2026-11-24T12:00:00.000Z\n')
  const everywhere = formatPin({ ...pin, mode: 'direct', replicationMin: -1, replicationMax: -1, allocations: [], metadata: {}, expireAt: undefined }, new Map(), T)
  assert.match(everywhere, /\| Repl\. Factor: -1 \| Allocations: \[everywhere\] \| Direct \| Metadata: no \| Exp: ∞ \|/)
})

test('add and recover lines', () => {
  assert.equal(formatAdded('QmA', 'dir/a.txt'), 'added QmA dir/a.txt\n')
  assert.equal(formatRecoverAll({ P1: 2, P2: 'timeout', P3: 1 }, peerNames(self, peers)), [
    'P2                   : ERROR: timeout',
    'peer1                : 2 operations queued',
    'peer3                : 1 operation queued',
    ''
  ].join('\n'))
})

test('sizes and ages read naturally', () => {
  assert.deepEqual([0, 1023, 1024, 1536, 10 * 1024 * 1024, 5 * 1024 ** 3].map(humanBytes), ['0 B', '1023 B', '1.0 KiB', '1.5 KiB', '10 MiB', '5.0 GiB'])
  assert.deepEqual([-5, 999, 59_000, 61_000, 3_600_000, 90_000_000].map(ago), ['0s', '0s', '59s', '1m', '1h', '1d'])
})
