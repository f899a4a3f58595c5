import { test } from 'node:test'
import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import { byteStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { startTestNet, randomSecret } from '../../fixtures/net.js'

const PROTOCOL = '/pinmesh-test/bulk/1.0.0'
const MiB = 1024 * 1024
const BULK = 6 * MiB
const ROUND_TRIPS = 1500

async function send (stream: Stream, buf: Uint8Array): Promise<void> {
  if (!stream.send(buf)) await stream.onDrain()
}

// Without src/pnet-fix.ts this test kills the process: the 2 MiB chunks grow xsalsa20's shared WASM memory and
// the small round trips after them exhaust it (RangeError: WebAssembly.Memory.grow()).
test('one pnet connection carries MiBs in large chunks, then thousands of small round trips', async (t) => {
  const secret = randomSecret()
  const a = await startTestNet(t, { secret })
  const b = await startTestNet(t, { secret })

  // b acknowledges the bulk with one byte once it has all of it, then echoes every later chunk.
  await b.libp2p.handle(PROTOCOL, async (stream) => {
    let received = 0
    for await (const chunk of stream) {
      if (received < BULK) {
        received += chunk.byteLength
        if (received >= BULK) await send(stream, Uint8Array.of(received === BULK ? 1 : 0))
      } else {
        await send(stream, chunk.subarray())
      }
    }
    await stream.close()
  })

  const stream = byteStream(await a.libp2p.dialProtocol(multiaddr(b.addresses()[0]), PROTOCOL))
  const big = new Uint8Array(2 * MiB)
  for (let sent = 0; sent < BULK; sent += big.byteLength) await stream.write(big.fill(sent / MiB))
  assert.deepEqual((await stream.read({ bytes: 1 })).subarray(), Uint8Array.of(1), 'b received exactly the bulk')

  for (let i = 0; i < ROUND_TRIPS; i++) {
    const msg = new Uint8Array(32).fill(i & 0xff)
    await stream.write(msg)
    assert.deepEqual((await stream.read({ bytes: msg.byteLength })).subarray(), msg)
  }
  await stream.unwrap().close()

  assert.equal(a.libp2p.getConnections(b.libp2p.peerId).length, 1, 'still one connection')
  assert.ok(await a.libp2p.services.ping.ping(b.libp2p.peerId) >= 0)
})
