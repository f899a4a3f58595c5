import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, mkdir, readFile, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { isErrorNamed, type KuboApiError } from '../../src/errors.js'
import { HttpKuboClient, type HttpKuboClientInit } from '../../src/kubo/index.js'
import { startKubo, type KuboDaemon } from '../fixtures/kubo.js'
import { waitFor } from '../fixtures/wait-for.js'
import { kuboClientCompliance } from '../fixtures/kubo-compliance.js'
import { multipart } from '../fixtures/http.js'

const logger = pino({ level: 'silent' })
const named = (name: string) => (err: unknown): boolean => isErrorNamed(err, name)

function clientFor (kubo: KuboDaemon, init: Partial<HttpKuboClientInit> = {}): HttpKuboClient {
  return new HttpKuboClient({ url: kubo.apiUrl, connectTimeoutMs: 2000, requestTimeoutMs: 30_000, logger, ...init })
}

async function cli (kubo: KuboDaemon, args: string[], input?: Buffer | string): Promise<string> {
  const r = await kubo.cli(args, { input })
  if (r.code !== 0) throw new Error(`ipfs ${args.join(' ')} failed: ${r.stderr}`)
  return r.stdout
}

async function rpc (kubo: KuboDaemon, path: string, init: { body?: Buffer, contentType?: string } = {}): Promise<any> {
  const res = await fetch(`${kubo.apiUrl}/api/v0/${path}`, { method: 'POST', body: init.body, headers: init.contentType !== undefined ? { 'content-type': init.contentType } : {} })
  const text = await res.text()
  if (!res.ok) throw new Error(`${path}: ${res.status} ${text}`)
  return text.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l))
}

kuboClientCompliance(`HttpKuboClient + Kubo`, async () => {
  const kubo = await startKubo()
  const client = clientFor(kubo)
  const dir = await mkdtemp(join(tmpdir(), 'pinmesh-kubo-dag-'))
  let n = 0
  return {
    client,
    addBlock: async () => (await cli(kubo, ['block', 'put', '--cid-codec=raw'], randomBytes(64))).trim(),
    addDag: async () => {
      const root = join(dir, `dag-${n++}`)
      await mkdir(root)
      await writeFile(join(root, 'file.txt'), randomBytes(32).toString('hex'))
      // `added <cid> <path>` per entry: the file first, the directory last.
      const lines = (await cli(kubo, ['add', '-r', '--pin=false', '--cid-version=1', root])).trim().split('\n').map((l) => l.split(' '))
      return { child: lines[0]?.[1] as string, root: lines.at(-1)?.[1] as string, childName: 'file.txt', nodes: 2 }
    },
    teardown: async () => {
      await client.close()
      await kubo.destroy()
      await rm(dir, { recursive: true, force: true })
    }
  }
})

