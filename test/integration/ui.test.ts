import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext } from 'playwright-core'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { AdminClient, basicAuthorization } from '../../src/api/client.js'
import { startKubos, type KuboDaemon } from '../fixtures/kubo.js'
import { startPinmesh, newSecret } from '../fixtures/pinmesh.js'
import { FAST_CLUSTER_ARGS, waitForMesh, type TestPeer } from '../fixtures/cluster.js'
import { waitFor } from '../fixtures/wait-for.js'
import { ROOT } from '../fixtures/paths.js'

// The status page in a real headless Chromium (Debian's, driven by playwright-core), against a
// 3-peer cluster with real Kubos and admin API auth on.

const CHROMIUM = process.env.CHROMIUM_BINARY ?? '/usr/bin/chromium'
// No traffic beyond loopback: these flags stop Chromium's own background connections.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const USER = 'admin'
const PASSWORD = 'ui-test-password'

let kubos: KuboDaemon[] = []
let peers: TestPeer[] = []
let profile: string
let context: BrowserContext | undefined

before(async () => {
  kubos = await startKubos(3)
  const secret = newSecret()
  const args = [...FAST_CLUSTER_ARGS, '--api-basic-auth', `${USER}:${PASSWORD}`]
  const first = await startPinmesh({ kuboApi: kubos[0]?.apiMultiaddr, secret, args: [...args, '--cluster-peername', 'peer-1'] })
  const rest = await Promise.all([1, 2].map(async (i) => await startPinmesh({
    kuboApi: kubos[i]?.apiMultiaddr, secret, bootstrap: first.swarmAddrs, args: [...args, '--cluster-peername', `peer-${i + 1}`]
  })))
  peers = [first, ...rest].map(proc => ({ proc, admin: new AdminClient({ url: proc.apiUrl, authorization: basicAuthorization(USER, PASSWORD) }) }))
  await waitForMesh(peers)
  profile = await mkdtemp(join(tmpdir(), 'pinmesh-chromium-'))
})

after(async () => {
  await context?.close()
  await Promise.all(peers.map(async p => { await p.proc.destroy() }))
  await Promise.all(kubos.map(async k => { await k.destroy() }))
  if (profile !== undefined) await rm(profile, { recursive: true, force: true })
})

test('the status page shows the three peers and every pin\'s status on each, live', async () => {
  const [a] = peers as [TestPeer]
  const put = await kubos[0]?.cli(['block', 'put'], { input: `ui test ${Date.now()}` })
  const everywhere = put?.stdout.trim() as string
  await a.admin.pin(everywhere, { name: 'everywhere' })
  await waitFor(async () => Object.values((await a.admin.status(everywhere)).peerMap).filter(i => i.status === 'pinned').length === 3,
    { timeoutMs: 30_000, message: 'pinned on all three peers' })

  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    httpCredentials: { username: USER, password: PASSWORD },
    viewport: { width: 1200, height: 800 }
  })
  const page = context.pages()[0] ?? await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => { errors.push(err.message) })
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()) })

  const res = await page.goto(`${a.proc.apiUrl}/ui`)
  assert.equal(res?.status(), 200)
  assert.equal(new URL(page.url()).pathname, '/ui/')

  // Polled through locators: the page's CSP forbids string evaluation, and the project compiles without the DOM library.
  await waitFor(async () => await page.locator('#peers tbody tr').count() === 3, { timeoutMs: 15_000, message: 'three peers shown' })
  const shownPeers = await page.$$eval('#peers tbody tr', rows => rows.map(r => ({ id: r.getAttribute('data-peer-id'), alive: r.querySelector('.alive')?.textContent })))
  assert.deepEqual(shownPeers.map(p => p.id).sort(), peers.map(p => p.proc.peerId).sort())
  assert.ok(shownPeers.every(p => p.alive === 'yes'), JSON.stringify(shownPeers))

  const row = `#pins tr[data-cid="${everywhere}"]`
  await waitFor(async () => await page.locator(`${row} [data-status="pinned"]`).count() === 3, { timeoutMs: 15_000, message: 'pinned on three peers shown' })
  assert.match(await page.textContent(row) ?? '', /everywhere/)
  assert.deepEqual((await page.$$eval('#peers tbody tr td:nth-child(2)', tds => tds.map(t => t.textContent))).sort(), ['peer-1', 'peer-2', 'peer-3'])

  // Live: a pin added after the page loaded shows up without a reload.
  const second = (await kubos[1]?.cli(['block', 'put'], { input: `ui test live ${Date.now()}` }))?.stdout.trim() as string
  await a.admin.pin(second, { name: 'added later', replication: '1' })
  await page.waitForSelector(`#pins tr[data-cid="${second}"] [data-status="pinned"]`, { timeout: 30_000 })
  await waitFor(async () => await page.locator('#status-counts [data-status="pinned"]').textContent() === 'pinned: 4', { timeoutMs: 15_000, message: 'status counts updated' })
  assert.equal(await page.textContent('#status-counts [data-status="remote"]'), 'remote: 2')
  assert.match(await page.textContent('#state') ?? '', /^updated /)

  await mkdir(join(ROOT, 'test-results'), { recursive: true })
  await page.screenshot({ path: join(ROOT, 'test-results', 'ui.png'), fullPage: true })
  assert.deepEqual(errors, [])
})

test('the status page shows the pins a page at a time, and turns pages with the cursor', async () => {
  const [a] = peers as [TestPeer]
  assert.ok(context !== undefined, 'the first test opened the browser')
  // Inline (identity) CIDs: every Kubo pins them at once.
  const cids = Array.from({ length: 130 }, (_, i) => CID.create(1, raw.code, identity.digest(new TextEncoder().encode(`ui paging ${i}`))).toString())
  assert.equal(await a.admin.pinMany(cids), cids.length)
  const total = (await a.admin.pinsetStats()).pins as number
  assert.ok(total > 130)
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => { errors.push(err.message) })
  await page.goto(`${a.proc.apiUrl}/ui/`)
  await waitFor(async () => await page.textContent('#pins-summary') === `${total} in the pinset`, { timeoutMs: 15_000, message: 'pinset size shown' })
  const shown = async (): Promise<string[]> => await page.$$eval('#pins tbody tr', rows => rows.map(r => r.getAttribute('data-cid') ?? ''))
  const first = await shown()
  assert.equal(first.length, 100, 'one page of 100 pins, not the whole pinset')
  assert.equal(await page.textContent('#pins-page'), 'page 1: pins 1–100')
  assert.equal(await page.isDisabled('#pins-prev'), true)
  await page.click('#pins-next')
  await waitFor(async () => await page.textContent('#pins-page') === `page 2: pins 101–${total}`, { timeoutMs: 15_000, message: 'second page shown' })
  const second = await shown()
  assert.equal(second.length, total - 100)
  assert.deepEqual(second.filter(c => first.includes(c)), [], 'no pin on both pages')
  assert.equal(await page.isDisabled('#pins-next'), true)
  await page.click('#pins-prev')
  await waitFor(async () => await page.textContent('#pins-page') === 'page 1: pins 1–100', { timeoutMs: 15_000, message: 'back on the first page' })
  assert.deepEqual(await shown(), first)
  assert.deepEqual(errors, [])
})

test('without credentials the page is refused with a Basic challenge the browser can answer', async () => {
  const res = await fetch(`${peers[0]?.proc.apiUrl}/ui/`)
  assert.equal(res.status, 401)
  assert.equal(res.headers.get('www-authenticate'), 'Basic realm="pinmesh"')
  assert.equal((await res.json() as { code: string }).code, 'ERR_UNAUTHORIZED')
})
