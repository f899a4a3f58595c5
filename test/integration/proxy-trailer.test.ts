import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { httpRequest, multipart } from '../fixtures/http.js'
import { kuboBehindPinmeshPerFile } from '../fixtures/proxy-pair.js'

const pair = kuboBehindPinmeshPerFile()



/** Adds `content` to Kubo directly, unpinned, as 256 KiB raw leaves; returns the root and its leaves in order. */
async function addUnpinned (content: Buffer): Promise<{ root: string, leaves: string[] }> {
  const { body, contentType } = multipart([{ filename: 'f.bin', content }])
  const added = await httpRequest(`${pair.kubo.apiUrl}/api/v0/add?pin=false&raw-leaves=true&cid-version=1&chunker=size-262144`, { body, headers: { 'content-type': contentType } })
  assert.equal(added.status, 200)
  const root = (JSON.parse(added.body.toString().trim().split('\n').at(-1) as string) as { Hash: string }).Hash
  const links = await httpRequest(`${pair.kubo.apiUrl}/api/v0/dag/get?arg=${root}`)
  const leaves = (JSON.parse(links.body.toString()) as { Links: Array<{ Hash: { '/': string } }> }).Links.map(l => l.Hash['/'])
  return { root, leaves }
}

for (const command of ['cat', 'dag/export']) {
  test(`a forwarded ${command} that fails mid-stream keeps Kubo's status, bytes and X-Stream-Error trailer`, async () => {
    const { root, leaves } = await addUnpinned(randomBytes(4 * 262144))
    assert.equal(leaves.length, 4)
    // The third leaf goes: Kubo has streamed the first two when it finds the hole.
    const rm = await httpRequest(`${pair.kubo.apiUrl}/api/v0/block/rm?arg=${leaves[2] as string}`)
    assert.equal(rm.status, 200, rm.body.toString())

    const path = `/api/v0/${command}?arg=${root}&offline=true`
    const direct = await httpRequest(pair.kubo.apiUrl + path)
    const proxied = await httpRequest(pair.pinmesh.proxyUrl + path)
    assert.equal(direct.status, 200)
    assert.ok(direct.body.length > 0, 'Kubo streamed part of the answer before failing')
    assert.equal(direct.headers.trailer, 'X-Stream-Error')
    const streamError = direct.trailers['x-stream-error']
    assert.ok(streamError !== undefined && streamError !== '', `Kubo set X-Stream-Error (trailers: ${JSON.stringify(direct.trailers)})`)
    assert.equal(proxied.status, direct.status)
    assert.ok(proxied.body.equals(direct.body), `same ${direct.body.length} body bytes (got ${proxied.body.length})`)
    assert.equal(proxied.headers.trailer, direct.headers.trailer)
    assert.equal(proxied.trailers['x-stream-error'], streamError)
  })
}
