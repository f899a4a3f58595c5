import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fanout } from '../../../src/adder/fanout.js'
import type { AddDestination, DestinationHead } from '../../../src/adder/types.js'

const HEAD: DestinationHead = { status: 200, headers: {}, rawHeaders: ['X-Chunked-Output', '1'] }

/** A destination whose answer lines are released by the test, one at a time. */
function scripted (peer: string): AddDestination & { emit: (line: string) => void, finish: () => void, fail: (e: Error) => void, received: number } {
  const queue: Array<Uint8Array | null | Error> = []
  let wake: (() => void) | undefined
  const push = (x: Uint8Array | null | Error): void => { queue.push(x); wake?.() }
  const d = {
    peer,
    received: 0,
    async write (chunk: Uint8Array) { d.received += chunk.length },
    async end () {},
    abort (reason: Error) { push(reason) },
    head: Promise.resolve(HEAD),
    async * body () {
      for (;;) {
        if (queue.length === 0) await new Promise<void>(resolve => { wake = resolve })
        wake = undefined
        const x = queue.shift()
        if (x === null || x === undefined) return
        if (x instanceof Error) throw x
        yield x
      }
    },
    trailers: () => ({}),
    emit: (line: string) => { push(Buffer.from(line + '\n')) },
    finish: () => { push(null) },
    fail: (e: Error) => { push(e) }
  }
  return d
}

async function * bytes (...chunks: string[]): AsyncIterable<Uint8Array> { for (const c of chunks) yield Buffer.from(c) }
const tick = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

test('the client hears each line once when the destination it hears fails and a slower one takes over', async () => {
  const a = scripted('a')
  const b = scripted('b')
  const heard: string[] = []
  const run = fanout(bytes('x', 'y'), [a, b], { head: () => {}, line: async (l) => { heard.push(l.toString()) } }, new AbortController().signal)
  const l1 = '{"Name":"f","Bytes":1}'
  const l2 = '{"Name":"f","Hash":"bafyf"}'
  a.emit(l1); a.emit(l2)
  await tick(); await tick()
  // b is behind: it has said nothing yet when a fails.
  a.fail(new Error('a died'))
  await tick()
  b.emit(l1); b.emit(l2); b.finish()
  const r = await run
  assert.deepEqual(heard, [l1 + '\n', l2 + '\n'])
  assert.deepEqual(r.completed, ['b'])
  assert.deepEqual(r.failed.map(f => f.peer), ['a'])
  assert.deepEqual(r.results, [{ Name: 'f', Hash: 'bafyf' }])
})

test('a destination that gives no complete answer within the stall time is dropped, and the client still hears each line once', async () => {
  const a = scripted('a')
  const b = scripted('b')
  const heard: string[] = []
  const l = '{"Name":"f","Hash":"bafyf"}'
  a.emit(l)
  b.emit(l); b.finish()
  // a never finishes its answer.
  const r = await fanout(bytes('x'), [a, b], { head: () => {}, line: async (x) => { heard.push(x.toString()) } }, new AbortController().signal, { stallMs: 200 })
  assert.deepEqual(heard, [l + '\n'])
  assert.deepEqual(r.completed, ['b'])
  assert.match(r.failed[0]?.error ?? '', /no complete answer/)
})

test('destinations answering different CIDs are reported, never silently picked', async () => {
  const a = scripted('a')
  const b = scripted('b')
  a.emit('{"Name":"f","Hash":"bafyone"}'); a.finish()
  b.emit('{"Name":"f","Hash":"bafytwo"}'); b.finish()
  const r = await fanout(bytes('x'), [a, b], { head: () => {}, line: async () => {} }, new AbortController().signal)
  assert.deepEqual(r.completed, ['a'])
  assert.match(r.failed[0]?.error ?? '', /answered different CIDs/)
})

test('every live destination receives every byte of the upload', async () => {
  const a = scripted('a')
  const b = scripted('b')
  a.finish(); b.finish()
  await fanout(bytes('hello', ' ', 'world'), [a, b], { head: () => {}, line: async () => {} }, new AbortController().signal)
  assert.equal(a.received, 11)
  assert.equal(b.received, 11)
})

test('a destination whose write never settles, even once aborted, is dropped after the stall time and the upload completes on the others', async () => {
  const stuck = scripted('stuck')
  stuck.write = async () => { await new Promise<void>(() => {}) }
  stuck.abort = () => {}
  const ok = scripted('ok')
  ok.emit('{"Name":"f","Hash":"bafyf"}'); ok.finish()
  // The fan-out's own timers do not keep a process alive (a daemon has its servers for that).
  const alive = setInterval(() => {}, 50)
  const r = await fanout(bytes('x', 'y'), [stuck, ok], { head: () => {}, line: async () => {} }, new AbortController().signal, { stallMs: 200 }).finally(() => { clearInterval(alive) })
  assert.deepEqual(r.completed, ['ok'])
  assert.match(r.failed[0]?.error ?? '', /took no data/)
  assert.equal(ok.received, 2)
})
