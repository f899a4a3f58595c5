import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { createHash } from 'node:crypto'
import { encodeEpochId, decodeEpochId, type EpochId } from '../epoch.js'
import { MAX_SHARDS } from '../shard-key.js'
import type { ShardId, ShardSummary } from '../types.js'

/**
 * Gossip topic of a cluster's pinset: clusters with different names never mix. The version keeps
 * peers that cannot read each other's messages apart, as SYNC_PROTOCOL's does. 3: the pinset is
 * `pinset.shards` documents and every update names its shard; a version 2 peer's single document
 * is not any shard of ours (applied to a shard it would put pins where shardOf does not look).
 */
export function pinsetTopic (clusterName: string): string {
  return `/pinmesh/pinset/3/${createHash('sha256').update(clusterName).digest('hex').slice(0, 32)}`
}

/**
 * The catch-up stream protocol. 3.0.0: per-shard summaries (epoch + digest) in HELLO, then step
 * 1/2 or an epoch offer only for the shards that differ (2.0.0 moved one whole document).
 */
export const SYNC_PROTOCOL = '/pinmesh/pinset-sync/3.0.0'

/** Largest gossip message and sync frame payload. go-libp2p-pubsub's default RPC limit. */
export const MAX_MESSAGE_BYTES = 1 << 20

/** Length of ShardSummary.digest. */
export const DIGEST_BYTES = 16

const KIND_UPDATES = 1
const KIND_NUDGE = 2

/** One Yjs update of one shard, at the epoch it was made in. */
export interface ShardUpdate { readonly shard: ShardId, readonly epoch: EpochId, readonly update: Uint8Array }

/** A shard and its epoch, as a nudge names it. */
export interface ShardEpoch { readonly shard: ShardId, readonly epoch: EpochId }

/**
 * A gossip message: Yjs updates of any shards, each tagged with its shard's epoch, or a nudge
 * asking receivers to sync the shards it names with the sender (a new epoch after a rebuild, an
 * update too large for gossip).
 */
export type GossipMessage = { kind: 'updates', entries: ShardUpdate[] } | { kind: 'nudge', shards: ShardEpoch[] }

/**
 * Epochs in a message refer to a table of leader peer ids written once at its start: a message
 * of many shards of the same epoch (the common case) names the leader once.
 */
class LeaderTable {
  readonly leaders: string[] = []
  private readonly index = new Map<string, number>()
  constructor (epochs: Iterable<EpochId>) { for (const e of epochs) this.indexOf(e.leader) }
  indexOf (leader: string): number {
    let i = this.index.get(leader)
    if (i === undefined) { i = this.leaders.length; this.leaders.push(leader); this.index.set(leader, i) }
    return i
  }

  write (e: encoding.Encoder): void {
    encoding.writeVarUint(e, this.leaders.length)
    for (const l of this.leaders) encoding.writeVarString(e, l)
  }

  writeEpoch (e: encoding.Encoder, epoch: EpochId): void {
    encoding.writeVarUint(e, epoch.n)
    encoding.writeVarUint(e, this.indexOf(epoch.leader))
  }
}

function readLeaders (d: decoding.Decoder): string[] {
  const n = decoding.readVarUint(d)
  if (n > MAX_SHARDS + 1) throw new Error(`too many epoch leaders (${n})`)
  const out: string[] = []
  for (let i = 0; i < n; i++) out.push(decoding.readVarString(d))
  return out
}

function readEpoch (d: decoding.Decoder, leaders: readonly string[]): EpochId {
  const n = decoding.readVarUint(d)
  const leader = leaders[decoding.readVarUint(d)]
  if (leader === undefined) throw new Error('epoch leader index out of range')
  return { n, leader }
}

function readShard (d: decoding.Decoder, shards = MAX_SHARDS): ShardId {
  const shard = decoding.readVarUint(d)
  if (shard >= shards) throw new Error(`shard ${shard} out of range (${shards} shards)`)
  return shard
}

export function encodeUpdates (entries: readonly ShardUpdate[]): Uint8Array {
  return encodeShardEntries(KIND_UPDATES, entries, (e, x) => { encoding.writeVarUint8Array(e, x.update) })
}

export function encodeNudge (shards: readonly ShardEpoch[]): Uint8Array {
  return encodeShardEntries(KIND_NUDGE, shards)
}

/** A gossip message: its kind, the leader table, then each entry's shard, epoch and (`writeRest`) what follows. */
function encodeShardEntries<T extends ShardEpoch> (kind: number, entries: readonly T[], writeRest?: (e: encoding.Encoder, x: T) => void): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeUint8(e, kind)
  const table = new LeaderTable(entries.map(x => x.epoch))
  table.write(e)
  encoding.writeVarUint(e, entries.length)
  for (const x of entries) {
    encoding.writeVarUint(e, x.shard)
    table.writeEpoch(e, x.epoch)
    writeRest?.(e, x)
  }
  return encoding.toUint8Array(e)
}

