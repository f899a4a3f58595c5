import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { runCli } from '../fixtures/kubo.js'
import { kuboClusterPerFile, waitForPinCount, type TestPeer } from '../fixtures/cluster.js'
import { PINMESH_BIN } from '../fixtures/pinmesh.js'
import { parsePrometheus, promValue } from '../fixtures/prometheus.js'

// Two real Kubos, each with its own pinmesh, and 2,500 pins: GET /pins answers a page at a time,
// the CLI follows the cursor to the end, and a cursor the server did not make is a 400.

const cluster = kuboClusterPerFile(2)
const A = (): TestPeer => cluster.peers[0] as TestPeer

/** Identity CIDs (the data inline): every Kubo pins them at once, with nothing to fetch. */
function inlineCids (n: number, seed: string): string[] {
  return Array.from({ length: n }, (_, i) => CID.create(1, raw.code, identity.digest(new TextEncoder().encode(`${seed}-${i}`))).toString())
}

const N = 2500
let pinned: Promise<string[]> | undefined

/** The pins every test reads, made once. */
async function pins (): Promise<string[]> {
  pinned ??= (async () => {
    const cids = inlineCids(N, 'paging')
    assert.equal(await A().admin.pinMany(cids), N)
    await waitForPinCount(A().admin, N)
    return cids
  })()
  return await pinned
}

async function getPage (path: string): Promise<{ status: number, cids: string[], next: string | null, link: string | null, body: string }> {
  const res = await fetch(`${A().proc.apiUrl}${path}`)
  const body = await res.text()
  const cids = res.status === 200 ? body.split('\n').filter(l => l !== '').map(l => (JSON.parse(l) as { cid: string }).cid) : []
  return { status: res.status, cids, next: res.headers.get('x-next-cursor'), link: res.headers.get('link'), body }
}

test('GET /pins?limit=1000 pages through 2,500 pins in three pages, with no duplicates and no gaps, across a pin made meanwhile', async () => {
  const cids = await pins()
  const first = await getPage('/pins?limit=1000')
  assert.equal(first.status, 200, first.body)
  assert.equal(first.cids.length, 1000)
  assert.ok(first.next !== null, 'a next cursor')
  assert.match(first.link ?? '', /^<\?limit=1000&cursor=[^>]+>; rel="next"$/)
  // A pin made between two pages: the walk neither repeats nor skips a pin that was there all along.
  const [late] = inlineCids(1, 'paging-late') as [string]
  await A().admin.pin(late)
  const seen = [...first.cids]
  let cursor: string | null = first.next
  let pages = 1
  while (cursor !== null) {
    const page = await getPage(`/pins?limit=1000&cursor=${encodeURIComponent(cursor)}`)
    assert.equal(page.status, 200, page.body)
    assert.ok(page.cids.length <= 1000)
    seen.push(...page.cids)
    cursor = page.next
    pages++
  }
  assert.equal(pages, 3)
  assert.equal(new Set(seen).size, seen.length, 'no pin listed twice')
  const listed = new Set(seen)
  const missing = cids.filter(c => !listed.has(c))
  assert.deepEqual(missing, [], 'no pin left out')
  assert.ok(seen.length === N || (seen.length === N + 1 && listed.has(late)), `${seen.length} pins listed`)
})

test('the CLI lists every pin: `status` follows the cursor page after page, `pin ls` reads the streamed allocations', async () => {
  const cids = await pins()
  const total = (await A().admin.pinsetStats()).pins
  assert.ok(total !== undefined && total >= N)
  const requests = async (): Promise<number> => promValue(parsePrometheus(await A().admin.metrics()), 'pinmesh_api_request_duration_seconds_count', { route: '/pins', method: 'GET', status: '200' }) ?? 0
  const before = await requests()
  const status = await runCli(process.execPath, [PINMESH_BIN, '--host', A().proc.apiUrl, 'status', '--json'], { timeoutMs: 120_000 })
  assert.equal(status.code, 0, status.stderr)
  const infos = JSON.parse(status.stdout) as Array<{ cid: string, peerMap: Record<string, unknown> }>
  assert.equal(infos.length, total)
  assert.equal(new Set(infos.map(i => i.cid)).size, total)
  for (const c of cids.slice(0, 10)) assert.ok(infos.some(i => i.cid === c && Object.keys(i.peerMap).length === 2))
  assert.equal(await requests() - before, 3, 'the CLI asked for three pages of 1000')
  const ls = await runCli(process.execPath, [PINMESH_BIN, '--host', A().proc.apiUrl, 'pin', 'ls', '--json'], { timeoutMs: 120_000 })
  assert.equal(ls.code, 0, ls.stderr)
  assert.equal((JSON.parse(ls.stdout) as unknown[]).length, total)
})

test('a bad cursor or limit is a 400 with {code, message}', async () => {
  await pins()
  for (const path of ['/pins?cursor=not-a-cursor', '/pins?cursor=zz.bafy', '/pins?limit=0', '/pins?limit=10001']) {
    const r = await getPage(path)
    assert.equal(r.status, 400, path)
    const body = JSON.parse(r.body) as Record<string, unknown>
    assert.deepEqual(Object.keys(body).sort(), ['code', 'message'])
    assert.equal(body.code, 'ERR_INVALID_PARAMETERS')
  }
})
