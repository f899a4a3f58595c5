import { createHash } from 'node:crypto'
import type { PeerMetrics } from './types.js'

/** Gossip topic of a cluster's metrics: clusters with different names never mix. */
export function metricsTopic (clusterName: string): string {
  return `/pinmesh/metrics/1/${createHash('sha256').update(clusterName).digest('hex').slice(0, 32)}`
}

/** Largest metrics message accepted; a real one is well under 2 KiB. */
export const MAX_METRICS_BYTES = 64 * 1024
/** Most addresses kept per list (pinmesh's own, Kubo's). */
export const MAX_ADDRESSES = 32
/** Most tags kept. */
export const MAX_TAGS = 64
/** Longest string field (peer id, name, address, tag key or value). */
export const MAX_STRING_LENGTH = 1024

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * Encodes metrics as UTF-8 JSON with PeerMetrics' field names; `kubo` and `freeSpace` are left
 * out when undefined. Address lists are cut to MAX_ADDRESSES so the message stays small.
 */
export function encodeMetrics (m: PeerMetrics): Uint8Array {
  const wire = {
    peer: m.peer,
    peername: m.peername,
    addresses: m.addresses.slice(0, MAX_ADDRESSES),
    kubo: m.kubo === undefined ? undefined : { id: m.kubo.id, addresses: m.kubo.addresses.slice(0, MAX_ADDRESSES) },
    freeSpace: m.freeSpace,
    queued: m.queued,
    tags: m.tags,
    sentAt: m.sentAt,
    ttlMs: m.ttlMs
  }
  return encoder.encode(JSON.stringify(wire))
}

/**
 * Decodes and checks a metrics message. Throws an Error saying what is wrong (the caller drops
 * the message); unknown fields are ignored so that later versions can add some.
 */
export function decodeMetrics (data: Uint8Array): PeerMetrics {
  if (data.byteLength > MAX_METRICS_BYTES) throw new Error(`metrics message of ${data.byteLength} bytes is over ${MAX_METRICS_BYTES}`)
  const v: unknown = JSON.parse(decoder.decode(data))
  if (!isRecord(v)) throw new Error('metrics message is not a JSON object')
  const kubo = v.kubo
  let kuboOut: PeerMetrics['kubo']
  if (kubo !== undefined && kubo !== null) {
    if (!isRecord(kubo)) throw new Error('kubo must be an object')
    kuboOut = { id: str(kubo.id, 'kubo.id'), addresses: strings(kubo.addresses, 'kubo.addresses') }
  }
  return {
    peer: str(v.peer, 'peer'),
    peername: str(v.peername, 'peername'),
    addresses: strings(v.addresses, 'addresses'),
    kubo: kuboOut,
    freeSpace: v.freeSpace === undefined || v.freeSpace === null ? undefined : count(v.freeSpace, 'freeSpace'),
    queued: count(v.queued, 'queued'),
    tags: tags(v.tags),
    sentAt: num(v.sentAt, 'sentAt'),
    ttlMs: count(v.ttlMs, 'ttlMs')
  }
}

function isRecord (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function str (v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_STRING_LENGTH) throw new Error(`${field} must be a non-empty string of at most ${MAX_STRING_LENGTH} characters`)
  return v
}

function strings (v: unknown, field: string): string[] {
  if (!Array.isArray(v)) throw new Error(`${field} must be an array`)
  return v.slice(0, MAX_ADDRESSES).map((s, i) => str(s, `${field}[${i}]`))
}

function num (v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${field} must be a finite number`)
  return v
}

function count (v: unknown, field: string): number {
  const n = num(v, field)
  if (n < 0) throw new Error(`${field} must not be negative`)
  return n
}

function tags (v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {}
  if (!isRecord(v)) throw new Error('tags must be an object')
  const entries = Object.entries(v)
  if (entries.length > MAX_TAGS) throw new Error(`more than ${MAX_TAGS} tags`)
  for (const [k, value] of entries) {
    if (k.length > MAX_STRING_LENGTH) throw new Error('tag name too long')
    if (typeof value !== 'string' || value.length > MAX_STRING_LENGTH) throw new Error(`tags.${k} must be a string of at most ${MAX_STRING_LENGTH} characters`)
  }
  // fromEntries defines own properties, so a "__proto__" key cannot change the prototype.
  return Object.fromEntries(entries) as Record<string, string>
}
