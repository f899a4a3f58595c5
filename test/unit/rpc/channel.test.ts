import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { Libp2pRpc } from '../../../src/rpc/index.js'
import { startTestNet, randomSecret } from '../../fixtures/net.js'
import { waitFor } from '../../fixtures/wait-for.js'

// Calls on the rpc channel: one long-lived stream per pair of peers carrying many calls at once.

async function pair (t: TestContext, trusted = true): Promise<{ a: Libp2pRpc, b: Libp2pRpc, bId: string, aborted: string[] }> {
  const secret = randomSecret()
  const na = await startTestNet(t, { secret })
  const nb = await startTestNet(t, { secret, bootstrap: na.addresses() })
  await waitFor(() => na.libp2p.getConnections().length > 0, { message: 'connected' })
  const logger = pino({ level: 'silent' })
  const a = new Libp2pRpc({ libp2p: na.libp2p, logger, isTrusted: () => true })
  const b = new Libp2pRpc({ libp2p: nb.libp2p, logger, isTrusted: () => trusted })
  const aborted: string[] = []
  b.register('echo.after', {
    policy: 'trusted',
    handle: async (p, _caller, { signal }) => {
      const { ms, value } = p as { ms: number, value: string }
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, ms)
        signal.addEventListener('abort', () => { clearTimeout(timer); aborted.push(value); reject(signal.reason) }, { once: true })
      })
      return value
    }
  })
  b.register('big', { policy: 'open', handle: async () => 'x'.repeat(2 << 20) })
  await a.start()
  await b.start()
  t.after(async () => { await a.stop(); await b.stop() })
  return { a, b, bId: nb.peerId, aborted }
}

test('many calls at once on one channel are each answered with their own result, in any order', async (t) => {
  const { a, bId } = await pair(t)
  const values = Array.from({ length: 50 }, (_, i) => `v${i}`)
  // The first calls take longest, so answers come back in the reverse order.
  const got = await Promise.all(values.map(async (value, i) => await a.call<string>(bId, 'echo.after', { ms: 5 * (50 - i), value }, { channel: true })))
  assert.deepEqual(got, values)
})

test('a call the caller aborts is aborted on the peer too, and the channel keeps serving', async (t) => {
  const { a, bId, aborted } = await pair(t)
  const ctl = new AbortController()
  const long = a.call(bId, 'echo.after', { ms: 60_000, value: 'long' }, { channel: true, signal: ctl.signal })
  setTimeout(() => { ctl.abort(new Error('not needed any more')) }, 50)
  await assert.rejects(long, (err: Error) => err.name === 'RpcError' && /not needed any more/.test(err.message))
  await waitFor(() => aborted.includes('long'), { message: 'the handler on the peer saw the abort' })
  assert.equal(await a.call<string>(bId, 'echo.after', { ms: 1, value: 'after' }, { channel: true }), 'after')
})

test('the channel keeps the method policy, and refuses an answer too big for it', async (t) => {
  const { a, bId } = await pair(t, false)
  await assert.rejects(a.call(bId, 'echo.after', { ms: 1, value: 'x' }, { channel: true }), /not authorized/)
  await assert.rejects(a.call(bId, 'big', {}, { channel: true }), /too large for the rpc channel/)
  assert.equal((await a.call<string>(bId, 'big', {})).length, 2 << 20)
})
