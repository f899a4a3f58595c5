import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import { encodedCid, PEER_CODES_MAP } from './record-codec.js'

type DeleteSet = Y.Snapshot['ds']

/** The root array of a shard document (see kv.ts). */
const PINS = 'pins'

/**
 * What a shard dropped from memory still tells without being decoded, kept in memory for each
 * such shard: which keys it may hold (a Bloom filter of its live keys), its state vector and
 * delete set (hence its digest and the state vector sync asks for), its peer codes, and the Yjs
 * client this peer writes it with.
 *
 * That is enough for the common case of a large pinset, new pins, without decoding the shard:
 * `insert` makes the Yjs update that adds values for keys the shard does not hold, and `accept`
 * checks that a peer's update only adds such values. The update is appended to the shard's WAL
 * like any other and integrated when the shard is next decoded; the document it then makes is the
 * one decoding and writing would have made, up to where the elements sit in the array, which
 * kv.ts does not depend on.
 *
 * Why: with more pins than the cache holds, a bulk write of new pins lands on nearly every shard,
 * and decoding each of them for it made a write cost as much as the whole pinset (10M pins would
 * have taken hours to write).
 */
export class ShardSketch {
  private readonly filter: KeyFilter
  private readonly sv: Map<number, number>
  private readonly ds: DeleteSet
  private readonly peerCodes: Map<string, string>
  private writer: { client: number, clock: number }

  private constructor (filter: KeyFilter, sv: Map<number, number>, ds: DeleteSet, codes: ReadonlyMap<string, string>, writer: { client: number, clock: number }) {
    this.filter = filter
    this.sv = sv
    this.ds = ds
    this.peerCodes = new Map(codes)
    this.writer = writer
  }

  /** The sketch of a decoded shard: `doc` and its live `keys` (`count` of them), `codes` its peer codes. */
  static of (doc: Y.Doc, keys: Iterable<string>, count: number, codes: ReadonlyMap<string, string>): ShardSketch {
    const filter = new KeyFilter(Math.max(256, 2 * count))
    for (const k of keys) filter.add(k)
    const snap = Y.snapshot(doc)
    return new ShardSketch(filter, new Map(snap.sv), snap.ds, new Map(codes), { client: doc.clientID, clock: Y.getState(doc.store, doc.clientID) })
  }

  /** The sketch of a shard that holds nothing. */
  static empty (): ShardSketch {
    const doc = new Y.Doc()
    return ShardSketch.of(doc, [], 0, new Map())
  }

  /** Peer codes of the shard (code → peer id): records are written and read with these. */
  get codes (): ReadonlyMap<string, string> { return this.peerCodes }

  /** The client (and its next clock) this peer writes the shard with; a decoded shard goes on with it. */
  get writerClient (): number { return this.writer.client }

  /** false: the shard surely does not hold `key`; true: it may. */
  mayHold (key: string): boolean { return this.filter.has(key) }

  /** More keys than the filter was made for went in: its answers are no longer worth much. */
  get full (): boolean { return this.filter.full }

  /** What the shard's Yjs snapshot encodes to (the digest's input), as `Y.encodeSnapshot(Y.snapshot(doc))` would give. */
  snapshot (): Uint8Array { return Y.encodeSnapshot(Y.createSnapshot(this.ds, this.sv)) }

  stateVector (): Uint8Array { return Y.encodeStateVector(this.sv) }

  /**
   * The update that adds `values` (encoded records, one per key, keys the shard does not hold) to
   * the array, written by this peer's client for the shard: one element with no neighbours named,
   * which every replica places at the same spot.
   */
  insert (values: readonly string[]): Uint8Array {
    const { client, clock } = this.writer
    const update = encodeInsert(client, clock, values)
    this.writer = { client, clock: clock + values.length }
    this.sv.set(client, clock + values.length)
    for (const v of values) this.filter.add(encodedCid(v))
    return update
  }