/** Bytes one update adds to an updates message, its epoch's leader aside (see leaderOverhead): shard, epoch number and leader index, length. */
export function updateOverhead (update: Uint8Array): number {
  return update.length + 16
}

/** Bytes a leader adds to a message's leader table the first time it appears. */
export function leaderOverhead (leader: string): number {
  return Buffer.byteLength(leader) + 5
}

export function decodeGossip (data: Uint8Array): GossipMessage {
  const d = decoding.createDecoder(data)
  const kind = decoding.readUint8(d)
  if (kind !== KIND_NUDGE && kind !== KIND_UPDATES) throw new Error(`unknown pinset gossip message kind ${kind}`)
  const leaders = readLeaders(d)
  const n = decoding.readVarUint(d)
  if (kind === KIND_NUDGE) {
    const shards: ShardEpoch[] = []
    for (let i = 0; i < n; i++) shards.push({ shard: readShard(d), epoch: readEpoch(d, leaders) })
    return { kind: 'nudge', shards }
  }
  const entries: ShardUpdate[] = []
  for (let i = 0; i < n; i++) entries.push({ shard: readShard(d), epoch: readEpoch(d, leaders), update: decoding.readVarUint8Array(d) })
  return { kind: 'updates', entries }
}

/** Catch-up message types. Step 1 and 2 keep y-protocols' numbers. */
export const MSG_STEP1 = 0
export const MSG_STEP2 = 1
export const MSG_HELLO = 100
export const MSG_OFFER = 101
/** "I have sent all my step 1s and offers": only answers to the other side's step 1s may follow. */
export const MSG_DONE = 102
/** "I have sent everything": the last message each way. */
export const MSG_END = 103

/**
 * A catch-up message:
 * - hello: the sender's shard count and summary (every shard's epoch and digest);
 * - step1: the sender's state vector of a shard at `epoch`, asking for what it lacks;
 * - step2: the answer, `update` of the shard at the answerer's `epoch` (empty when the step 1 was
 *   of another epoch than the answerer's: the shard moved meanwhile);
 * - offer: the sender's epoch offer for a shard (the epoch is the package's);
 * - done, end: see MSG_DONE, MSG_END.
 */
export type CatchUpMessage =
  | { type: 'hello', shards: number, summary: ShardSummary[] }
  | { type: 'step1', shard: ShardId, epoch: EpochId, stateVector: Uint8Array }
  | { type: 'step2', shard: ShardId, epoch: EpochId, update: Uint8Array }
  | { type: 'offer', shard: ShardId, pkg: Uint8Array, state: Uint8Array }
  | { type: 'done' }
  | { type: 'end' }

/**
 * The summary a HELLO carries, compactly: the most common (epoch, digest) pair once, then only
 * the shards that differ from it (index gap, epoch as leader-table index, digest). A new peer's
 * summary (every shard the empty genesis document) is a few bytes; a full one about 20 bytes a shard.
 */
function writeSummary (e: encoding.Encoder, summary: readonly ShardSummary[]): void {
  const common = mostCommon(summary)
  const listed: number[] = []
  summary.forEach((s, i) => { if (!sameSummary(s, common)) listed.push(i) })
  const table = new LeaderTable([common.epoch, ...listed.map(i => (summary[i] as ShardSummary).epoch)])
  table.write(e)
  table.writeEpoch(e, common.epoch)
  writeDigest(e, common.digest)
  encoding.writeVarUint(e, listed.length)
  let prev = -1
  for (const i of listed) {
    const s = summary[i] as ShardSummary
    encoding.writeVarUint(e, i - prev - 1)
    prev = i
    table.writeEpoch(e, s.epoch)
    writeDigest(e, s.digest)
  }
}

function readSummary (d: decoding.Decoder, shards: number): ShardSummary[] {
  const leaders = readLeaders(d)
  const common: ShardSummary = { epoch: readEpoch(d, leaders), digest: readDigest(d) }
  const summary: ShardSummary[] = new Array<ShardSummary>(shards).fill(common)
  const n = decoding.readVarUint(d)
  if (n > shards) throw new Error(`summary lists ${n} of ${shards} shards`)
  let prev = -1
  for (let k = 0; k < n; k++) {
    const i = prev + 1 + decoding.readVarUint(d)
    if (i >= shards) throw new Error(`summary shard ${i} out of range (${shards} shards)`)
    prev = i
    summary[i] = { epoch: readEpoch(d, leaders), digest: readDigest(d) }
  }
  return summary
}

function writeDigest (e: encoding.Encoder, digest: Uint8Array): void {
  if (digest.length !== DIGEST_BYTES) throw new Error(`a shard digest is ${DIGEST_BYTES} bytes, not ${digest.length}`)
  encoding.writeUint8Array(e, digest)
}

