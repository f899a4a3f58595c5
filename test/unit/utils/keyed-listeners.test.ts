import { test } from 'node:test'
import assert from 'node:assert/strict'
import { KeyedListeners } from '../../../src/utils/keyed-listeners.js'

test('keyed listeners: emit reaches only that key\'s listeners, all of them even when one removes itself', () => {
  const l = new KeyedListeners<[n: number]>()
  const calls: string[] = []
  const offA = l.add('a', (n) => { calls.push(`a1:${n}`); offA() })
  l.add('a', (n) => { calls.push(`a2:${n}`) })
  l.add('b', (n) => { calls.push(`b:${n}`) })
  l.emit('a', 1)
  l.emit('a', 2)
  assert.deepEqual(calls, ['a1:1', 'a2:1', 'a2:2'])
})

test('keyed listeners: a key whose listeners are all removed is forgotten; the same function added twice is removed once per add', () => {
  const l = new KeyedListeners()
  let n = 0
  const fn = (): void => { n++ }
  const off1 = l.add('k', fn)
  const off2 = l.add('k', fn)
  l.emit('k')
  assert.equal(n, 2)
  off1()
  l.emit('k')
  assert.equal(n, 3)
  assert.equal(l.size, 1)
  off2()
  assert.equal(l.size, 0)
  off2()
  assert.equal(l.size, 0)
})

test('keyed listeners: emitAll calls every key\'s listeners', () => {
  const l = new KeyedListeners<[final: boolean]>()
  const seen: string[] = []
  l.add('a', (f) => { seen.push(`a:${f}`) })
  l.add('b', (f) => { seen.push(`b:${f}`) })
  l.emitAll(true)
  assert.deepEqual(seen.sort(), ['a:true', 'b:true'])
})
