import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import { PinsetCluster, type ClusterComponents } from '../../../src/cluster/index.js'
import { Libp2pRpc } from '../../../src/rpc/index.js'
import type { ClusterNet } from '../../../src/net/index.js'
import { startTestNet, randomSecret } from '../../fixtures/net.js'
import { waitFor } from '../../fixtures/wait-for.js'

const logger = pino({ level: 'silent' })

/**
 * A cluster peer on `net` whose Kubo's gc takes `gcMs` and removes `removed`; the only other
 * live peer it knows is `other`. Just what repo/gc touches; the rest is inert.
 */
async function gcPeer (t: TestContext, net: ClusterNet, other: string, rpcInit: ConstructorParameters<typeof Libp2pRpc>[1], gcMs: number, removed: string): Promise<PinsetCluster> {
  const rpc = new Libp2pRpc({ libp2p: net.libp2p, logger, isTrusted: () => true }, rpcInit)
  const kubo = {
    async * repoGc (options: { signal?: AbortSignal } = {}) {
      await sleep(gcMs, undefined, { signal: options.signal })
      yield { cid: removed }
    }
  }
  const cluster = new PinsetCluster({
    rpc,
    kubo,
    logger,
    self: net.peerId,
    isTrusted: () => true,
    pinset: { onChange: () => () => {} },
    monitor: { alive: () => [{ peer: other }], onPeerDown: () => () => {}, onPeerUp: () => () => {} },
    peerLoss: { onPeerGone: () => () => {} }
  } as unknown as ClusterComponents, { replicationMin: 1, replicationMax: 1, repinning: false, connectKubos: false })
  await rpc.start()
  await cluster.start()
  t.after(async () => { await cluster.stop(); await rpc.stop() })
  return cluster
}

test('a cluster repo/gc waits for a peer whose gc outlasts that peer\'s default RPC cap', async (t) => {
  const secret = randomSecret()
  const a = await startTestNet(t, { secret })
  const b = await startTestNet(t, { secret, bootstrap: a.addresses() })
  await waitFor(() => b.libp2p.getConnections(a.libp2p.peerId).length > 0, { message: 'b connected to a' })
  // a serves calls for 200 ms unless the method says otherwise (its old fixed cap, 4 × 250 ms,
  // was 1 s); its gc takes 1.5 s.
  await gcPeer(t, a, b.peerId, { timeoutMs: 250, serveTimeoutMs: 200 }, 1500, 'removed-on-a')
  const caller = await gcPeer(t, b, a.peerId, {}, 0, 'removed-on-b')

  const results: Array<{ peer: string, cid?: string, error?: string }> = []
  for await (const r of caller.repoGc()) results.push(r)
  assert.deepEqual(results, [{ peer: b.peerId, cid: 'removed-on-b' }, { peer: a.peerId, cid: 'removed-on-a' }])
})
