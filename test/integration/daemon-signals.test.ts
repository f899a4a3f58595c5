import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { once } from 'node:events'
import { startKubo } from '../fixtures/kubo.js'
import { startPinmesh } from '../fixtures/pinmesh.js'

test('a second Ctrl-C during a slow graceful stop exits at once, non-zero, as Kubo and IPFS Cluster do', async (t) => {
  const kubo = await startKubo()
  const pinmesh = await startPinmesh({ kuboApi: kubo.apiMultiaddr }).catch(async (err: unknown) => { await kubo.destroy(); throw err })
  // One hook, in this order (after hooks run first-registered first): thaw Kubo, then stop pinmesh, then Kubo.
  t.after(async () => {
    kubo.process?.kill('SIGCONT')
    await pinmesh.destroy()
    await kubo.destroy()
  })

  // A frozen Kubo with a call open through the proxy: the graceful stop waits for it (seconds).
  const kuboProcess = kubo.process
  assert.ok(kuboProcess !== undefined)
  kuboProcess.kill('SIGSTOP')
  const hanging = request(`${pinmesh.proxyUrl}/api/v0/repo/stat`, { method: 'POST' })
  hanging.on('error', () => {})
  hanging.end()
  await new Promise(resolve => setTimeout(resolve, 500))

  const daemon = pinmesh.process
  const exited = once(daemon, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  daemon.kill('SIGINT')
  await new Promise(resolve => setTimeout(resolve, 300))
  assert.equal(daemon.exitCode, null, 'the first Ctrl-C starts a graceful stop that is still going')

  const second = Date.now()
  daemon.kill('SIGINT')
  const result = await Promise.race([exited, new Promise<'running'>(resolve => setTimeout(() => { resolve('running') }, 10_000))])
  const ms = Date.now() - second
  assert.notEqual(result, 'running', 'the daemon exited after the second Ctrl-C')
  assert.ok(ms < 1500, `exited ${ms} ms after the second Ctrl-C`)
  assert.deepEqual(result, [1, null], 'exit code 1')
  assert.match(pinmesh.output(), /Received another interrupt before graceful shutdown, terminating\.\.\./)
})
