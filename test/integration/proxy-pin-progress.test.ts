import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { startKubo, type KuboDaemon } from '../fixtures/kubo.js'
import { httpRequest } from '../fixtures/http.js'
import { kuboBehindPinmeshPerFile } from '../fixtures/proxy-pair.js'

// `pin add --progress` through pinmesh shows what it shows against Kubo: Kubo's progress lines
// (relayed from the Kubo that pins, here the local one, fetching from another Kubo over its swarm)
// while the pin proceeds, the whole DAG's count last, then the pin.

const pair = kuboBehindPinmeshPerFile()
let source: Promise<KuboDaemon> | undefined

/** The other Kubo, started by the first test that needs it (a second top-level before() would not wait for the pair), swarm-connected to the pair's. */
async function sourceKubo (): Promise<KuboDaemon> {
  source ??= (async () => {
    const kubo = await startKubo()
    const r = await pair.kubo.cli(['swarm', 'connect', `${kubo.swarmAddrs[0] ?? ''}/p2p/${kubo.peerId}`])
    assert.equal(r.code, 0, r.stderr)
    return kubo
  })()
  return await source
}
after(async () => { await (await source?.catch(() => undefined))?.destroy() })

const SIZE = 3_000_000

/** A DAG only the other Kubo holds (unpinned there), small 1 KiB blocks so fetching it takes a few seconds; with its block count. */
async function remoteDag (): Promise<{ cid: string, blocks: number }> {
  const kubo = await sourceKubo()
  const added = await kubo.cli(['add', '-Q', '--pin=false', '--cid-version=1', '--chunker=size-1024'], { input: randomBytes(SIZE) })
  assert.equal(added.code, 0, added.stderr)
  const cid = added.stdout.trim()
  const refs = await kubo.cli(['refs', '-r', '--unique', cid])
  return { cid, blocks: refs.stdout.trim().split('\n').length + 1 }
}

/** The CLI's progress lines (`Fetched/Processed N nodes (size)`, redrawn with \r on stderr). */
function progressLines (stderr: string): Array<{ nodes: number, text: string }> {
  return [...stderr.matchAll(/Fetched\/Processed (\d+) nodes \([^)]*\)/g)].map(m => ({ nodes: Number(m[1]), text: m[0] }))
}

test('ipfs pin add --progress of a DAG fetched from another Kubo shows Kubo\'s progress lines through pinmesh as against Kubo', { timeout: 180_000 }, async () => {
  const direct = await remoteDag()
  const proxied = await remoteDag()
  assert.equal(proxied.blocks, direct.blocks)
  const runs = []
  for (const [dag, api] of [[direct, pair.kubo.apiMultiaddr], [proxied, pair.pinmesh.proxyMultiaddr]] as const) {
    const r = await pair.kubo.cli(['pin', 'add', '--progress', dag.cid], { api, timeoutMs: 150_000 })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, `pinned ${dag.cid} recursively\n`)
    runs.push(progressLines(r.stderr))
  }
  const [kubo, pinmesh] = runs as [ReturnType<typeof progressLines>, ReturnType<typeof progressLines>]
  // Kubo's own answer: lines while it fetches, the whole DAG last.
  assert.ok(kubo.some(l => l.nodes > 0 && l.nodes < direct.blocks), `Kubo showed no intermediate progress: ${JSON.stringify(kubo)}`)
  assert.equal(kubo.at(-1)?.nodes, direct.blocks)
  // pinmesh: the same, streamed while the pin proceeds, never going back.
  assert.ok(pinmesh.some(l => l.nodes > 0 && l.nodes < proxied.blocks), `no progress shown while pinning: ${JSON.stringify(pinmesh)}`)
  for (let i = 1; i < pinmesh.length; i++) assert.ok((pinmesh[i]?.nodes ?? 0) >= (pinmesh[i - 1]?.nodes ?? 0), JSON.stringify(pinmesh))
  assert.equal(pinmesh.at(-1)?.text, kubo.at(-1)?.text)
})

test('pin/add?progress=true streams {"Progress":N,"Bytes":B} lines, the whole DAG last, then {"Pins":[…]}, in Kubo\'s shape', { timeout: 180_000 }, async () => {
  const shapes = []
  for (const url of [pair.kubo.apiUrl, pair.pinmesh.proxyUrl]) {
    const dag = await remoteDag()
    const r = await httpRequest(`${url}/api/v0/pin/add?arg=${dag.cid}&progress=true`)
    assert.equal(r.status, 200, r.body.toString())
    assert.equal(r.headers['x-chunked-output'], '1')
    assert.equal(r.trailers['x-stream-error'], undefined)
    const lines = r.body.toString().trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
    assert.deepEqual(lines.at(-1), { Pins: [dag.cid] })
    const progress = lines.slice(0, -1)
    for (const l of progress) assert.deepEqual(Object.keys(l).filter(k => k !== 'Progress' && k !== 'Bytes'), [], JSON.stringify(l))
    assert.ok(progress.some(l => typeof l.Progress === 'number' && l.Progress > 0 && l.Progress < dag.blocks), `${url}: no intermediate progress line: ${r.body.toString()}`)
    const last = progress.at(-1) ?? {}
    assert.equal(last.Progress, dag.blocks)
    assert.ok(typeof last.Bytes === 'number' && last.Bytes >= SIZE, JSON.stringify(last))
    shapes.push(last)
  }
  // DAGs of the same shape: the same final line.
  assert.deepEqual(shapes[1], shapes[0])
})

test('ipfs pin add --progress of a DAG the local Kubo already has ends with its node count, as Kubo\'s does', { timeout: 60_000 }, async () => {
  const added = await pair.kubo.cli(['add', '-Q', '--pin=false', '--chunker=size-4096'], { input: randomBytes(200_000) })
  assert.equal(added.code, 0, added.stderr)
  const cid = added.stdout.trim()
  const direct = await pair.kubo.cli(['pin', 'add', '--progress', cid])
  assert.equal(direct.code, 0, direct.stderr)
  assert.equal((await pair.kubo.cli(['pin', 'rm', cid])).code, 0)
  const proxied = await pair.kubo.cli(['pin', 'add', '--progress', cid], { api: pair.pinmesh.proxyMultiaddr })
  assert.equal(proxied.code, 0, proxied.stderr)
  assert.equal(proxied.stdout, direct.stdout)
  const last = progressLines(direct.stderr).at(-1)
  assert.ok(last !== undefined && last.nodes > 1, direct.stderr)
  // Through pinmesh the pin may take a tick longer (an early `{}` line is Kubo's shape too): compare the last line.
  assert.equal(progressLines(proxied.stderr).at(-1)?.text, last.text, proxied.stderr)
})
