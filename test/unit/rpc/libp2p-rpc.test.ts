import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import { Libp2pRpc, type Libp2pRpcInit, type RpcMethod } from '../../../src/rpc/index.js'
import { startTestNet, randomSecret } from '../../fixtures/net.js'
import { waitFor } from '../../fixtures/wait-for.js'

/** Two swarm nodes on loopback, connected; `server` serves the methods, `client` calls them. */
async function pair (t: TestContext, serverInit: Libp2pRpcInit, methods: Record<string, RpcMethod>): Promise<{ client: Libp2pRpc, server: string }> {
  const secret = randomSecret()
  const a = await startTestNet(t, { secret })
  const b = await startTestNet(t, { secret, bootstrap: a.addresses() })
  await waitFor(() => b.libp2p.getConnections(a.libp2p.peerId).length > 0, { message: 'b connected to a' })
  const logger = pino({ level: 'silent' })
  const server = new Libp2pRpc({ libp2p: a.libp2p, logger, isTrusted: () => true }, serverInit)
  for (const [name, m] of Object.entries(methods)) server.register(name, m)
  const client = new Libp2pRpc({ libp2p: b.libp2p, logger, isTrusted: () => true })
  await server.start()
  await client.start()
  t.after(async () => { await client.stop(); await server.stop() })
  return { client, server: a.peerId }
}

/** A method that works for `ms` unless its signal aborts first, and says how long it ran. */
function working (ms: number, seen: { abortedAfterMs?: number }): RpcMethod {
  return {
    policy: 'open',
    maxMs: 60_000,
    handle: async (_p, _c, { signal }) => {
      const started = Date.now()
      signal.addEventListener('abort', () => { seen.abortedAfterMs = Date.now() - started }, { once: true })
      await sleep(ms, undefined, { signal })
      return 'done'
    }
  }
}

test('a method with its own cap runs as long as the caller allows, past the server\'s default cap', async (t) => {
  const seen: { abortedAfterMs?: number } = {}
  // The server's default cap is 200 ms (its old fixed cap, 4 × timeoutMs, would be 1 s); the
  // method may run a minute; the caller allows 10 s.
  const { client, server } = await pair(t, { timeoutMs: 250, serveTimeoutMs: 200 }, { long: working(2000, seen) })
  assert.equal(await client.call(server, 'long', {}, { timeoutMs: 10_000 }), 'done')
  assert.equal(seen.abortedAfterMs, undefined, 'the server did not cut the call off')
})

test('a served call stops at the caller\'s deadline, not later', async (t) => {
  const seen: { abortedAfterMs?: number } = {}
  const { client, server } = await pair(t, { timeoutMs: 5000, serveTimeoutMs: 60_000 }, { long: working(20_000, seen) })
  await assert.rejects(client.call(server, 'long', {}, { timeoutMs: 500 }))
  const aborted = await waitFor(() => seen.abortedAfterMs, { timeoutMs: 5000, message: 'the handler\'s signal aborted' })
  assert.ok(aborted >= 400 && aborted < 3000, `aborted after ${aborted} ms, at the caller's 500 ms deadline`)
})

test('a method without its own cap is still cut off at the server\'s cap, whatever the caller allows', async (t) => {
  const seen: { abortedAfterMs?: number } = {}
  const { maxMs: _cap, ...uncapped } = working(20_000, seen)
  void _cap
  const { client, server } = await pair(t, { timeoutMs: 5000, serveTimeoutMs: 300 }, { long: uncapped })
  await assert.rejects(client.call(server, 'long', {}, { timeoutMs: 60_000 }), /abort/i)
  assert.ok(seen.abortedAfterMs !== undefined && seen.abortedAfterMs < 3000, `aborted after ${seen.abortedAfterMs} ms, at the server's 300 ms cap`)
})
