import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { create } from 'kubo-rpc-client'
import { hasDag, startKubo, type KuboDaemon } from '../fixtures/kubo.js'
import { kuboClusterPerFile, type TestPeer } from '../fixtures/cluster.js'
import { FIXTURES } from '../fixtures/paths.js'
import { carWithRoots } from '../fixtures/car.js'
import { waitFor } from '../fixtures/wait-for.js'

// add and dag/import through pinmesh put the content on the allocated peers' Kubos during the upload.

const cluster = kuboClusterPerFile(3)
let plain: KuboDaemon
before(async () => { plain = await startKubo() })
after(async () => { await plain?.destroy() })

const A = (): TestPeer => cluster.peers[0] as TestPeer


test('ipfs add -r through pinmesh prints what Kubo prints; every allocated Kubo has every block when it returns', async () => {
  const tree = join(FIXTURES, 'tree')
  const direct = await plain.cli(['add', '-r', tree])
  const via = await plain.cli(['add', '-r', tree], { api: A().proc.proxyMultiaddr })
  assert.equal(via.code, 0, via.stderr)
  assert.equal(via.stdout, direct.stdout)
  assert.equal(via.stderr, direct.stderr)
  const root = (/added (\S+) tree\n$/.exec(via.stdout) ?? [])[1] as string
  // Default replication: every peer. No waiting: the blocks were written during the upload.
  for (const k of cluster.kubos) assert.equal(await hasDag(k, root), true, `Kubo ${k.apiUrl} has the whole DAG`)
  const ls = await plain.cli(['pin', 'ls', '--type=recursive', root], { api: A().proc.proxyMultiaddr })
  assert.equal(ls.stdout, `${root} recursive\n`)
  // As with Kubo, add returns once the content is pinned (the proxy's default wait=pinned).
  for (const k of cluster.kubos) assert.equal((await k.cli(['pin', 'ls', '--type=recursive', root])).code, 0, `pinned on Kubo ${k.apiUrl}`)
})

test('kubo-rpc-client add and addAll through pinmesh, with progress callbacks, match Kubo', async () => {
  const viaClient = create({ url: `${A().proc.proxyUrl}/api/v0` })
  const directClient = create({ url: `${plain.apiUrl}/api/v0` })
  const content = randomBytes(700_000)
  const progress: { via: number[], direct: number[] } = { via: [], direct: [] }
  const one = await viaClient.add({ path: 'rpc.bin', content }, { progress: (b) => progress.via.push(b), cidVersion: 1 })
  const oneDirect = await directClient.add({ path: 'rpc.bin', content }, { progress: (b) => progress.direct.push(b), cidVersion: 1 })
  assert.equal(one.cid.toString(), oneDirect.cid.toString())
  assert.equal(one.size, oneDirect.size)
  assert.deepEqual(progress.via, progress.direct)
  assert.ok(progress.via.length >= 3)
  const files = [{ path: 'd/x.txt', content: new TextEncoder().encode('x\n') }, { path: 'd/y/z.txt', content: new TextEncoder().encode('z\n') }]
  const all = []
  for await (const r of viaClient.addAll(files, { wrapWithDirectory: true })) all.push({ path: r.path, cid: r.cid.toString(), size: r.size })
  const allDirect = []
  for await (const r of directClient.addAll(files, { wrapWithDirectory: true })) allDirect.push({ path: r.path, cid: r.cid.toString(), size: r.size })
  assert.deepEqual(all, allDirect)
  const wrapper = all.at(-1)?.cid as string
  for (const k of cluster.kubos) assert.equal(await hasDag(k, wrapper), true)
  for (const k of cluster.kubos) assert.equal(await hasDag(k, one.cid.toString()), true)
})

test('ipfs dag import of a CAR with two roots through pinmesh pins both roots on the allocated peers', async () => {
  const { car, roots } = await carWithRoots(['first root\n', 'second root\n'])
  const dir = await mkdtemp(join(tmpdir(), 'pinmesh-car-'))
  try {
    const file = join(dir, 'two.car')
    await writeFile(file, car)
    const via = await plain.cli(['dag', 'import', file], { api: A().proc.proxyMultiaddr })
    const direct = await plain.cli(['dag', 'import', file])
    assert.equal(via.code, 0, via.stderr)
    // Kubo prints the roots in Go map order, which differs from run to run even against Kubo alone.
    const sorted = (s: string): string[] => s.split('\n').filter(l => l !== '').sort()
    assert.deepEqual(sorted(via.stdout), sorted(direct.stdout))
    assert.equal(sorted(via.stdout).length, 2)
    for (const root of roots) {
      assert.equal((await A().admin.allocation(root)).cid, root)
      await waitFor(async () => { for (const k of cluster.kubos) if ((await k.cli(['pin', 'ls', root])).code !== 0) return false; return true }, { message: `${root} pinned on every Kubo` })
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('block put and dag put with --pin=true record cluster pins', async () => {
  const block = await plain.cli(['block', 'put', '--pin=true'], { input: 'pinned block\n', api: A().proc.proxyMultiaddr })
  assert.equal(block.code, 0, block.stderr)
  const blockCid = block.stdout.trim()
  const dag = await plain.cli(['dag', 'put', '--pin=true'], { input: '{"pinned":"dag"}', api: A().proc.proxyMultiaddr })
  assert.equal(dag.code, 0, dag.stderr)
  const dagCid = dag.stdout.trim()
  for (const cid of [blockCid, dagCid]) {
    assert.equal((await A().admin.allocation(cid)).cid, cid)
    await waitFor(async () => { for (const k of cluster.kubos) if ((await k.cli(['pin', 'ls', cid])).code !== 0) return false; return true }, { message: `${cid} pinned on every Kubo` })
  }
})
