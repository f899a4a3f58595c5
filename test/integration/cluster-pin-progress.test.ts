import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { httpRequest } from '../fixtures/http.js'
import { kuboClusterPerFile } from '../fixtures/cluster.js'

const c = kuboClusterPerFile(2)

test('pin/add?progress=true on a peer the pin is not allocated to streams the allocated peer\'s Kubo progress, the whole DAG last', { timeout: 120_000 }, async () => {
  const [kuboA] = c.kubos
  const [a, b] = c.peers
  assert.ok(kuboA !== undefined && a !== undefined && b !== undefined)
  // Content only A's Kubo has (unpinned); B's Kubo fetches it over the swarm, in small blocks so it takes a while.
  const added = await kuboA.cli(['add', '-Q', '--pin=false', '--cid-version=1', '--chunker=size-1024'], { input: randomBytes(3_000_000) })
  assert.equal(added.code, 0, added.stderr)
  const cid = added.stdout.trim()
  const blocks = (await kuboA.cli(['refs', '-r', '--unique', cid])).stdout.trim().split('\n').length + 1

  const r = await httpRequest(`${a.proc.proxyUrl}/api/v0/pin/add?arg=${cid}&progress=true&replication=1&user-allocations=${b.proc.peerId}`)
  assert.equal(r.status, 200, r.body.toString())
  assert.equal(r.trailers['x-stream-error'], undefined)
  const lines = r.body.toString().trim().split('\n').map(l => JSON.parse(l) as { Progress?: number, Bytes?: number, Pins?: string[] })
  assert.deepEqual(lines.at(-1), { Pins: [cid] })
  const progress = lines.slice(0, -1).map(l => l.Progress ?? 0)
  assert.ok(progress.some(n => n > 0 && n < blocks), `no progress while B pinned: ${r.body.toString()}`)
  assert.equal(progress.at(-1), blocks)
  // B pinned it, A did not.
  assert.deepEqual((await b.admin.allocation(cid)).allocations, [b.proc.peerId])
  assert.equal((await kuboA.cli(['pin', 'ls', '--type=recursive', cid])).code, 1)
})
