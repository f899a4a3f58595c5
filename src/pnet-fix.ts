// Works around a crash in @libp2p/pnet's cipher, xsalsa20@1.2.0 (js-stack.md §4.3). Its WASM scratch memory starts
// at 640 KiB (max 62.5 MiB) and is shared by every cipher. An update larger than the free scratch space grows the
// memory, which detaches the memory view cached by every other cipher; a cipher with a detached view grows the
// memory again on its next update, detaching the others in turn. After about a thousand small updates the process
// dies with `RangeError: WebAssembly.Memory.grow(): Maximum memory size exceeded`, thrown from a socket listener.
//
// Checked against the installed @libp2p/pnet 3.0.27 (still the newest release): it does not contain the upstream
// fix, libp2p/js-libp2p#3585. Drop this module once a pnet release with that PR is installed.
//
// The fix: updates larger than 64 KiB go through the original in 64 KiB slices, so they fit the initial scratch
// memory; and a cipher whose memory view was detached by a growth elsewhere gets a fresh view instead of growing the
// memory again. The second part matters because pnet never calls finalize(): every connection leaks two 64-byte
// cipher slots, and after some 4,500 connections the scratch area has to grow even for small updates. With fresh
// views it grows only by what is needed. The keystream is unchanged: the output is byte-identical.
// It must run before the first pnet connection; it is imported right after './polyfills.js' by every entry point.
import { createRequire } from 'node:module'

const SLICE = 65536

interface WasmState { _memory?: Uint8Array }
interface XSalsa20 { _xor: WasmState | null, update: (input: Uint8Array, output?: Uint8Array) => Uint8Array }
interface XSalsa20Module { prototype: XSalsa20 & { __pinmeshSliced?: true } }

// Resolved from @libp2p/pnet's own location, so this patches the very copy pnet loads.
const requireFromPnet = createRequire(import.meta.resolve('@libp2p/pnet'))
const proto = (requireFromPnet('xsalsa20') as XSalsa20Module).prototype

if (proto.__pinmeshSliced !== true) {
  const original = proto.update
  let live: ArrayBufferLike | undefined

  // The pure-JS fallback (no WebAssembly) has no `_memory` and is left alone.
  const refreshView = (state: WasmState | null): void => {
    if (state?._memory?.byteLength === 0 && live !== undefined && live.byteLength > 0) state._memory = new Uint8Array(live)
  }

  proto.update = function update (this: XSalsa20, input: Uint8Array, output?: Uint8Array): Uint8Array {
    if (input === undefined || input === null) return original.call(this, input, output)
    const out = output ?? new Uint8Array(input.length)
    refreshView(this._xor)
    if (input.length <= SLICE) {
      original.call(this, input, out)
    } else {
      for (let s = 0; s < input.length; s += SLICE) {
        const e = Math.min(s + SLICE, input.length)
        original.call(this, input.subarray(s, e), out.subarray(s, e))
      }
    }
    const view = this._xor?._memory
    if (view !== undefined && view.byteLength > 0) live = view.buffer
    return out
  }
  Object.defineProperty(proto, '__pinmeshSliced', { value: true })
}

export {}