  /**
   * Whether a peer's update only adds values for keys the shard does not hold (and peer codes it
   * does not have), with everything it refers to already in the shard: then its values, and the
   * sketch takes it in. 'known': every part of it is already in the shard. undefined: anything else
   * (deletions, an overlap or a gap, a key the shard may hold, a code it has), which needs the
   * decoded shard.
   */
  accept (update: Uint8Array): string[] | 'known' | undefined {
    let decoded: { structs: Array<Y.Item | Y.GC | Y.Skip>, ds: DeleteSet }
    try { decoded = Y.decodeUpdate(update) as typeof decoded } catch { return undefined }
    if (decoded.ds.clients.size > 0) return undefined
    if (decoded.structs.length === 0) return 'known'
    const next = new Map<number, number>()
    let known = true
    for (const s of decoded.structs) {
      const at = next.get(s.id.client) ?? this.sv.get(s.id.client) ?? 0
      if (s.id.clock + s.length <= (this.sv.get(s.id.client) ?? 0)) continue
      known = false
      if (s.id.clock !== at) return undefined
      next.set(s.id.client, at + s.length)
    }
    if (known) return 'known'
    const after = (id: Y.ID): boolean => id.clock < (next.get(id.client) ?? this.sv.get(id.client) ?? 0)
    const values: string[] = []
    const keys = new Set<string>()
    const codes = new Map<string, string>()
    for (const s of decoded.structs) {
      if (s.id.clock + s.length <= (this.sv.get(s.id.client) ?? 0)) continue
      if (s instanceof Y.Item && s.parentSub !== null) {
        // A peer code set for the first time (no origin: no earlier value of that code in the map). One
        // the shard has already would make this a concurrent second value, which Yjs deletes on integration.
        const id = s.content instanceof Y.ContentAny ? s.content.arr[0] : undefined
        if (s.origin !== null || s.rightOrigin !== null || (s.parent as unknown) !== PEER_CODES_MAP || s.length !== 1 || typeof id !== 'string') return undefined
        if (this.peerCodes.has(s.parentSub) || codes.has(s.parentSub)) return undefined
        codes.set(s.parentSub, id)
        continue
      }
      // An array element: inserted at the front (no origin, the old first element as right origin)
      // or with no neighbours in the array. Map entries (peer codes) never have a right origin.
      if (!(s instanceof Y.Item) || !(s.content instanceof Y.ContentAny) || s.origin !== null) return undefined
      // A decoded update's root-level parent is the type's name (a string), not a type.
      if (s.rightOrigin === null ? (s.parent as unknown) !== PINS : !after(s.rightOrigin)) return undefined
      for (const v of s.content.arr) {
        if (typeof v !== 'string') return undefined
        const key = encodedCid(v)
        if (keys.has(key) || this.filter.has(key)) return undefined
        keys.add(key)
        values.push(v)
      }
    }
    for (const [client, clock] of next) this.sv.set(client, clock)
    for (const k of keys) this.filter.add(k)
    for (const [code, id] of codes) this.peerCodes.set(code, id)
    return values
  }
}

/**
 * A Yjs update (format v1) of one struct: `values` as one element of the root array, written by
 * `client` at `clock`, with no neighbours named, and no deletions. What a document of that client
 * at that clock encodes when it inserts them into its empty array; made by hand because a Y.Doc per
 * insert cost more than the insert (each draws random bytes for its guid and client id).
 */
export function encodeInsert (client: number, clock: number, values: readonly string[]): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 1) // clients
  encoding.writeVarUint(e, 1) // structs of that client
  encoding.writeVarUint(e, client)
  encoding.writeVarUint(e, clock)
  encoding.writeUint8(e, CONTENT_ANY) // info: no origin, no right origin, no parentSub
  encoding.writeVarUint(e, 1) // the parent is a root type, named
  encoding.writeVarString(e, PINS)
  encoding.writeVarUint(e, values.length)
  for (const v of values) encoding.writeAny(e, v)
  encoding.writeVarUint(e, 0) // delete set: no clients
  return encoding.toUint8Array(e)
}

/** Yjs's content reference of ContentAny. */
const CONTENT_ANY = 8

/**
 * A Bloom filter of strings: 24 to 48 bits and 10 probes a key up to its planned size, about
 * 2 in 100,000 false positives (one costs a decode of the shard; a bulk write puts hundreds of new
 * keys in a shard at once, and each must be a sure "no"). Written here because the one in
 * @libp2p/utils 7 ignores its seeds (every probe hashes to the same bit).
 */
class KeyFilter {
  private readonly bits: Uint32Array
  private readonly mask: number
  private readonly capacity: number
  private added = 0
  constructor (capacity: number) {
    let size = 1024
    while (size < capacity * 24) size *= 2
    this.bits = new Uint32Array(size / 32)
    this.mask = size - 1
    this.capacity = capacity
  }

  get full (): boolean { return this.added > this.capacity }

  add (key: string): void {
    this.added++
    const [a, b] = hashes(key)
    for (let i = 0; i < PROBES; i++) {
      const bit = (a + i * b) & this.mask
      this.bits[bit >>> 5] = (this.bits[bit >>> 5] as number) | (1 << (bit & 31))
    }
  }

  has (key: string): boolean {
    const [a, b] = hashes(key)
    for (let i = 0; i < PROBES; i++) {
      const bit = (a + i * b) & this.mask
      if (((this.bits[bit >>> 5] as number) & (1 << (bit & 31))) === 0) return false
    }
    return true
  }
}

const PROBES = 10

/** Two 32-bit hashes of the UTF-16 code units (FNV-1a, then two different finalisers); the second odd. */
function hashes (s: string): [number, number] {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return [fmix(h), (fmix(h ^ 0x9e3779b9) | 1) >>> 0]
}

/** MurmurHash3's 32-bit finaliser: spreads every input bit over the low bits the filter uses. */
function fmix (h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}
