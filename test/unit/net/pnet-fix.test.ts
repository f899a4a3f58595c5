import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { randomBytes } from 'node:crypto'

interface Cipher { update (input: Uint8Array, output?: Uint8Array): Uint8Array }
const xsalsa20 = createRequire(import.meta.resolve('@libp2p/pnet'))('xsalsa20') as (nonce: Uint8Array, key: Uint8Array) => Cipher

// Chunks of at most 64 KiB take the cipher's original path untouched, so they are the reference output.
function inSmallPieces (cipher: Cipher, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length)
  for (let s = 0; s < data.length;) {
    const e = Math.min(data.length, s + 1 + Math.floor(Math.random() * 65536))
    out.set(cipher.update(data.subarray(s, e)), s)
    s = e
  }
  return out
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)

test('the patched cipher output for multi-MiB updates is byte-identical to small-update output', () => {
  const key = randomBytes(32)
  const nonce = randomBytes(24)
  const data = randomBytes(3 * 1024 * 1024 + 77)
  const big = xsalsa20(nonce, key)
  const reference = xsalsa20(nonce, key)
  // An odd-sized update first, so the large one starts in the middle of a 64-byte keystream block.
  const head = big.update(data.subarray(0, 13))
  assert.ok(same(head, reference.update(data.subarray(0, 13))))
  const rest = big.update(data.subarray(13))
  assert.ok(same(rest, inSmallPieces(reference, data.subarray(13))), 'same ciphertext as small updates')
  const back = xsalsa20(nonce, key).update(Buffer.concat([head, rest]))
  assert.ok(same(back, data), 'decrypts back to the input')
})

test('thousands of small updates on many ciphers after large ones do not exhaust the WASM memory', () => {
  const key = randomBytes(32)
  const ciphers = Array.from({ length: 8 }, () => xsalsa20(randomBytes(24), key))
  const big = new Uint8Array(8 * 1024 * 1024)
  for (let round = 0; round < 4; round++) {
    ciphers[round % ciphers.length]!.update(big)
    for (let i = 0; i < 2000; i++) ciphers[i % ciphers.length]!.update(new Uint8Array(100))
  }
})

test('ciphers that are never finalized (pnet does not call finalize) do not exhaust the WASM memory', () => {
  // Each cipher keeps a 64-byte slot for ever; ten thousand of them push the scratch area past the initial memory,
  // so later updates must grow it, which detaches the view every other cipher holds.
  const key = randomBytes(32)
  const ciphers = Array.from({ length: 10_000 }, () => xsalsa20(randomBytes(24), key))
  for (let i = 0; i < 20_000; i++) ciphers[i % 7]!.update(new Uint8Array(i % 3 === 0 ? 70_000 : 100))
})
