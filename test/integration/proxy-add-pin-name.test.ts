import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AdminApiError, AdminClient } from '../../src/api/client.js'
import { httpRequest, multipart } from '../fixtures/http.js'
import { kuboBehindPinmeshPerFile } from '../fixtures/proxy-pair.js'

// `ipfs add` pins (pin defaults to true) and `--pin-name=<n>` names that pin. Through pinmesh the
// cluster pin takes the name, and so does the pin the tracker makes in each allocated Kubo.

const pair = kuboBehindPinmeshPerFile()
const admin = (): AdminClient => new AdminClient({ url: pair.pinmesh.apiUrl })

/** A file of fresh content in a temporary directory (each run adds new CIDs). */
async function freshFile (t: { after: (fn: () => Promise<void>) => void }, name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pinmesh-pin-name-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const path = join(dir, name)
  await writeFile(path, `${name} ${randomBytes(16).toString('hex')}\n`)
  return path
}

/** `ipfs pin ls --names <cid>` output, against Kubo itself or through `api`. */
async function pinLsNames (cid: string, api?: string): Promise<string> {
  const r = await pair.kubo.cli(['pin', 'ls', '--names', cid], { api })
  assert.equal(r.code, 0, r.stderr)
  return r.stdout
}

async function allocation (cid: string): Promise<{ name: string } | undefined> {
  try { return await admin().allocation(cid) } catch (err) {
    if (err instanceof AdminApiError && err.status === 404) return undefined
    throw err
  }
}

test('ipfs add --pin-name=<n> names the pin through pinmesh as against Kubo: the cluster pin and the allocated Kubo\'s pin', async (t) => {
  const results = []
  for (const [api, name] of [[pair.kubo.apiMultiaddr, 'named-direct'], [pair.pinmesh.proxyMultiaddr, 'named-via-pinmesh']] as const) {
    const file = await freshFile(t, 'f.txt')
    const r = await pair.kubo.cli(['add', `--pin-name=${name}`, file], { api })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stderr, '')
    const m = /^added (\S+) f\.txt\n$/.exec(r.stdout)
    assert.ok(m !== null, r.stdout)
    results.push({ cid: m[1] as string, name })
  }
  const [direct, via] = results as [{ cid: string, name: string }, { cid: string, name: string }]
  assert.equal(await pinLsNames(direct.cid), `${direct.cid} recursive named-direct\n`)
  // Through the proxy (the cluster pinset), in the admin API, and in the Kubo the tracker pinned it in.
  assert.equal(await pinLsNames(via.cid, pair.pinmesh.proxyMultiaddr), `${via.cid} recursive named-via-pinmesh\n`)
  assert.equal((await allocation(via.cid))?.name, 'named-via-pinmesh')
  assert.equal(await pinLsNames(via.cid), `${via.cid} recursive named-via-pinmesh\n`)
})

test('add?pin-name= over HTTP names every top-level pin, as Kubo does', async () => {
  const pins = []
  for (const url of [pair.kubo.apiUrl, pair.pinmesh.proxyUrl]) {
    const tag = randomBytes(8).toString('hex')
    const { body, contentType } = multipart([{ filename: 'a.txt', content: `a ${tag}\n` }, { filename: 'b.txt', content: `b ${tag}\n` }])
    const r = await httpRequest(`${url}/api/v0/add?pin-name=two-files`, { headers: { 'content-type': contentType }, body })
    assert.equal(r.status, 200, r.body.toString())
    const lines = r.body.toString().trim().split('\n').map(l => JSON.parse(l) as { Name: string, Hash: string })
    assert.deepEqual(lines.map(l => l.Name), ['a.txt', 'b.txt'])
    pins.push(lines.map(l => l.Hash))
  }
  const [direct, via] = pins as [string[], string[]]
  for (const cid of direct) assert.equal(await pinLsNames(cid), `${cid} recursive two-files\n`)
  for (const cid of via) {
    assert.equal(await pinLsNames(cid, pair.pinmesh.proxyMultiaddr), `${cid} recursive two-files\n`)
    assert.equal((await allocation(cid))?.name, 'two-files')
    assert.equal(await pinLsNames(cid), `${cid} recursive two-files\n`)
  }
})

test('ipfs add without --pin-name leaves the pin unnamed, as Kubo does', async (t) => {
  const file = await freshFile(t, 'plain.txt')
  const r = await pair.kubo.cli(['add', '-Q', file], { api: pair.pinmesh.proxyMultiaddr })
  assert.equal(r.code, 0, r.stderr)
  const cid = r.stdout.trim()
  assert.equal(await pinLsNames(cid, pair.pinmesh.proxyMultiaddr), `${cid} recursive\n`)
  assert.equal((await allocation(cid))?.name, '')
  assert.equal(await pinLsNames(cid), `${cid} recursive\n`)
})

test('ipfs add --pin=false makes no cluster pin (and no Kubo pin)', async (t) => {
  const file = await freshFile(t, 'unpinned.txt')
  const r = await pair.kubo.cli(['add', '-Q', '--pin=false', file], { api: pair.pinmesh.proxyMultiaddr })
  assert.equal(r.code, 0, r.stderr)
  const cid = r.stdout.trim()
  assert.equal(await allocation(cid), undefined)
  const viaLs = await pair.kubo.cli(['pin', 'ls', cid], { api: pair.pinmesh.proxyMultiaddr })
  assert.equal(viaLs.code, 1)
  assert.match(viaLs.stderr, /is not pinned/)
  assert.equal((await pair.kubo.cli(['pin', 'ls', cid])).code, 1)
})

test('ipfs add with a bad --pin-name fails through pinmesh with Kubo\'s own error', async (t) => {
  const file = await freshFile(t, 'bad.txt')
  for (const args of [['--pin=false', '--pin-name=x'], [`--pin-name=${'n'.repeat(256)}`], ['--pin=false', `--pin-name=${'n'.repeat(300)}`]]) {
    const direct = await pair.kubo.cli(['add', ...args, file])
    const via = await pair.kubo.cli(['add', ...args, file], { api: pair.pinmesh.proxyMultiaddr })
    assert.equal(direct.code, 1, direct.stderr)
    assert.deepEqual({ code: via.code, stdout: via.stdout, stderr: via.stderr }, { code: direct.code, stdout: direct.stdout, stderr: direct.stderr }, args.join(' ').slice(0, 40))
  }
})

test('pin add with a name over 255 bytes fails through pinmesh with Kubo\'s own error and status', async (t) => {
  const file = await freshFile(t, 'long-name.txt')
  const added = await pair.kubo.cli(['add', '-Q', '--pin=false', file])
  assert.equal(added.code, 0, added.stderr)
  const cid = added.stdout.trim()
  const name = 'n'.repeat(256)
  const direct = await pair.kubo.cli(['pin', 'add', `--name=${name}`, cid])
  const via = await pair.kubo.cli(['pin', 'add', `--name=${name}`, cid], { api: pair.pinmesh.proxyMultiaddr })
  assert.equal(direct.code, 1, direct.stderr)
  assert.deepEqual({ code: via.code, stdout: via.stdout, stderr: via.stderr }, { code: direct.code, stdout: direct.stdout, stderr: direct.stderr })
  assert.equal(await allocation(cid), undefined)
})
