import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { addUnpinned, startKubos, type KuboDaemon } from '../fixtures/kubo.js'
import { startCluster, waitForMesh, FAST_CLUSTER_ARGS, type TestPeer } from '../fixtures/cluster.js'
import { startHttpRelay, type HttpRelay } from '../fixtures/http-relay.js'
import { httpRequest } from '../fixtures/http.js'

// Waiting for "pinned" (the proxy's default) against 2 real Kubos, each behind a relay that records
// what pinmesh asks it: the wait learns from the trackers' own pin operations, so it never makes a
// Kubo walk its pinset (pin/ls of one CID with type=all, which holds Kubo's pin lock).

let kubos: KuboDaemon[] = []
let relays: HttpRelay[] = []
let peers: TestPeer[] = []

before(async () => {
  kubos = await startKubos(2)
  relays = await Promise.all(kubos.map(async k => await startHttpRelay(k.apiUrl)))
  const apis = relays.map(r => `/ip4/127.0.0.1/tcp/${new URL(r.url).port}`)
  peers = await startCluster(2, { kuboApis: apis, args: [...FAST_CLUSTER_ARGS, '--log-level', 'info'] })
  await waitForMesh(peers)
})
after(async () => {
  await Promise.all(peers.map(async p => { await p.proc.destroy() }))
  await Promise.all(relays.map(async r => { await r.close() }))
  await Promise.all(kubos.map(async k => { await k.destroy() }))
})

/** pin/ls calls for one CID that pinmesh sent to each Kubo so far. */
const pinLsOfOne = (): string[] => relays.flatMap(r => r.queries('/api/v0/pin/ls').filter(q => new URLSearchParams(q).has('arg')))
/** Kubo lists every type (and so walks every pinned DAG) unless asked for one. */
const walksPinset = (q: string): boolean => { const type = new URLSearchParams(q).get('type'); return type === null || type === 'all' || type === 'indirect' }

async function kuboHolds (kubo: KuboDaemon, cid: string): Promise<boolean> {
  const r = await kubo.cli(['pin', 'ls', '--type=recursive', cid])
  return r.code === 0 && r.stdout.startsWith(cid)
}

test('pin/add waiting for pinned never sends Kubo a pin/ls of the CID, and status asks only the pin\'s own mode', async () => {
  const a = peers[0] as TestPeer
  const cids = await Promise.all(['one', 'two', 'three', 'four'].map(async t => await addUnpinned(kubos[1] as KuboDaemon, `wait for me ${t}\n`)))
  const before = pinLsOfOne().length
  const answers = await Promise.all(cids.map(async cid => await httpRequest(`${a.proc.proxyUrl}/api/v0/pin/add?arg=${cid}`)))
  for (const [i, r] of answers.entries()) assert.equal(r.body.toString(), `{"Pins":["${cids[i] as string}"]}\n`)
  // Answered once pinned: every Kubo holds every pin at that moment.
  for (const k of kubos) for (const cid of cids) assert.ok(await kuboHolds(k, cid), `${cid} pinned on ${k.apiUrl}`)
  assert.deepEqual(pinLsOfOne().slice(before), [], 'the wait asked a Kubo about the CID')

  // A status asks each Kubo, for the pin's own mode only.
  for (const cid of cids) {
    const status = await a.admin.status(cid)
    assert.deepEqual(Object.values(status.peerMap).map(i => i.status), ['pinned', 'pinned'])
  }
  const asked = pinLsOfOne().slice(before)
  assert.ok(asked.length >= cids.length, `status asked ${asked.length} times`)
  assert.deepEqual(asked.filter(walksPinset), [])
  assert.deepEqual([...new Set(asked.map(q => new URLSearchParams(q).get('type')))], ['recursive'])
  // Nothing pinmesh sent made Kubo walk its pinset (listings without an argument are typed too).
  const all = relays.flatMap(r => r.queries('/api/v0/pin/ls'))
  assert.deepEqual(all.filter(walksPinset), [])
})

test('a pin/ls of a CID that is not pinned is answered as Kubo answers it, and logged as an answer, not as an error', async () => {
  const a = peers[0] as TestPeer
  const cid = await addUnpinned(kubos[0] as KuboDaemon, 'nobody pins this\n')
  const viaPinmesh = await httpRequest(`${a.proc.proxyUrl}/api/v0/pin/ls?arg=${cid}`)
  const direct = await httpRequest(`${(kubos[0] as KuboDaemon).apiUrl}/api/v0/pin/ls?arg=${cid}`)
  assert.equal(viaPinmesh.status, 500)
  assert.equal(viaPinmesh.status, direct.status)
  assert.equal(viaPinmesh.body.toString(), direct.body.toString())
  const lines = a.proc.output().split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as { level: number, msg: string, message?: string })
  const answered = lines.filter(l => l.msg === 'intercepted command answered with a Kubo error')
  assert.equal(answered.length, 1, 'the answer is logged once, at info')
  assert.equal(answered[0]?.level, 30)
  assert.equal(answered[0]?.message, `path '${cid}' is not pinned`)
  assert.deepEqual(lines.filter(l => l.level >= 50).map(l => l.msg), [], 'error lines in the log')
})
