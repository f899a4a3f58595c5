import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, Socket, type AddressInfo } from 'node:net'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { ResetTolerantSocket } from '../../../src/utils/reset-tolerant-socket.js'

/**
 * A server that answers the first bytes it gets and resets the connection at once, with the rest
 * of the upload unread (what Go's server does after an early answer). The client reads nothing
 * until the reset has arrived, then writes more, then reads: what does it see?
 */
async function answerThenReset (socket: Socket): Promise<{ received: string, writeError?: string }> {
  const server = createServer((s) => {
    s.once('data', () => { s.write('ANSWER'); s.resetAndDestroy() })
    s.on('error', () => {})
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  try {
    socket.connect((server.address() as AddressInfo).port, '127.0.0.1')
    await once(socket, 'connect')
    let received = ''
    let writeError: string | undefined
    socket.on('error', (err: Error & { code?: string }) => { writeError = err.code })
    socket.pause()
    socket.write('upload start')
    await sleep(200)
    for (let i = 0; i < 8; i++) socket.write(Buffer.alloc(64 << 10))
    await sleep(50)
    const closed = once(socket, 'close')
    socket.on('data', (d: Buffer) => { received += d.toString() })
    socket.resume()
    await Promise.race([closed, sleep(5000)])
    return { received, ...(writeError !== undefined ? { writeError } : {}) }
  } finally {
    socket.destroy()
    server.close()
  }
}

test('a socket whose peer answers and resets under a write still reads the answer', async () => {
  const tolerant = new ResetTolerantSocket()
  const seen = await answerThenReset(tolerant)
  assert.equal(seen.received, 'ANSWER')
  assert.equal(tolerant.writesDropped, true, 'the writes after the reset were dropped')
})

test('(the reason for it) a plain net.Socket loses that answer', async () => {
  const seen = await answerThenReset(new Socket())
  assert.equal(seen.received, '')
  assert.ok(seen.writeError === 'EPIPE' || seen.writeError === 'ECONNRESET', `write failed with ${seen.writeError}`)
})
