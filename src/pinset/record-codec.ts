import type * as Y from 'yjs'
import type { PinRecord, PinMode } from '../types.js'

/**
 * The compact string form a pin takes inside the replicated document: `<cid>\x1f<fields>`.
 * A string is the cheapest value Yjs stores (no per-entry object, no per-entry Uint8Array), and
 * the CID prefix lets the index key off a substring without parsing the rest. At a million pins
 * every byte of this string is a megabyte of every peer's memory, state file and catch-up.
 *
 * Version 2 (written now): fields separated by \x1e, `2` first:
 *   `2 ␞ <r|d><min>,<max> ␞ <allocations, comma-separated peer refs> ␞ <name as JSON, or empty>
 *    ␞ <metadata as JSON, or empty> ␞ <expireAt base36, or empty> ␞ <createdAt base36>
 *    ␞ <updatedAt base36, or empty when equal to createdAt> ␞ <updatedBy peer ref>`
 * A peer ref is `~<code>` (see PeerCodes) or the full peer id.
 * Version 1 (still read, and written for the odd record version 2 cannot hold exactly):
 *   a JSON array `[1, mode, min, max, allocations, name, metadata|0, expireAt|0, createdAt, updatedAt, updatedBy]`.
 */
const SEP = '\x1f'
const FS = '\x1e'
const V2 = '2' + FS

/** The document map of peer codes. */
export const PEER_CODES_MAP = 'peers'
/** Characters of a peer id's end that make its code. */
const CODE_CHARS = 8

/**
 * Short references to peer ids inside records, through a map in the document from code to peer
 * id that any peer adds to. A code is the last characters of a peer id (the random part of its
 * key or key hash), so every peer derives the same code for the same id and concurrent additions
 * agree. A writer that finds its code already taken by another id writes the full id instead.
 * Why not a hash of the id: the suffix needs no work and stays recognisable in a dump; two ids
 * colliding on 8 base58 characters (~47 bits) *and* being added concurrently by different peers
 * is the one case a code can resolve to the wrong id.
 */
export class PeerCodes {
  private readonly map: Y.Map<string>
  constructor (doc: Y.Doc) { this.map = doc.getMap<string>(PEER_CODES_MAP) }

  /** The reference to write for `id`; adds its code to the map (call inside the writing transaction). */
  ref (id: string): string {
    if (!plainId(id) || id.length <= CODE_CHARS + 4) return id
    const code = id.slice(-CODE_CHARS)
    const known = this.map.get(code)
    if (known === undefined) this.map.set(code, id)
    else if (known !== id) return id
    return '~' + code
  }

  /** The peer id a reference stands for (an unknown code is returned as written). */
  resolve (ref: string): string {
    return ref.startsWith('~') ? this.map.get(ref.slice(1)) ?? ref : ref
  }

  /** Every code with its peer id. */
  entries (): Map<string, string> { return new Map(this.map.entries()) }

  /** Copies every code of `from` this map lacks; returns false if some code means another id here. */
  copyFrom (from: PeerCodes): boolean {
    let same = true
    for (const [code, id] of from.map) {
      const here = this.map.get(code)
      if (here === undefined) this.map.set(code, id)
      else if (here !== id) same = false
    }
    return same
  }
}

/**
 * A shard's peer codes as they were when it was last decoded, read-only: ids with a code are
 * written with it, others in full (a writer may always write the full id), so nothing is added.
 */
export class PeerCodesView {
  constructor (private readonly map: ReadonlyMap<string, string>) {}

  ref (id: string): string {
    if (!plainId(id) || id.length <= CODE_CHARS + 4) return id
    const code = id.slice(-CODE_CHARS)
    return this.map.get(code) === id ? '~' + code : id
  }

  resolve (ref: string): string {
    return ref.startsWith('~') ? this.map.get(ref.slice(1)) ?? ref : ref
  }
}

/** Peer references need no quoting: no separator, no comma, no leading `~`. */
function plainId (id: string): boolean {
  return id.length > 0 && !id.startsWith('~') && !/[,\x1e\x1f]/.test(id)
}

const NO_CODES = { ref: (id: string) => id, resolve: (ref: string) => ref }

