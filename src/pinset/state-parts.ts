import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'

/**
 * What the holder of `stateVector` lacks, as a sequence of Yjs updates of roughly `maxBytes`
 * each (a single struct larger than that makes a larger part), ending with one update that holds
 * only the document's delete set. Applied in order, every part's structs find what they refer to
 * in earlier parts, so the receiver integrates each part as it arrives instead of first
 * assembling the whole difference (a 1M-pin state is over 100 MB). The union of the parts is
 * what `Y.encodeStateAsUpdate(doc, stateVector)` would send.
 *
 * Parts are produced lazily from the live document: between two parts the document may change.
 * Cursors are clocks, not struct indices, since Yjs splits structs but never renumbers clocks;
 * structs added meanwhile are sent as well.
 */
export function * encodeStateAsParts (doc: Y.Doc, stateVector: Uint8Array, maxBytes: number): Generator<Uint8Array> {
  const theirs = Y.decodeStateVector(stateVector)
  /** Next clock to send, per client. */
  const next = new Map<number, number>()
  const sent = (id: Y.ID | null): boolean => id === null || id.clock < Math.max(theirs.get(id.client) ?? 0, next.get(id.client) ?? 0)
  for (;;) {
    const runs = new Map<number, { from: number, to: number }>()
    let bytes = 0
    let progress = true
    while (progress && bytes < maxBytes) {
      progress = false
      for (const [client, structs] of doc.store.clients) {
        const end = Y.getState(doc.store, client)
        let clock = Math.max(theirs.get(client) ?? 0, next.get(client) ?? 0)
        if (clock >= end) continue
        for (let i = Y.findIndexSS(structs, clock); i < structs.length && bytes < maxBytes; i++) {
          const s = structs[i] as Y.Item | Y.GC
          if (s instanceof Y.Item && !refersToSent(s, sent)) break
          const run = runs.get(client) ?? { from: clock, to: clock }
          run.to = s.id.clock + s.length
          runs.set(client, run)
          bytes += sizeOf(s)
          clock = run.to
          next.set(client, clock)
          progress = true
        }
      }
    }
    if (runs.size === 0) break
    yield encodeRuns(doc, runs)
  }
  // Structs left unsent here have dependencies nobody has (cannot happen in a consistent document);
  // the final update covers them anyway, as one ordinary diff.
  const rest = new Map(theirs)
  for (const [client, clock] of next) rest.set(client, Math.max(clock, rest.get(client) ?? 0))
  yield Y.encodeStateAsUpdate(doc, encodeStateVector(rest))
}

/** Whether everything item `s` refers to (its neighbours at insertion, its parent) has been sent. */
function refersToSent (s: Y.Item, sent: (id: Y.ID | null) => boolean): boolean {
  const parentItem = (s.parent as Y.AbstractType<unknown> | null)?._item ?? null
  return sent(s.origin) && sent(s.rightOrigin) && sent(parentItem?.id ?? null)
}

/** Rough encoded size of a struct, to cut parts. */
function sizeOf (s: Y.Item | Y.GC): number {
  if (!(s instanceof Y.Item)) return 8
  const c = s.content
  if (c instanceof Y.ContentString) return 24 + c.str.length
  if (!(c instanceof Y.ContentAny)) return 24 + 16 * s.length
  let n = 24
  for (const v of c.arr) n += typeof v === 'string' ? v.length + 3 : 16
  return n
}

function encodeRuns (doc: Y.Doc, runs: Map<number, { from: number, to: number }>): Uint8Array {
  const encoder = new Y.UpdateEncoderV1()
  encoding.writeVarUint(encoder.restEncoder, runs.size)
  for (const [client, { from, to }] of runs) {
    const structs = doc.store.clients.get(client) as Array<Y.Item | Y.GC>
    const first = Y.findIndexSS(structs, from)
    let last = first
    while (last < structs.length && (structs[last] as Y.Item | Y.GC).id.clock < to) last++
    encoding.writeVarUint(encoder.restEncoder, last - first)
    encoder.writeClient(client)
    encoding.writeVarUint(encoder.restEncoder, from)
    for (let i = first; i < last; i++) {
      const s = structs[i] as Y.Item | Y.GC
      s.write(encoder, i === first ? from - s.id.clock : 0)
    }
  }
  encoding.writeVarUint(encoder.restEncoder, 0) // no deletions: the last part carries them
  return encoder.toUint8Array()
}

function encodeStateVector (sv: Map<number, number>): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, sv.size)
  for (const [client, clock] of sv) { encoding.writeVarUint(e, client); encoding.writeVarUint(e, clock) }
  return encoding.toUint8Array(e)
}
