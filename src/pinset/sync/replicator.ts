import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { messageYjsSyncStep1, messageYjsSyncStep2 } from 'y-protocols/sync'
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Libp2p, PeerId, Stream, Connection } from '@libp2p/interface'
import { TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub'
import type { Logger } from '../../logger.js'
import type { Startable } from '../../lifecycle.js'
import type { ReplicatedDoc } from '../types.js'
import { TrustPolicy } from './trust.js'
import { pinsetTopic, SYNC_PROTOCOL, MAX_MESSAGE_BYTES, encodeUpdates, encodeNudge, decodeGossip, updateOverhead, frames, FrameAssembler } from './wire.js'

export interface PinsetReplicatorInit {
  clusterName: string
  /** Peer ids whose changes are applied, or `*`. */
  trustedPeers: readonly string[]
  /** Local updates are collected this long before one gossip message goes out. @default 10 */
  batchWindowMs?: number
  /** Every connected peer is re-synced this often (anti-entropy). @default 30000 */
  syncIntervalMs?: number
  /** A catch-up exchange is abandoned after this long. @default 120000 */
  syncTimeoutMs?: number
  /** Largest catch-up message accepted (a whole pinset state). @default 1 GiB */
  maxSyncBytes?: number
}

export interface PinsetReplicatorComponents {
  libp2p: Libp2p<{ pubsub: GossipSub }>
  doc: ReplicatedDoc
  logger: Logger
}

/**
 * Replicates the pinset document between peers:
 * - local updates (once on disk) are batched and published on the cluster's gossip topic in
 *   messages of at most 1 MiB; an update too large for one message is announced by a nudge
 *   that makes receivers fetch it by catch-up;
 * - catch-up runs the y-protocols sync exchange (step 1: state vectors, step 2: what the other
 *   lacks) over SYNC_PROTOCOL in frames of at most 1 MiB, on every new outbound connection,
 *   after a nudge or a gap, and every `syncIntervalMs`;
 * - only trusted peers' changes are applied: for gossip the message signer (`from`), never the
 *   forwarding peer; for catch-up the connection's remote peer.
 */
export class PinsetReplicator implements Startable {
  private readonly c: PinsetReplicatorComponents
  private readonly init: Required<PinsetReplicatorInit>
  private readonly log: Logger
  private readonly topic: string
  private trust?: TrustPolicy
  private queue: Uint8Array[] = []
  private queuedBytes = 0
  private flushTimer?: NodeJS.Timeout
  private syncTimer?: NodeJS.Timeout
  private readonly syncing = new Map<string, Promise<void>>()
  private readonly cleanups: Array<() => void> = []
  private topologyId?: string
  private started = false
  private readonly stopController = new AbortController()

  constructor (components: PinsetReplicatorComponents, init: PinsetReplicatorInit) {
    this.c = components
    this.init = { batchWindowMs: 10, syncIntervalMs: 30_000, syncTimeoutMs: 120_000, maxSyncBytes: 1 << 30, ...init }
    this.log = components.logger
    this.topic = pinsetTopic(init.clusterName)
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    const { libp2p, doc } = this.c
    const self = libp2p.peerId.toString()
    this.trust = new TrustPolicy(self, this.init.trustedPeers, this.log)
    const pubsub = libp2p.services.pubsub
    pubsub.topicValidators.set(this.topic, (_relay: PeerId, msg: Message) => {
      if (msg.type !== 'signed') return TopicValidatorResult.Reject
      const from = msg.from.toString()
      if (this.trust?.isTrusted(from) === true) return TopicValidatorResult.Accept
      this.trust?.ignored(from, 'gossip')
      return TopicValidatorResult.Reject
    })
    const onMessage = (evt: CustomEvent<Message>): void => { this.onGossip(evt.detail) }
    pubsub.addEventListener('message', onMessage)
    this.cleanups.push(() => { pubsub.removeEventListener('message', onMessage) })
    pubsub.subscribe(this.topic)
    this.cleanups.push(doc.onLocalUpdate((u) => { this.enqueue(u) }))

    await libp2p.handle(SYNC_PROTOCOL, (stream: Stream, connection: Connection) => {
      this.exchange(stream, connection.remotePeer.toString()).catch((err: unknown) => {
        this.log.debug({ err, peer: connection.remotePeer.toString() }, 'inbound pinset sync failed')
      })
    }, { runOnLimitedConnection: false })
    this.topologyId = await libp2p.register(SYNC_PROTOCOL, {
      onConnect: (peerId: PeerId, conn: Connection) => {
        // Each connection is synced once, by its dialer.
        if (conn.direction === 'outbound') this.syncWith(peerId.toString())
      }
    })
    this.syncTimer = setInterval(() => { this.syncAll() }, this.init.syncIntervalMs)
    this.syncTimer.unref()
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.stopController.abort()
    clearInterval(this.syncTimer)
    await this.flush()
    clearTimeout(this.flushTimer)
    for (const fn of this.cleanups.splice(0)) fn()
    const { libp2p } = this.c
    libp2p.services.pubsub.topicValidators.delete(this.topic)
    try { libp2p.services.pubsub.unsubscribe(this.topic) } catch { /* libp2p may already be stopping */ }
    if (this.topologyId !== undefined) libp2p.unregister(this.topologyId)
    await libp2p.unhandle(SYNC_PROTOCOL).catch(() => {})
    await Promise.allSettled([...this.syncing.values()])
  }

  /** Runs a catch-up exchange with `peerId` now (at most one per peer at a time). */
  syncWith (peerId: string): Promise<void> {
    const running = this.syncing.get(peerId)
    if (running !== undefined) return running
    const run = (async () => {
      const signal = AbortSignal.any([this.stopController.signal, AbortSignal.timeout(this.init.syncTimeoutMs)])
      const stream = await this.c.libp2p.dialProtocol(peerIdFromString(peerId), SYNC_PROTOCOL, { signal })
      await this.exchange(stream, peerId, signal)
    })().catch((err: unknown) => {
      if (this.started) this.log.debug({ err, peer: peerId }, 'pinset sync failed')
    }).finally(() => { this.syncing.delete(peerId) })
    this.syncing.set(peerId, run)
    return run
  }

  /** Syncs with every connected peer. */
  syncAll (): void {
    const seen = new Set<string>()
    for (const conn of this.c.libp2p.getConnections()) {
      const id = conn.remotePeer.toString()
      if (seen.has(id)) continue
      seen.add(id)
      this.syncWith(id)
    }
  }

  private enqueue (update: Uint8Array): void {
    if (updateOverhead(update) + 16 > MAX_MESSAGE_BYTES) {
      // Too big for gossip: tell peers to come and get it.
      void this.publish(encodeNudge())
      return
    }
    if (this.queuedBytes + updateOverhead(update) + 16 > MAX_MESSAGE_BYTES) void this.flush()
    this.queue.push(update)
    this.queuedBytes += updateOverhead(update)
    this.flushTimer ??= setTimeout(() => { void this.flush() }, this.init.batchWindowMs)
  }

  private async flush (): Promise<void> {
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    if (this.queue.length === 0) return
    const updates = this.queue
    this.queue = []
    this.queuedBytes = 0
    await this.publish(encodeUpdates(updates))
  }

  private async publish (data: Uint8Array): Promise<void> {
    try {
      const { recipients } = await this.c.libp2p.services.pubsub.publish(this.topic, data)
      // Nobody heard it (no peers yet): catch-up on the next connection delivers it instead.
      if (recipients.length === 0) this.log.debug({ bytes: data.length }, 'pinset update published to no peer')
    } catch (err) {
      this.log.warn({ err }, 'publishing a pinset update failed; catch-up will deliver it')
    }
  }

  private onGossip (msg: Message): void {
    if (msg.topic !== this.topic || msg.type !== 'signed') return
    const from = msg.from.toString()
    if (this.trust?.isTrusted(from) !== true) return
    let decoded
    try { decoded = decodeGossip(msg.data) } catch (err) {
      this.log.warn({ err, peer: from }, 'malformed pinset gossip message')
      return
    }
    if (decoded.kind === 'nudge') { this.syncWith(from); return }
    try {
      this.c.doc.applyRemote(decoded.updates, from)
    } catch (err) {
      this.log.warn({ err, peer: from }, 'could not apply a pinset update; resyncing')
    }
    // A gap (updates this peer has not seen yet) is closed by a catch-up with the sender.
    if (this.c.doc.hasMissingDependencies()) this.syncWith(from)
  }

  /**
   * One catch-up exchange, symmetric for dialer and listener: each side sends its state vector,
   * answers the other's with what it lacks, and applies what it receives if the sender is trusted.
   */
  private async exchange (stream: Stream, remote: string, signal?: AbortSignal): Promise<void> {
    const options = { signal: signal ?? AbortSignal.any([this.stopController.signal, AbortSignal.timeout(this.init.syncTimeoutMs)]) }
    const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES + 16 })
    const assembler = new FrameAssembler(this.init.maxSyncBytes)
    const send = async (message: Uint8Array): Promise<void> => { for (const f of frames(message)) await lp.write(f, options) }
    try {
      const step1 = encoding.createEncoder()
      encoding.writeVarUint(step1, messageYjsSyncStep1)
      encoding.writeVarUint8Array(step1, this.c.doc.stateVector())
      await send(encoding.toUint8Array(step1))
      let sentStep2 = false
      let gotStep2 = false
      while (!sentStep2 || !gotStep2) {
        const frame = await lp.read(options)
        const message = assembler.push(frame.subarray())
        if (message === undefined) continue
        const d = decoding.createDecoder(message)
        const type = decoding.readVarUint(d)
        const payload = decoding.readVarUint8Array(d)
        if (type === messageYjsSyncStep1 && !sentStep2) {
          const step2 = encoding.createEncoder()
          encoding.writeVarUint(step2, messageYjsSyncStep2)
          encoding.writeVarUint8Array(step2, this.c.doc.diff(payload))
          await send(encoding.toUint8Array(step2))
          sentStep2 = true
        } else if (type === messageYjsSyncStep2) {
          gotStep2 = true
          if (this.trust?.isTrusted(remote) === true) this.c.doc.applyRemote([payload], remote)
          else this.trust?.ignored(remote, 'sync')
        }
      }
      await stream.close(options)
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }
}
