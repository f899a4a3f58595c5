import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { createHash } from 'node:crypto'
import { encodeEpochId, decodeEpochId, type EpochId } from '../epoch.js'

/**
 * Gossip topic of a cluster's pinset: clusters with different names never mix. The version (2:
 * record encoding version 2, which earlier releases cannot decode) keeps peers of releases that
 * cannot read each other's records apart, as SYNC_PROTOCOL's does.
 */
export function pinsetTopic (clusterName: string): string {
  return `/pinmesh/pinset/2/${createHash('sha256').update(clusterName).digest('hex').slice(0, 32)}`
}

/** The catch-up stream protocol (2.0.0: record encoding version 2). */
export const SYNC_PROTOCOL = '/pinmesh/pinset-sync/2.0.0'

/** Largest gossip message and sync frame payload. go-libp2p-pubsub's default RPC limit. */
export const MAX_MESSAGE_BYTES = 1 << 20

const KIND_UPDATES = 1
const KIND_NUDGE = 2

/**
 * A gossip message, always tagged with the sender's epoch: Yjs updates of that epoch, or a
 * nudge asking receivers to sync with the sender (an update too large for gossip, a new epoch).
 */
export type GossipMessage = { kind: 'updates', epoch: EpochId, updates: Uint8Array[] } | { kind: 'nudge', epoch: EpochId }

export function encodeUpdates (epoch: EpochId, updates: readonly Uint8Array[]): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeUint8(e, KIND_UPDATES)
  encodeEpochId(e, epoch)
  encoding.writeVarUint(e, updates.length)
  for (const u of updates) encoding.writeVarUint8Array(e, u)
  return encoding.toUint8Array(e)
}

export function encodeNudge (epoch: EpochId): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeUint8(e, KIND_NUDGE)
  encodeEpochId(e, epoch)
  return encoding.toUint8Array(e)
}

/** Catch-up messages besides y-protocols' step 1 (0) and step 2 (1). */
export const MSG_HELLO = 100
export const MSG_OFFER = 101

/** Bytes one update adds to an updates message. */
export function updateOverhead (update: Uint8Array): number {
  return update.length + 5
}

export function decodeGossip (data: Uint8Array): GossipMessage {
  const d = decoding.createDecoder(data)
  const kind = decoding.readUint8(d)
  if (kind !== KIND_NUDGE && kind !== KIND_UPDATES) throw new Error(`unknown pinset gossip message kind ${kind}`)
  const epoch = decodeEpochId(d)
  if (kind === KIND_NUDGE) return { kind: 'nudge', epoch }
  const n = decoding.readVarUint(d)
  const updates: Uint8Array[] = []
  for (let i = 0; i < n; i++) updates.push(decoding.readVarUint8Array(d))
  return { kind: 'updates', epoch, updates }
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
