import type { PinRecord, PinMode } from '../types.js'

/**
 * The compact string form a pin takes inside the replicated document:
 * `<cid>\x1f<json array of the other fields>`. A string is the cheapest value Yjs stores
 * (no per-entry object, no per-entry Uint8Array), and the CID prefix lets the index key off a
 * substring without parsing JSON. Field 0 of the array is the encoding version.
 */
const SEP = '\x1f'
const VERSION = 1

type Encoded = [number, 0 | 1, number, number, string[], string, Record<string, string> | 0, number, number, number, string]

export function encodeRecord (r: PinRecord): string {
  const fields: Encoded = [
    VERSION, r.mode === 'direct' ? 1 : 0, r.replicationMin, r.replicationMax, [...r.allocations], r.name,
    Object.keys(r.metadata).length === 0 ? 0 : { ...r.metadata }, r.expireAt ?? 0, r.createdAt, r.updatedAt, r.updatedBy
  ]
  return r.cid + SEP + JSON.stringify(fields)
}

/** The CID of an encoded record, without decoding the rest. */
export function encodedCid (value: string): string {
  const i = value.indexOf(SEP)
  return i < 0 ? value : value.slice(0, i)
}

/** The updatedAt of an encoded record (for conflict resolution). */
export function decodeRecord (value: string): PinRecord {
  const i = value.indexOf(SEP)
  if (i < 0) throw new Error('malformed pin record: no separator')
  const f = JSON.parse(value.slice(i + 1)) as Encoded
  if (!Array.isArray(f) || f[0] !== VERSION) throw new Error(`unsupported pin record encoding ${String(f?.[0])}`)
  const mode: PinMode = f[1] === 1 ? 'direct' : 'recursive'
  return {
    cid: value.slice(0, i),
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
