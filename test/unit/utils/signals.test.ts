import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { withTimeout, abortedByTimeout } from '../../../src/utils/signals.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** Runs full garbage collections every 50 ms until `signal` aborts or `ms` pass; whether it aborted. */
async function abortsUnderGc (signal: AbortSignal, ms: number): Promise<boolean> {
  const until = Date.now() + ms
  while (!signal.aborted && Date.now() < until) {
    gc()
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return signal.aborted
}

test('a timeout combined with a caller signal fires even when garbage collection runs meanwhile', async () => {
  const caller = new AbortController()
  const signal = withTimeout([caller.signal], 200)
  assert.equal(await abortsUnderGc(signal, 3000), true, 'the deadline came')
  assert.equal(abortedByTimeout(signal), true)
  assert.equal(caller.signal.aborted, false)
})

test('the caller aborting first wins, and is not taken for a timeout', async () => {
  const caller = new AbortController()
  const signal = withTimeout([caller.signal, undefined], 10_000)
  caller.abort()
  assert.equal(signal.aborted, true)
  assert.equal(abortedByTimeout(signal), false)
  signal.clear()
})

test('clear() stops the timeout and leaves no listener on the caller', async () => {
  const caller = new AbortController()
  let added = 0
  let removed = 0
  const add = caller.signal.addEventListener.bind(caller.signal)
  const remove = caller.signal.removeEventListener.bind(caller.signal)
  caller.signal.addEventListener = ((...a: Parameters<typeof add>) => { added++; add(...a) }) as typeof add
  caller.signal.removeEventListener = ((...a: Parameters<typeof remove>) => { removed++; remove(...a) }) as typeof remove
  const signal = withTimeout([caller.signal], 100)
  signal.clear()
  assert.equal(added, 1)
  assert.equal(removed, 1)
  assert.equal(await abortsUnderGc(signal, 400), false, 'a cleared timeout does not fire')
})

test('without a timeout, the signal follows its parents only', async () => {
  const a = new AbortController()
  const signal = withTimeout([a.signal], undefined)
  assert.equal(await abortsUnderGc(signal, 200), false)
  a.abort(new Error('stop'))
  assert.equal((signal.reason as Error).message, 'stop')
})