describe('HttpKuboClient against a real Kubo', () => {
  test('fails fast with KuboUnavailableError while Kubo is down, and works again after a restart', { timeout: 60_000 }, async (t) => {
    const kubo = await startKubo()
    t.after(async () => { await kubo.destroy() })
    const client = clientFor(kubo, { requestTimeoutMs: 20_000 })
    t.after(async () => { await client.close() })
    assert.equal(await client.version(), '0.42.0')

    await kubo.stop()
    const started = Date.now()
    await assert.rejects(client.version(), (err) => named('KuboUnavailableError')(err) && (err as { url: string }).url === kubo.apiUrl)
    await assert.rejects(client.pinAdd('bafkreie3gfbrirodgqb3cnjzalpysm6nscyloiv5zeh5n3mk6v3k4sffvu', { mode: 'recursive' }), named('KuboUnavailableError'))
    await assert.rejects((async () => { for await (const _ of client.pinLs()) { /* drain */ } })(), named('KuboUnavailableError'))
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`)

    await kubo.restart()
    assert.equal(await client.version(), '0.42.0')
    assert.equal((await client.id()).id, kubo.peerId)
  })

  test('a Kubo that stops answering fails short calls after requestTimeoutMs, and pins after noProgressTimeoutMs', { timeout: 60_000 }, async (t) => {
    const kubo = await startKubo()
    t.after(async () => { kubo.process?.kill('SIGCONT'); await kubo.destroy() })
    const client = clientFor(kubo, { requestTimeoutMs: 400 })
    t.after(async () => { await client.close() })
    const cid = (await cli(kubo, ['block', 'put', '--cid-codec=raw'], randomBytes(64))).trim()
    assert.equal(await client.pinType(cid), undefined)

    // Frozen: the kernel still accepts connections, nothing answers. SIGSTOP lands asynchronously,
    // so wait until Linux reports the process stopped before calling.
    kubo.process?.kill('SIGSTOP')
    await waitFor(async () => (await readFile(`/proc/${kubo.process?.pid}/stat`, 'utf8')).split(') ')[1]?.startsWith('T'), { message: 'kubo did not stop' })
    let started = Date.now()
    await assert.rejects(client.pinType(cid), named('TimeoutError'))
    let took = Date.now() - started
    assert.ok(took >= 350 && took < 3000, `pinType took ${took} ms`)

    started = Date.now()
    await assert.rejects(client.pinAdd(cid, { mode: 'recursive', noProgressTimeoutMs: 1200 }), named('KuboPinTimeoutError'))
    took = Date.now() - started
    assert.ok(took >= 1100 && took < 4000, `pinAdd took ${took} ms`)

    kubo.process?.kill('SIGCONT')
    await client.pinAdd(cid, { mode: 'recursive', noProgressTimeoutMs: 5000 })
    assert.equal(await client.pinType(cid), 'recursive')
  })

  test('a pin cut off by Kubo shutting down fails with the X-Stream-Error trailer as a KuboApiError', { timeout: 60_000 }, async (t) => {
    const kubo = await startKubo()
    t.after(async () => { await kubo.destroy() })
    const client = clientFor(kubo)
    t.after(async () => { await client.close() })
    const missing = 'bafkreie3gfbrirodgqb3cnjzalpysm6nscyloiv5zeh5n3mk6v3k4sffvu'
    const pinning = client.pinAdd(missing, { mode: 'recursive' })
    pinning.catch(() => {})
    await new Promise((resolve) => setTimeout(resolve, 700))
    await kubo.stop()
    await assert.rejects(pinning, (err) => {
      const e = err as KuboApiError
      return named('KuboApiError')(err) && e.path === 'pin/add' && e.status === 200 && e.kuboMessage === 'pin: promise channel was closed'
    })
  })

  describe('with two connected Kubos', () => {
    let a: KuboDaemon
    let b: KuboDaemon
    let ca: HttpKuboClient
    before(async () => {
      [a, b] = await Promise.all([startKubo(), startKubo()])
      ca = clientFor(a)
    })
    after(async () => {
      await ca?.close()
      await Promise.all([a?.destroy(), b?.destroy()])
    })

    const peersOfA = async (): Promise<string[]> => ((await rpc(a, 'swarm/peers'))[0].Peers ?? []).map((p: { Peer: string }) => p.Peer)

    test('swarmConnect makes the two Kubos peers, ignoring addresses that fail', { timeout: 60_000 }, async () => {
      assert.equal((await peersOfA()).includes(b.peerId), false)
      assert.ok(b.swarmAddrs.length > 0)
      await ca.swarmConnect(['/ip4/127.0.0.1/tcp/1/p2p/' + b.peerId, ...b.swarmAddrs, 'not-a-multiaddr'])
      assert.ok((await peersOfA()).includes(b.peerId))
    })

    test('a pin of content only the other Kubo has succeeds, reporting progress', { timeout: 60_000 }, async () => {
      const data = randomBytes(1_500_000)
      const root = (await cli(b, ['add', '-Q', '--pin=false', '--cid-version=1', '--chunker=size-65536'], data)).trim()
      const blocks = new Set((await cli(b, ['refs', '-r', '--unique', root])).trim().split('\n')).size + 1
      assert.ok(blocks > 20)
      await ca.swarmConnect(b.swarmAddrs)
      const seen: Array<[number, number]> = []
      await ca.pinAdd(root, { mode: 'recursive', noProgressTimeoutMs: 10_000, onProgress: (n, by) => seen.push([n, by]) })
      assert.equal(await ca.pinType(root), 'recursive')
      const [nodes, bytes] = seen.at(-1) ?? [0, 0]
      assert.equal(nodes, blocks)
      assert.ok(bytes >= data.length, `bytes ${bytes}`)
    })

    test('repoStat reports the repo size and StorageMax, clamping an unlimited StorageMax', { timeout: 60_000 }, async () => {
      const before = await ca.repoStat()
      assert.equal(before.storageMax, 10_000_000_000)
      assert.equal(before.numObjects, 0)
      await cli(a, ['block', 'put', '--cid-codec=raw'], randomBytes(500_000))
      const grown = await ca.repoStat()
      assert.ok(grown.repoSize >= before.repoSize + 500_000, `${before.repoSize} → ${grown.repoSize}`)
      // Kubo reads StorageMax per call; empty means unlimited, which it reports as 2^64-1.
      await rpc(a, 'config?arg=Datastore.StorageMax&arg=')
      try {
        assert.equal((await ca.repoStat()).storageMax, Number.MAX_SAFE_INTEGER)
      } finally {
        await rpc(a, 'config?arg=Datastore.StorageMax&arg=10GB')
      }
    })

    test('repoGc removes an unpinned added block from the repo and keeps a pinned one', { timeout: 60_000 }, async () => {
      const loose = (await cli(a, ['add', '-Q', '--pin=false', '--cid-version=1'], randomBytes(2000))).trim()
      const kept = (await cli(a, ['add', '-Q', '--pin=false', '--cid-version=1'], randomBytes(2000))).trim()
      await ca.pinAdd(kept, { mode: 'recursive' })
      const local = async (): Promise<string[]> => (await cli(a, ['refs', 'local'])).trim().split('\n')
      assert.ok((await local()).includes(loose))
      const removed: string[] = []
      for await (const r of ca.repoGc()) if (r.cid !== undefined) removed.push(r.cid)
      assert.ok(removed.includes(loose))
      assert.equal(removed.includes(kept), false)
      const after = await local()
      assert.equal(after.includes(loose), false)
      assert.ok(after.includes(kept))
    })

    test('pinLs streams thousands of pins, recursive ones first, each once', { timeout: 60_000 }, async () => {
      const put = async (count: number): Promise<string[]> => {
        const { body, contentType } = multipart(Array.from({ length: count }, (_, i) => ({ filename: `b${i}`, content: randomBytes(24) })))
        return (await rpc(a, 'block/put?cid-codec=raw&pin=true', { body, contentType })).map((l: { Key: string }) => l.Key)
      }
      const recursive = await put(2000)
      const direct = await put(200)
      for (let i = 0; i < direct.length; i += 50) {
        await Promise.all(direct.slice(i, i + 50).map(async (cid) => {
          await ca.pinRm(cid)
          await ca.pinAdd(cid, { mode: 'direct' })
        }))
      }
      const seen = new Map<string, string[]>()
      const order: string[] = []
      for await (const p of ca.pinLs()) {
        seen.set(p.cid, [...(seen.get(p.cid) ?? []), p.type])
        order.push(p.type)
      }
      assert.equal(recursive.length, 2000)
      for (const cid of recursive) assert.deepEqual(seen.get(cid), ['recursive'])
      for (const cid of direct) assert.deepEqual(seen.get(cid), ['direct'])
      assert.equal(order.lastIndexOf('recursive') < order.indexOf('direct'), true)

      // Breaking out early ends the request; the client goes on working.
      const started = Date.now()
      let taken = 0
      for await (const _ of ca.pinLs()) if (++taken === 10) break
      assert.equal(taken, 10)
      assert.ok(Date.now() - started < 5000)
      assert.equal(await ca.pinType(direct[0] as string), 'direct')
    })

    test("Kubo's JSON errors become KuboApiError with Kubo's status, code and message verbatim", { timeout: 60_000 }, async () => {
      await assert.rejects(ca.pinAdd('not-a-cid', { mode: 'direct' }), (err) => {
        const e = err as KuboApiError
        return named('KuboApiError')(err) && e.path === 'pin/add' && e.status === 500 && e.kuboCode === 0 &&
          e.kuboMessage === 'invalid path "not-a-cid": path does not have enough components'
      })
    })

    test("text/plain errors (a client pointed at Kubo's gateway port) become KuboApiError with the text", { timeout: 60_000 }, async () => {
      const gateway = (await readFile(join(a.repo, 'gateway'), 'utf8')).trim()
      const wrong = new HttpKuboClient({ url: gateway, connectTimeoutMs: 2000, requestTimeoutMs: 5000, logger })
      try {
        await assert.rejects(wrong.version(), (err) => {
          const e = err as KuboApiError
          return named('KuboApiError')(err) && e.status === 404 && e.kuboMessage === '404 page not found' && e.kuboCode === 1
        })
      } finally {
        await wrong.close()
      }
    })
  })
})