function readDigest (d: decoding.Decoder): Uint8Array {
  return decoding.readUint8Array(d, DIGEST_BYTES)
}

function sameSummary (a: ShardSummary, b: ShardSummary): boolean {
  return a.epoch.n === b.epoch.n && a.epoch.leader === b.epoch.leader && Buffer.compare(a.digest, b.digest) === 0
}

function mostCommon (summary: readonly ShardSummary[]): ShardSummary {
  const counts = new Map<string, { s: ShardSummary, n: number }>()
  let best: { s: ShardSummary, n: number } | undefined
  for (const s of summary) {
    const key = `${s.epoch.n}/${s.epoch.leader}/${Buffer.from(s.digest).toString('hex')}`
    const c = counts.get(key) ?? { s, n: 0 }
    c.n++
    counts.set(key, c)
    if (best === undefined || c.n > best.n) best = c
  }
  return best?.s ?? { epoch: { n: 0, leader: '' }, digest: new Uint8Array(DIGEST_BYTES) }
}

export function encodeCatchUp (m: CatchUpMessage): Uint8Array {
  const e = encoding.createEncoder()
  switch (m.type) {
    case 'hello':
      encoding.writeVarUint(e, MSG_HELLO)
      encoding.writeVarUint(e, m.shards)
      writeSummary(e, m.summary)
      break
    case 'step1':
    case 'step2':
      encoding.writeVarUint(e, m.type === 'step1' ? MSG_STEP1 : MSG_STEP2)
      encoding.writeVarUint(e, m.shard)
      encodeEpochId(e, m.epoch)
      encoding.writeVarUint8Array(e, m.type === 'step1' ? m.stateVector : m.update)
      break
    case 'offer':
      encoding.writeVarUint(e, MSG_OFFER)
      encoding.writeVarUint(e, m.shard)
      encoding.writeVarUint8Array(e, m.pkg)
      encoding.writeVarUint8Array(e, m.state)
      break
    case 'done': encoding.writeVarUint(e, MSG_DONE); break
    case 'end': encoding.writeVarUint(e, MSG_END); break
  }
  return encoding.toUint8Array(e)
}

/** Decodes a catch-up message; shard ids are checked against `shards` (once known from HELLO). */
export function decodeCatchUp (message: Uint8Array, shards = MAX_SHARDS): CatchUpMessage {
  const d = decoding.createDecoder(message)
  const type = decoding.readVarUint(d)
  switch (type) {
    case MSG_HELLO: {
      const n = decoding.readVarUint(d)
      if (n < 1 || n > MAX_SHARDS) throw new Error(`invalid shard count ${n}`)
      return { type: 'hello', shards: n, summary: readSummary(d, n) }
    }
    case MSG_STEP1: return { type: 'step1', shard: readShard(d, shards), epoch: decodeEpochId(d), stateVector: decoding.readVarUint8Array(d) }
    case MSG_STEP2: return { type: 'step2', shard: readShard(d, shards), epoch: decodeEpochId(d), update: decoding.readVarUint8Array(d) }
    case MSG_OFFER: return { type: 'offer', shard: readShard(d, shards), pkg: decoding.readVarUint8Array(d), state: decoding.readVarUint8Array(d) }
    case MSG_DONE: return { type: 'done' }
    case MSG_END: return { type: 'end' }
    default: throw new Error(`unknown pinset sync message type ${type}`)
  }
}

/**
 * Cuts a message into sync-stream frames of at most MAX_MESSAGE_BYTES payload:
 * `[1 byte: 1 if more frames follow][payload]`.
 */
export function * frames (message: Uint8Array, max = MAX_MESSAGE_BYTES): Generator<Uint8Array> {
  let pos = 0
  do {
    const end = Math.min(message.length, pos + max)
    const frame = new Uint8Array(1 + end - pos)
    frame[0] = end < message.length ? 1 : 0
    frame.set(message.subarray(pos, end), 1)
    yield frame
    pos = end
  } while (pos < message.length)
}

/** Collects frames back into messages. Returns a message when its last frame arrives. */
export class FrameAssembler {
  private parts: Uint8Array[] = []
  private bytes = 0
  private readonly limit: number

  /** @param limit largest message accepted, to bound memory */
  constructor (limit: number) { this.limit = limit }

  push (frame: Uint8Array): Uint8Array | undefined {
    if (frame.length === 0) throw new Error('empty sync frame')
    const payload = frame.subarray(1)
    this.bytes += payload.length
    if (this.bytes > this.limit) throw new Error(`sync message larger than ${this.limit} bytes`)
    this.parts.push(payload)
    if (frame[0] === 1) return undefined
    const out = Buffer.concat(this.parts)
    this.parts = []
    this.bytes = 0
    return out
  }
}