export function encodeRecord (r: PinRecord, codes: Pick<PeerCodes, 'ref'> = NO_CODES): string {
  const ints = [r.replicationMin, r.replicationMax]
  const times = [r.createdAt, r.updatedAt, ...(r.expireAt !== undefined ? [r.expireAt] : [])]
  if (!ints.every(Number.isSafeInteger) || !times.every(t => Number.isSafeInteger(t) && t >= 0) ||
    !r.allocations.every(plainId) || !plainId(r.updatedBy)) return encodeV1(r)
  const meta = Object.keys(r.metadata).length === 0 ? '' : JSON.stringify(r.metadata)
  return r.cid + SEP + V2 + (r.mode === 'direct' ? 'd' : 'r') + `${r.replicationMin},${r.replicationMax}` + FS +
    r.allocations.map(a => codes.ref(a)).join(',') + FS +
    (r.name === '' ? '' : JSON.stringify(r.name)) + FS + meta + FS +
    (r.expireAt !== undefined ? r.expireAt.toString(36) : '') + FS +
    r.createdAt.toString(36) + FS + (r.updatedAt === r.createdAt ? '' : r.updatedAt.toString(36)) + FS +
    codes.ref(r.updatedBy)
}

type EncodedV1 = [number, 0 | 1, number, number, string[], string, Record<string, string> | 0, number, number, number, string]

function encodeV1 (r: PinRecord): string {
  const fields: EncodedV1 = [
    1, r.mode === 'direct' ? 1 : 0, r.replicationMin, r.replicationMax, [...r.allocations], r.name,
    Object.keys(r.metadata).length === 0 ? 0 : { ...r.metadata }, r.expireAt ?? 0, r.createdAt, r.updatedAt, r.updatedBy
  ]
  return r.cid + SEP + JSON.stringify(fields)
}

/** The CID of an encoded record, without decoding the rest. */
export function encodedCid (value: string): string {
  const i = value.indexOf(SEP)
  return i < 0 ? value : value.slice(0, i)
}

/** The updatedAt of an encoded record (for conflict resolution), without resolving peer codes. */
export function encodedUpdatedAt (value: string): number {
  return decodeRecord(value).updatedAt
}

/**
 * Decodes a record of either version; `codes` resolves the peer codes of version 2. `key`, the
 * record's CID string as the caller already holds it (the index key), is used rather than a new
 * substring: records kept by the million (queued operations) then share one CID string.
 */
export function decodeRecord (value: string, codes: Pick<PeerCodes, 'resolve'> = NO_CODES, key?: string): PinRecord {
  const i = value.indexOf(SEP)
  if (i < 0) throw new Error('malformed pin record: no separator')
  const cid = key !== undefined && key.length === i && value.startsWith(key) ? key : value.slice(0, i)
  if (value.startsWith(V2, i + 1)) return decodeV2(cid, value.slice(i + 1 + V2.length), codes)
  const f = JSON.parse(value.slice(i + 1)) as EncodedV1
  if (!Array.isArray(f) || f[0] !== 1) throw new Error(`unsupported pin record encoding ${String(f?.[0])}`)
  const mode: PinMode = f[1] === 1 ? 'direct' : 'recursive'
  return {
    cid,
    mode,
    replicationMin: f[2],
    replicationMax: f[3],
    allocations: f[4],
    name: f[5],
    metadata: f[6] === 0 ? {} : f[6],
    ...(f[7] !== 0 ? { expireAt: f[7] } : {}),
    createdAt: f[8],
    updatedAt: f[9],
    updatedBy: f[10]
  }
}

function decodeV2 (cid: string, rest: string, codes: Pick<PeerCodes, 'resolve'>): PinRecord {
  const f = rest.split(FS)
  if (f.length !== 8) throw new Error('malformed pin record: expected 8 fields')
  const [rep, allocations, name, meta, expireAt, createdAt, updatedAt, updatedBy] = f as [string, string, string, string, string, string, string, string]
  const comma = rep.indexOf(',')
  const created = parseInt(createdAt, 36)
  return {
    cid,
    mode: rep[0] === 'd' ? 'direct' : 'recursive',
    replicationMin: Number(rep.slice(1, comma)),
    replicationMax: Number(rep.slice(comma + 1)),
    allocations: allocations === '' ? [] : allocations.split(',').map(a => codes.resolve(a)),
    name: name === '' ? '' : JSON.parse(name) as string,
    metadata: meta === '' ? {} : JSON.parse(meta) as Record<string, string>,
    ...(expireAt !== '' ? { expireAt: parseInt(expireAt, 36) } : {}),
    createdAt: created,
    updatedAt: updatedAt === '' ? created : parseInt(updatedAt, 36),
    updatedBy: codes.resolve(updatedBy)
  }
}
