import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, Socket, type AddressInfo, type OnReadOpts, type SocketConstructorOpts } from 'node:net'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { ResetTolerantSocket } from '../../../src/utils/reset-tolerant-socket.js'

/**
 * A server that answers the first bytes it gets and resets the connection at once, with the rest
 * of the upload unread (what Go's server does after an early answer). The client reads nothing
 * until the reset has arrived, then writes more, then reads: what does it see?
 *
 * The socket reads through `onread`, so that `pause()` stops reading from the kernel: the answer
 * and the reset wait there unread, as they do for a proxy whose next write fails before its next
 * read. (A plain paused socket goes on reading into its own buffer on some Node versions, 24 among
 * them, and a read of the reset then destroys it before any write can fail.)
 */
async function answerThenReset (make: (options: SocketConstructorOpts & { onread: OnReadOpts }) => Socket): Promise<{ socket: Socket, received: string, writeError?: string }> {
  const server = createServer((s) => {
    s.once('data', () => { s.write('ANSWER'); s.resetAndDestroy() })
    s.on('error', () => {})
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  let received = ''
  const socket = make({ onread: { buffer: Buffer.alloc(64 << 10), callback: (n: number, buf: Uint8Array) => { received += Buffer.from(buf.subarray(0, n)).toString(); return true } } })
  try {
    let writeError: string | undefined
    socket.on('error', (err: Error & { code?: string }) => { writeError = err.code })
    socket.connect((server.address() as AddressInfo).port, '127.0.0.1')
    await once(socket, 'connect')
    socket.pause()
    socket.write('upload start')
    await sleep(200)
    for (let i = 0; i < 8; i++) socket.write(Buffer.alloc(64 << 10))
    await sleep(50)
    const closed = once(socket, 'close')
    socket.resume()
    await Promise.race([closed, sleep(5000)])
    return { socket, received, ...(writeError !== undefined ? { writeError } : {}) }
  } finally {
    socket.destroy()
    server.close()
  }
}

test('a socket whose peer answers and resets under a write still reads the answer', async () => {
  const seen = await answerThenReset(o => new ResetTolerantSocket(o))
  assert.equal(seen.received, 'ANSWER')
  assert.equal((seen.socket as ResetTolerantSocket).writesDropped, true, 'the writes after the reset were dropped')
})

test('(the reason for it) a plain net.Socket loses that answer', async () => {
  const seen = await answerThenReset(o => new Socket(o))
  assert.equal(seen.received, '')
  assert.ok(seen.writeError === 'EPIPE' || seen.writeError === 'ECONNRESET', `write failed with ${seen.writeError}`)
})
