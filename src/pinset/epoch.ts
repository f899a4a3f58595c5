import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { YArrayKv } from './kv.js'
import { encodedUpdatedAt, encodedCid, PeerCodes } from './record-codec.js'

/**
 * Epochs bound tombstones. Deleted elements stay linked in a Yjs array for ever (others may
 * still refer to them), so an elected trusted peer periodically rebuilds the document from the
 * live entries alone: a new epoch. Every peer then moves to the newest epoch and carries its own
 * changes made since the rebuild's base across (see `migrate`), so no acknowledged write is lost.
 *
 * An epoch is named by (number, leader peer id); a higher number wins, then a higher leader id,
 * so two leaders that compacted at once still converge on one epoch.
 */
export interface EpochId { readonly n: number, readonly leader: string }

export const GENESIS: EpochId = { n: 0, leader: '' }

/** <0, 0, >0 like a comparator. */
export function compareEpochs (a: EpochId, b: EpochId): number {
  if (a.n !== b.n) return a.n - b.n
  return a.leader < b.leader ? -1 : a.leader > b.leader ? 1 : 0
}

export function sameEpoch (a: EpochId, b: EpochId): boolean { return compareEpochs(a, b) === 0 }

/**
 * What a peer on the previous epoch needs to move to this one exactly:
 * - `prev`: the epoch this one was built from;
 * - `base`: the Yjs snapshot (state vector + delete set) of `prev` the rebuild saw;
 * - `leaderClient` and `oldIds`: element `i` inserted by the rebuild (clock `i` of
 *   `leaderClient` in the new document) is the element `oldIds[i]` of `prev`.
 */
export interface EpochPackage {
  readonly id: EpochId
  readonly prev: EpochId
  readonly base: Uint8Array
  readonly leaderClient: number
  readonly oldIds: ReadonlyArray<{ client: number, clock: number }>
}

export function encodeEpochId (e: encoding.Encoder, id: EpochId): void {
  encoding.writeVarUint(e, id.n)
  encoding.writeVarString(e, id.leader)
}

export function decodeEpochId (d: decoding.Decoder): EpochId {
  return { n: decoding.readVarUint(d), leader: decoding.readVarString(d) }
}

export function encodePackage (p: EpochPackage): Uint8Array {
  const e = encoding.createEncoder()
  encodeEpochId(e, p.id)
  encodeEpochId(e, p.prev)
  encoding.writeVarUint8Array(e, p.base)
  encoding.writeVarUint(e, p.leaderClient)
  encoding.writeVarUint(e, p.oldIds.length)
  for (const id of p.oldIds) { encoding.writeVarUint(e, id.client); encoding.writeVarUint(e, id.clock) }
  return encoding.toUint8Array(e)
}

export function decodePackage (bytes: Uint8Array): EpochPackage {
  const d = decoding.createDecoder(bytes)
  const id = decodeEpochId(d)
  const prev = decodeEpochId(d)
  const base = decoding.readVarUint8Array(d)
  const leaderClient = decoding.readVarUint(d)
  const n = decoding.readVarUint(d)
  const oldIds: Array<{ client: number, clock: number }> = []
  for (let i = 0; i < n; i++) oldIds.push({ client: decoding.readVarUint(d), clock: decoding.readVarUint(d) })
  return { id, prev, base, leaderClient, oldIds }
}

/** Rebuilds `old` from its live entries as the first document of epoch `id`, indexed by `next`. */
export function buildEpoch (old: YArrayKv, current: EpochId, id: EpochId, next: YArrayKv, chunk: number, origin: unknown): EpochPackage {
  const base = Y.encodeSnapshot(Y.snapshot(old.doc))
  const doc = next.doc
  const array = doc.getArray<string>('pins')
  const slots = [...old.slots()]
  // One insert per chunk, in order: the chunk's values get consecutive clocks, so element i of
  // the rebuild (clock i of this document's client) is slots[i].
  for (let i = 0; i < slots.length; i += chunk) {
    doc.transact(() => { array.insert(0, slots.slice(i, i + chunk).map(s => s.value)) }, origin)
  }
  // The values keep their peer codes (record-codec.ts), so the codes come too; after the values,
  // which must take this client's first clocks.
  doc.transact(() => { new PeerCodes(doc).copyFrom(new PeerCodes(old.doc)) }, origin)
  return { id, prev: current, base, leaderClient: doc.clientID, oldIds: slots.map(s => ({ client: s.client, clock: s.clock })) }
}

/** What a peer must write into the new epoch to carry its own view across. */
export interface Migration {
  /** Encoded records to set (changes the rebuild did not see). */
  sets: string[]
  /** Elements of the new document to delete (entries deleted since the rebuild's base). */
  deletes: Array<{ client: number, clock: number }>
  /** True when only an approximate, add-wins migration was possible (the peer was more than one epoch behind). */
  approximate: boolean
}

/**
 * Compares this peer's document of the previous epoch with the rebuild's base:
 * - elements inserted after the base and still live are set again in the new epoch;
 * - elements that were live in the base and have been deleted here since are deleted in the
 *   new epoch (found through `oldIds`).
 * When `old` is not the package's previous epoch, the base says nothing about it: entries whose
 * value here is newer than the new epoch's (or missing there) are set; deletions are not carried
 * (an unpin may need repeating, a pin is never lost).
 */
export function migrate (old: YArrayKv, oldEpoch: EpochId, pkg: EpochPackage, next: YArrayKv): Migration {
  if (!sameEpoch(oldEpoch, pkg.prev)) {
    const sets: string[] = []
    for (const s of old.slots()) {
      const there = next.get(encodedCid(s.value))
      if (there === undefined || (there !== s.value && encodedUpdatedAt(s.value) > encodedUpdatedAt(there))) sets.push(s.value)
    }
    return { sets, deletes: [], approximate: true }
  }
  const base = Y.decodeSnapshot(pkg.base)
  const inBase = (client: number, clock: number): boolean => clock < (base.sv.get(client) ?? 0)
  const sets: string[] = []
  for (const s of old.slots()) if (!inBase(s.client, s.clock)) sets.push(s.value)
  const newIdOf = new Map<string, number>()
  pkg.oldIds.forEach((id, i) => newIdOf.set(`${id.client}:${id.clock}`, i))
  const deletes: Array<{ client: number, clock: number }> = []
  for (const [client, structs] of old.doc.store.clients) {
    for (const s of structs) {
      if (!(s instanceof Y.Item) || !s.deleted) continue
      for (let k = s.id.clock; k < s.id.clock + s.length; k++) {
        if (!inBase(client, k) || Y.isDeleted(base.ds, Y.createID(client, k))) continue
        const i = newIdOf.get(`${client}:${k}`)
        if (i !== undefined) deletes.push({ client: pkg.leaderClient, clock: i })
      }
    }
  }
  return { sets, deletes, approximate: false }
}

export interface CompactionFigures { pins: number, tombstones: number }

/**
 * Whether the document is worth rebuilding: more tombstones than half the live entries, and
 * enough of them to matter.
 */
export function needsCompaction (f: CompactionFigures, minTombstones: number): boolean {
  return f.tombstones >= minTombstones && f.tombstones * 2 > f.pins
}

/** The trusted peer that rebuilds: the lowest peer id among this peer and its connected trusted peers. */
export function isCompactionLeader (self: string, connectedTrusted: readonly string[]): boolean {
  return connectedTrusted.every(p => self <= p)
}
