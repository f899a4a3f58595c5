import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { addUnpinned, runCli, type KuboDaemon } from '../fixtures/kubo.js'
import { kuboClusterPerFile, type TestPeer } from '../fixtures/cluster.js'
import { FIXTURES } from '../fixtures/paths.js'
import { httpRequest } from '../fixtures/http.js'
import { PINMESH_BIN } from '../fixtures/pinmesh.js'
import { waitFor } from '../fixtures/wait-for.js'

// Two real Kubos, each with its own pinmesh: indirect pins of a pin only the other peer holds, and
// pins made in a Kubo behind pinmesh's back, adopted into the cluster pinset.

const cluster = kuboClusterPerFile(2)
const A = (): TestPeer => cluster.peers[0] as TestPeer
const B = (): TestPeer => cluster.peers[1] as TestPeer
const kuboA = (): KuboDaemon => cluster.kubos[0] as KuboDaemon
const kuboB = (): KuboDaemon => cluster.kubos[1] as KuboDaemon

async function keys (url: string): Promise<string[]> {
  const r = await httpRequest(url)
  assert.equal(r.status, 200, r.body.toString())
  return Object.keys((JSON.parse(r.body.toString()) as { Keys?: Record<string, unknown> }).Keys ?? {}).sort()
}

async function pinmesh (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return await runCli(process.execPath, [PINMESH_BIN, '--host', A().proc.apiUrl, ...args])
}

test('pin/ls through peer A lists the indirect pins of a pin only peer B holds, and answers "indirect through" for them as B\'s Kubo does', async () => {
  const added = await kuboB().cli(['add', '-r', '-Q', '--pin=false', join(FIXTURES, 'tree')])
  const root = added.stdout.trim()
  const pin = await httpRequest(`${A().proc.proxyUrl}/api/v0/pin/add?arg=${root}&replication=1&user-allocations=${B().proc.peerId}`)
  assert.equal(pin.status, 200, pin.body.toString())
  assert.notEqual((await kuboA().cli(['pin', 'ls', '--type=recursive', root])).code, 0, 'Kubo A does not hold the tree')
  const viaA = await keys(`${A().proc.proxyUrl}/api/v0/pin/ls?type=indirect`)
  const kuboBIndirect = await keys(`${kuboB().apiUrl}/api/v0/pin/ls?type=indirect`)
  assert.ok(kuboBIndirect.length >= 4, `the tree has children: ${kuboBIndirect.join(' ')}`)
  assert.deepEqual(viaA, kuboBIndirect)
  const all = await keys(`${A().proc.proxyUrl}/api/v0/pin/ls`)
  for (const c of kuboBIndirect) assert.ok(all.includes(c), `${c} in type=all`)
  const child = (await kuboB().cli(['resolve', '-r', `/ipfs/${root}/sub/b.txt`])).stdout.trim().replace('/ipfs/', '')
  const [fromB, fromA] = await Promise.all([B().proc.proxyUrl, A().proc.proxyUrl].map(async u => await httpRequest(`${u}/api/v0/pin/ls?arg=${child}`)))
  const fromKuboB = await httpRequest(`${kuboB().apiUrl}/api/v0/pin/ls?arg=${child}`)
  assert.equal(fromKuboB.body.toString(), `{"Keys":{"${child}":{"Type":"indirect through ${root}","Name":""}}}\n`)
  assert.equal(fromA?.status, 200)
  assert.equal(fromA?.body.toString(), fromKuboB.body.toString())
  assert.equal(fromB?.body.toString(), fromKuboB.body.toString())
})

test('a pin made directly in Kubo A is listed by pin/ls through A; pinmesh pin adopt puts it in the cluster pinset and it replicates', async () => {
  const legacy = (await kuboA().cli(['add', '-q', '--pin-name', 'legacy'], { input: 'pinned before pinmesh\n' })).stdout.trim()
  const direct = await addUnpinned(kuboA(), 'pinned directly, behind pinmesh\n')
  assert.equal((await kuboA().cli(['pin', 'add', '--recursive=false', '--name', 'legacy-direct', direct])).code, 0)
  const listed = await httpRequest(`${A().proc.proxyUrl}/api/v0/pin/ls?arg=${legacy}&arg=${direct}&names=true`)
  assert.equal(listed.body.toString(), `{"Keys":{${[[legacy, 'recursive', 'legacy'], [direct, 'direct', 'legacy-direct']].sort().map(([c, t, n]) => `"${c}":{"Type":"${t}","Name":"${n}"}`).join(',')}}}\n`)
  await assert.rejects(A().admin.allocation(legacy), /not in the cluster pinset/)

  const adopted = await pinmesh(['pin', 'adopt', legacy])
  assert.equal(adopted.code, 0, adopted.stderr)
  assert.match(adopted.stdout, new RegExp(`^${legacy} \\| legacy \\| PIN \\| Repl. Factor: -1 \\| Allocations: \\[everywhere\\] \\| Recursive`))
  const record = await A().admin.allocation(legacy)
  assert.equal(record.name, 'legacy')
  assert.equal(record.mode, 'recursive')
  await waitFor(async () => (await kuboB().cli(['pin', 'ls', '--type=recursive', '--names', legacy])).stdout === `${legacy} recursive legacy\n`, { timeoutMs: 20_000, message: 'Kubo B pins the adopted pin' })
  await waitFor(async () => Object.values((await A().admin.status(legacy)).peerMap).every(i => i.status === 'pinned'), { timeoutMs: 20_000, message: 'pinned on both peers' })
  const again = await pinmesh(['pin', 'adopt', legacy])
  assert.equal(again.stdout, `${legacy} is in the cluster pinset already\n`)

  // --all with replication 1: every other pin of Kubo A joins, allocated to A, where it already is.
  const all = await pinmesh(['pin', 'adopt', '--all', '--replication', '1', '--json'])
  assert.equal(all.code, 0, all.stderr)
  const result = JSON.parse(all.stdout) as { adopted: Array<{ cid: string, mode: string, name: string, allocations: string[] }>, inPinset: string[] }
  const d = result.adopted.find(p => p.cid === direct)
  assert.deepEqual(d && { mode: d.mode, name: d.name, allocations: d.allocations }, { mode: 'direct', name: 'legacy-direct', allocations: [A().proc.peerId] })
  assert.ok(result.inPinset.includes(legacy))
  await waitFor(async () => (await A().admin.status(direct)).peerMap[A().proc.peerId]?.status === 'pinned', { timeoutMs: 20_000, message: 'the direct pin is pinned on A' })
  assert.equal((await A().admin.status(direct)).peerMap[B().proc.peerId]?.status, 'remote')
  assert.equal((await kuboA().cli(['pin', 'ls', '--type=direct', direct])).stdout, `${direct} direct\n`, 'still pinned directly in Kubo A')

  const missing = await addUnpinned(kuboA(), 'never pinned\n')
  const refused = await pinmesh(['pin', 'adopt', missing])
  assert.equal(refused.code, 1)
  assert.equal(refused.stderr, `pinmesh: ${missing} is not pinned recursively or directly in this peer's kubo (ERR_INVALID_PARAMETERS)\n`)
})
