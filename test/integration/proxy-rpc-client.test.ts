import { test } from 'node:test'
import assert from 'node:assert/strict'
import { create, type KuboRPCClient } from 'kubo-rpc-client'
import { CID } from 'multiformats/cid'
import { carWithRoots } from '../fixtures/car.js'
import { kuboBehindPinmeshPerFile } from '../fixtures/proxy-pair.js'

// An unchanged kubo-rpc-client app gets the same answers from pinmesh as from Kubo.

let direct: KuboRPCClient
let proxied: KuboRPCClient

kuboBehindPinmeshPerFile([], ({ kubo, pinmesh }) => {
  direct = create({ url: `${kubo.apiUrl}/api/v0` })
  proxied = create({ url: `${pinmesh.proxyUrl}/api/v0` })
})

async function collect<T> (it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

async function bytes (it: AsyncIterable<Uint8Array>): Promise<string> {
  return Buffer.concat(await collect(it)).toString('base64')
}

/** Plain JSON with CIDs, bigints and byte arrays as strings, so results compare structurally. */
function plain (v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'bigint') return `${x}n`
    const c = CID.asCID(x)
    if (c !== null) return `cid:${c.toString()}`
    if (x instanceof Uint8Array) return Buffer.from(x).toString('base64')
    return x
  }))
}

/**
 * Each entry of a tar archive, read from its 512-byte headers: name, type flag, size and content
 * (base64), except that a PAX header entry (type `x`) gives only its record keys.
 */
function tarEntries (tar: Buffer): Array<{ name: string, type: string, size: number, content: string | string[] }> {
  const out: Array<{ name: string, type: string, size: number, content: string | string[] }> = []
  let off = 0
  for (; off + 512 <= tar.length;) {
    const h = tar.subarray(off, off + 512)
    if (h.every(b => b === 0)) break
    const name = h.subarray(0, 100).toString().replace(/\0.*$/s, '')
    const size = parseInt(h.subarray(124, 136).toString().replace(/\0.*$/s, '').trim() || '0', 8)
    const type = String.fromCharCode(h[156] as number)
    const body = tar.subarray(off + 512, off + 512 + size)
    const content = type === 'x' ? body.toString().split('\n').filter(r => r !== '').map(r => r.split(' ')[1]?.split('=')[0] ?? r) : body.toString('base64')
    out.push({ name, type, size: type === 'x' ? -1 : size, content })
    off += 512 + Math.ceil(size / 512) * 512
  }
  assert.ok(off + 1024 <= tar.length, 'the archive ends with its two zero blocks')
  return out
}

// Made once, so that both clients import the same CAR; its roots are new to the Kubo.
const importCar = carWithRoots([`dag import via kubo-rpc-client ${Date.now()} ${Math.random()}`, 'second root of the CAR'])

type Op = (c: KuboRPCClient) => Promise<unknown>
const ops: Array<[string, Op]> = [
  ['id', async c => { const r = await c.id(); return { ...r, addresses: r.addresses.map(String) } }],
  ['version', async c => await c.version()],
  ['add bytes', async c => await c.add(new TextEncoder().encode('kubo-rpc-client through pinmesh\n'))],
  ['add with options and progress', async c => {
    const progress: Array<[number, string | undefined]> = []
    const r = await c.add({ path: 'p.bin', content: new Uint8Array(600_000).fill(7) }, { cidVersion: 1, rawLeaves: true, progress: (b, p) => progress.push([b, p]) })
    return { r, progress }
  }],
  ['addAll directory', async c => await collect(c.addAll([
    { path: 'd/a.txt', content: new TextEncoder().encode('a\n') },
    { path: 'd/sub/b.txt', content: new TextEncoder().encode('b\n') }
  ], { wrapWithDirectory: true }))],
  ['cat', async c => { const { cid } = await c.add('cat me\n'); return await bytes(c.cat(cid)) }],
  ['ls', async c => {
    const root = (await collect(c.addAll([{ path: 'l/x', content: new Uint8Array([1]) }, { path: 'l/y', content: new Uint8Array([2]) }]))).at(-1)
    return await collect(c.ls(root?.cid as CID))
  }],
  ['block put/get/stat', async c => {
    const cid = await c.block.put(new TextEncoder().encode('block via client'))
    return { cid, data: Buffer.from(await c.block.get(cid)).toString(), stat: await c.block.stat(cid) }
  }],
  ['dag put/get', async c => {
    const cid = await c.dag.put({ hello: 'world', list: [1, 2] }, { storeCodec: 'dag-cbor', hashAlg: 'sha2-256' })
    return { cid, node: await c.dag.get(cid), path: await c.dag.get(cid, { path: '/list/1' }) }
  }],
  ['files mkdir/write/ls/read', async c => {
    const dir = `/rpc-${Math.random().toString(36).slice(2)}`
    await c.files.mkdir(dir, { parents: true })
    await c.files.write(`${dir}/f.txt`, new TextEncoder().encode('mfs content'), { create: true })
    const ls = (await collect(c.files.ls(dir))).map(e => ({ ...e, name: e.name }))
    const read = Buffer.concat(await collect(c.files.read(`${dir}/f.txt`))).toString()
    await c.files.rm(dir, { recursive: true })
    return { ls, read }
  }],
  ['repo stat', async c => { const s = await c.repo.stat(); return { ...s, repoPath: s.repoPath.length > 0 } }],
  ['config getAll', async c => await c.config.getAll()],
  ['get directory as tar', async c => {
    const root = (await collect(c.addAll([
      { path: 'g/a.txt', content: new TextEncoder().encode('got a\n') },
      { path: 'g/sub/b.bin', content: new Uint8Array(300_000).fill(9) }
    ]))).at(-1)
    // Kubo stamps each entry with the time of the call (a PAX mtime record): compared are the entries, their
    // contents and the PAX record keys, not the raw archive.
    const entries = tarEntries(Buffer.concat(await collect(c.get(root?.cid as CID))))
    assert.ok(entries.some(e => e.name.endsWith('/sub/b.bin') && e.size === 300_000), 'the archive holds the nested file')
    return entries
  }],
  ['dag export', async c => {
    const { cid } = await c.add({ path: 'e.bin', content: new Uint8Array(700_000).fill(5) }, { cidVersion: 1, rawLeaves: true })
    return await bytes(c.dag.export(cid))
  }],
  ['dag import', async c => {
    const { car } = await importCar
    // Kubo lists a CAR's roots (and pin ls its pins) in Go map order, which differs from call to call.
    const byCid = (a: { cid: CID }, b: { cid: CID }): number => a.cid.toString().localeCompare(b.cid.toString())
    const roots = (await collect(c.dag.import((async function * () { yield car })()))).map(r => r.root).sort(byCid)
    const pinned = (await collect(c.pin.ls({ paths: roots.map(r => r.cid) }))).sort(byCid)
    return { roots, pinned }
  }],
  ['error: cat of a bad CID', async c => {
    try { await bytes(c.cat('not-a-cid')); return 'no error' } catch (err) { return { name: (err as Error).name, message: (err as Error).message } }
  }]
]

for (const [name, op] of ops) {
  test(`kubo-rpc-client ${name}: same result via pinmesh as via Kubo`, async () => {
    const a = plain(await op(direct))
    const b = plain(await op(proxied))
    assert.deepEqual(b, a)
  })
}
