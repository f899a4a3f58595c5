import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AddProgress, ProgressBar, renderBar } from '../../../src/cli/progress.js'

test('renderBar draws the share done, the byte counts and the name within the width', () => {
  assert.equal(renderBar(0, 1024, 'a.txt', 80), '[>                                       ]   0% 0 B / 1.0 KiB  a.txt')
  assert.equal(renderBar(512, 1024, 'a.txt', 80), '[====================>                   ]  50% 512 B / 1.0 KiB  a.txt')
  assert.equal(renderBar(1024, 1024, 'a.txt', 80), '[========================================] 100% 1.0 KiB / 1.0 KiB  a.txt')
  assert.equal(renderBar(2048, undefined, 'stdin', 80), '2.0 KiB  stdin')
  const narrow = renderBar(10, 100, 'a-very-long-file-name.bin', 40)
  assert.equal(narrow.length, 40)
  assert.ok(narrow.endsWith('…'))
})

test('AddProgress sums the running totals Kubo reports per file', () => {
  const p = new AddProgress()
  assert.equal(p.update('d/a', 100), 100)
  assert.equal(p.update('d/a', 250), 250)
  assert.equal(p.update('d/b', 50), 300)
  assert.equal(p.done, 300)
})

test('ProgressBar redraws in place at most every interval and erases itself', () => {
  let out = ''
  const bar = new ProgressBar({ write: (s: string) => { out += s }, columns: 60 }, 100, 1_000_000)
  bar.update(10, 'x', true)
  bar.update(20, 'x')
  bar.clear()
  assert.equal(out.split('\r\x1b[2K').length, 3)
  assert.match(out, /^\r\x1b\[2K\[.*\]  10% 10 B \/ 100 B {2}x\r\x1b\[2K$/)
})
