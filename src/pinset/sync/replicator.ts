import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { messageYjsSyncStep1, messageYjsSyncStep2 } from 'y-protocols/sync'
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Libp2p, PeerId, Stream, Connection } from '@libp2p/interface'
import type { GossipSub, Message } from '@libp2p/gossipsub'
import type { Logger } from '../../logger.js'
import type { Startable } from '../../lifecycle.js'
import type { ReplicatedDoc, EpochId } from '../types.js'
import { compareEpochs, sameEpoch, encodeEpochId, decodeEpochId, needsCompaction, isCompactionLeader } from '../epoch.js'
import { TrustPolicy, gossipVerdict } from './trust.js'
import { STREAM_READ_BUFFER_BYTES } from '../../net/index.js'
import { withTimeout, type ClearableSignal } from '../../utils/signals.js'
import {
  pinsetTopic, SYNC_PROTOCOL, MAX_MESSAGE_BYTES, MSG_HELLO, MSG_OFFER,
  encodeUpdates, encodeNudge, decodeGossip, updateOverhead, frames, FrameAssembler
} from './wire.js'

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
  /** How often the compaction leader checks for tombstones. @default 10000 */
  compactCheckIntervalMs?: number
  /** Fewest tombstones worth a new epoch. @default 1000 */
  compactMinTombstones?: number
  /** Least time between two epochs started by this peer. @default 60000 */
  compactMinIntervalMs?: number
}

export interface PinsetReplicatorComponents {
  libp2p: Libp2p<{ pubsub: GossipSub }>
  doc: ReplicatedDoc
  logger: Logger
}

/**
 * Replicates the pinset document between peers:
 * - local updates (once on disk) are batched and published on the cluster's gossip topic in
 *   messages of at most 1 MiB, tagged with their epoch; an update too large for one message is
 *   announced by a nudge that makes receivers fetch it by catch-up;
 * - catch-up runs over SYNC_PROTOCOL in frames of at most 1 MiB: both sides say their epoch;
 *   on the same epoch they run the y-protocols exchange (step 1: state vectors, step 2: what
 *   the other lacks); otherwise the newer side sends its epoch offer and the older one moves;
 *   it runs on every new outbound connection, after a nudge or a gap, and every `syncIntervalMs`;
 * - only trusted peers' changes are applied: for gossip the message signer (`from`), never the
 *   forwarding peer; for catch-up the connection's remote peer;
 * - the trusted peer with the lowest id among those connected rebuilds the document as a new
 *   epoch when tombstones outweigh live entries (see epoch.ts).
 */
/** Longest wait for the previous outbound exchange before starting the next one anyway. */
const OUTBOUND_WAIT_MS = 2000

export class PinsetReplicator implements Startable {
  private readonly c: PinsetReplicatorComponents
  private readonly init: Required<PinsetReplicatorInit>
  private readonly log: Logger
  private readonly topic: string
  private trust?: TrustPolicy
  private self = ''
  private queue: Uint8Array[] = []
  private queueEpoch?: EpochId
  private queuedBytes = 0
  private flushTimer?: NodeJS.Timeout
  private readonly timers: NodeJS.Timeout[] = []
  private readonly syncing = new Map<string, Promise<void>>()
  /**
   * Exchanges this peer starts run one after another: a peer that joins (or comes back) and
   * connects to several peers at once would otherwise be sent the same missing state by each.
   */
  private outbound: Promise<void> = Promise.resolve()
  private readonly cleanups: Array<() => void> = []
  private topologyId?: string
  private started = false
  private lastRebuild = 0
  private rebuilding = false
  private readonly stopController = new AbortController()
  private readonly counters = { gossipBytesIn: 0, gossipBytesOut: 0, syncBytesIn: 0, syncBytesOut: 0, syncs: 0, epochsAdopted: 0, epochsBuilt: 0 }

  constructor (components: PinsetReplicatorComponents, init: PinsetReplicatorInit) {
    this.c = components
    this.init = {
      batchWindowMs: 10,
      syncIntervalMs: 30_000,
      syncTimeoutMs: 120_000,
      maxSyncBytes: 1 << 30,
      compactCheckIntervalMs: 10_000,
      compactMinTombstones: 1000,
      compactMinIntervalMs: 60_000,
      ...init
    }
    this.log = components.logger
    this.topic = pinsetTopic(init.clusterName)
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    const { libp2p, doc } = this.c
    this.self = libp2p.peerId.toString()
    this.trust = new TrustPolicy(this.self, this.init.trustedPeers, this.log)
    const pubsub = libp2p.services.pubsub
    const trust = this.trust
    pubsub.topicValidators.set(this.topic, (_relay: PeerId, msg: Message) => gossipVerdict(trust, msg))
    const onMessage = (evt: CustomEvent<Message>): void => { this.onGossip(evt.detail) }
    pubsub.addEventListener('message', onMessage)
    this.cleanups.push(() => { pubsub.removeEventListener('message', onMessage) })
    pubsub.subscribe(this.topic)
    this.cleanups.push(doc.onLocalUpdate((u, epoch) => { this.enqueue(u, epoch) }))

    await libp2p.handle(SYNC_PROTOCOL, (stream: Stream, connection: Connection) => {
      this.exchange(stream, connection.remotePeer.toString()).catch((err: unknown) => {
        this.log.debug({ err, peer: connection.remotePeer.toString() }, 'inbound pinset sync failed')
      })
    }, { runOnLimitedConnection: false })
    this.topologyId = await libp2p.register(SYNC_PROTOCOL, {
      onConnect: (peerId: PeerId, conn: Connection) => {
        // Each connection is synced once, by its dialer.
        if (conn.direction === 'outbound') void this.syncWith(peerId.toString())
      }
    })
    this.timers.push(setInterval(() => { this.syncAll() }, this.init.syncIntervalMs))
    this.timers.push(setInterval(() => { void this.maybeRebuild() }, this.init.compactCheckIntervalMs))
    for (const t of this.timers) t.unref()
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    for (const t of this.timers.splice(0)) clearInterval(t)
    await this.flush()
    this.stopController.abort()
    clearTimeout(this.flushTimer)
    for (const fn of this.cleanups.splice(0)) fn()
    const { libp2p } = this.c
    libp2p.services.pubsub.topicValidators.delete(this.topic)
    try { libp2p.services.pubsub.unsubscribe(this.topic) } catch { /* libp2p may already be stopping */ }
    if (this.topologyId !== undefined) libp2p.unregister(this.topologyId)
    await libp2p.unhandle(SYNC_PROTOCOL).catch(() => {})
    await Promise.allSettled([...this.syncing.values()])
  }

  /** Bytes, exchanges and epochs so far, for metrics and tests. */
  stats (): Readonly<typeof this.counters> { return { ...this.counters } }

  /** Runs a catch-up exchange with `peerId` now (at most one per peer at a time). */
  async syncWith (peerId: string): Promise<void> {
    const running = this.syncing.get(peerId)
    if (running !== undefined) return await running
    const previous = this.outbound
    const run = (async () => {
      // Bounded, so one peer that does not answer (paused, say) holds up the others only briefly.
      await Promise.race([previous, new Promise<void>(resolve => { setTimeout(resolve, OUTBOUND_WAIT_MS).unref() })])
      const signal = this.syncSignal()
      try {
        const stream = await this.c.libp2p.dialProtocol(peerIdFromString(peerId), SYNC_PROTOCOL, { signal })
        await this.exchange(stream, peerId, signal)
      } finally {
        signal.clear()
      }
    })().catch((err: unknown) => {
      if (this.started) this.log.debug({ err, peer: peerId }, 'pinset sync failed')
    }).finally(() => { this.syncing.delete(peerId) })
    this.syncing.set(peerId, run)
    this.outbound = run
    await run
  }

  /** Syncs with every connected peer. */
  syncAll (): void {
    for (const id of this.connectedPeers()) void this.syncWith(id)
  }

  private connectedPeers (): string[] {
    return [...new Set(this.c.libp2p.getConnections().map(c => c.remotePeer.toString()))]
  }

  /** The leader's periodic check: rebuild as a new epoch when tombstones outweigh live pins. */
  private async maybeRebuild (): Promise<void> {
    if (this.rebuilding || this.trust?.isTrusted(this.self) !== true) return
    if (Date.now() - this.lastRebuild < this.init.compactMinIntervalMs) return
    const trustedConnected = this.connectedPeers().filter(p => this.trust?.isTrusted(p) === true)
    if (!isCompactionLeader(this.self, trustedConnected)) return
    if (!needsCompaction(this.c.doc.compactionFigures(), this.init.compactMinTombstones)) return
    this.rebuilding = true
    try {
      this.lastRebuild = Date.now()
      const epoch = await this.c.doc.rebuild(this.self)
      this.counters.epochsBuilt++
      await this.publish(encodeNudge(epoch))
    } catch (err) {
      this.log.error({ err }, 'rebuilding the pinset as a new epoch failed')
    } finally {
      this.rebuilding = false
    }
  }

  private enqueue (update: Uint8Array, epoch: EpochId): void {
    if (this.queueEpoch !== undefined && !sameEpoch(this.queueEpoch, epoch)) void this.flush()
    if (updateOverhead(update) + 64 > MAX_MESSAGE_BYTES) {
      // Too big for gossip: tell peers to come and get it.
      void this.publish(encodeNudge(epoch))
      return
    }
    if (this.queuedBytes + updateOverhead(update) + 64 > MAX_MESSAGE_BYTES) void this.flush()
    this.queue.push(update)
    this.queueEpoch = epoch
    this.queuedBytes += updateOverhead(update)
    this.flushTimer ??= setTimeout(() => { void this.flush() }, this.init.batchWindowMs)
  }

  private async flush (): Promise<void> {
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    const epoch = this.queueEpoch
    if (this.queue.length === 0 || epoch === undefined) return
    const updates = this.queue
    this.queue = []
    this.queuedBytes = 0
    await this.publish(encodeUpdates(epoch, updates))
  }

  private async publish (data: Uint8Array): Promise<void> {
    try {
      const { recipients } = await this.c.libp2p.services.pubsub.publish(this.topic, data)
      this.counters.gossipBytesOut += data.length
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
    this.counters.gossipBytesIn += msg.data.length
    let decoded
    try { decoded = decodeGossip(msg.data) } catch (err) {
      this.log.warn({ err, peer: from }, 'malformed pinset gossip message')
      return
    }
    // Another epoch, a nudge or a gap: a catch-up with the sender settles it.
    if (decoded.kind === 'nudge' || !sameEpoch(decoded.epoch, this.c.doc.epoch())) { void this.syncWith(from); return }
    try {
      this.c.doc.applyRemote(decoded.updates, from, decoded.epoch)
    } catch (err) {
      this.log.warn({ err, peer: from }, 'could not apply a pinset update; resyncing')
    }
    if (this.c.doc.hasMissingDependencies()) void this.syncWith(from)
  }

  /**
   * One catch-up exchange, symmetric for dialer and listener. Both send HELLO with their epoch.
   * Same epoch: each sends its state vector, answers the other's with what it lacks, and applies
   * what it receives if the sender is trusted. Different epochs: the newer side sends its offer
   * and the older side (trusting the sender) moves to that epoch.
   */
  private async exchange (stream: Stream, remote: string, signal?: AbortSignal): Promise<void> {
    const own = signal === undefined ? this.syncSignal() : undefined
    const options = { signal: signal ?? own }
    const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES + 16, maxBufferSize: STREAM_READ_BUFFER_BYTES })
    const assembler = new FrameAssembler(this.init.maxSyncBytes)
    this.counters.syncs++
    const send = async (type: number, write: (e: encoding.Encoder) => void): Promise<void> => {
      const e = encoding.createEncoder()
      encoding.writeVarUint(e, type)
      write(e)
      for (const f of frames(encoding.toUint8Array(e))) { await lp.write(f, options); this.counters.syncBytesOut += f.length }
    }
    const receive = async (): Promise<decoding.Decoder> => {
      for (;;) {
        const frame = await lp.read(options)
        this.counters.syncBytesIn += frame.byteLength
        const message = assembler.push(frame.subarray())
        if (message !== undefined) return decoding.createDecoder(message)
      }
    }
    try {
      const mine = this.c.doc.epoch()
      await send(MSG_HELLO, e => { encodeEpochId(e, mine) })
      const hello = await receive()
      if (decoding.readVarUint(hello) !== MSG_HELLO) throw new Error('expected HELLO')
      const theirs = decodeEpochId(hello)
      const order = compareEpochs(mine, theirs)
      if (order > 0) {
        const offer = this.c.doc.epochOffer()
        if (offer !== undefined) await send(MSG_OFFER, e => { encoding.writeVarUint8Array(e, offer.pkg); encoding.writeVarUint8Array(e, offer.state) })
      } else if (order < 0) {
        const d = await receive()
        if (decoding.readVarUint(d) !== MSG_OFFER) throw new Error('expected OFFER')
        const offer = { pkg: decoding.readVarUint8Array(d), state: decoding.readVarUint8Array(d) }
        if (this.trust?.isTrusted(remote) === true && this.trust.isTrusted(theirs.leader)) {
          if (await this.c.doc.adoptEpoch(offer, remote)) this.counters.epochsAdopted++
        } else {
          this.trust?.ignored(remote, 'sync')
        }
      } else {
        await this.stateExchange(mine, send, receive, remote)
      }
      await stream.close(options)
    } catch (err) {
      stream.abort(err as Error)
      throw err
    } finally {
      own?.clear()
    }
  }

  /** Stop or the sync timeout; utils/signals.ts says why not AbortSignal.any. */
  private syncSignal (): ClearableSignal {
    return withTimeout([this.stopController.signal], this.init.syncTimeoutMs)
  }

  /**
   * The y-protocols exchange of one epoch, the one both sides said in HELLO. This peer may move to
   * another epoch meanwhile (a rebuild, or an offer in a concurrent exchange); its state vector
   * and diff then come from another document than the one the other side holds, and applied there
   * they would add a second copy of every entry (carried into the next epoch as this peer's own
   * writes). So the exchange stops as soon as the document is no longer of `epoch`; the next sync
   * (the new epoch's nudge, a gap, the anti-entropy timer) settles it.
   */
  private async stateExchange (epoch: EpochId, send: (type: number, w: (e: encoding.Encoder) => void) => Promise<void>, receive: () => Promise<decoding.Decoder>, remote: string): Promise<void> {
    const doc = this.c.doc
    const stillOurs = (): void => {
      if (!sameEpoch(doc.epoch(), epoch)) throw new Error(`the pinset moved from epoch ${epoch.n} to ${doc.epoch().n} during the exchange`)
    }
    await send(messageYjsSyncStep1, e => { stillOurs(); encoding.writeVarUint8Array(e, doc.stateVector()) })
    let sentStep2 = false
    let gotStep2 = false
    while (!sentStep2 || !gotStep2) {
      const d = await receive()
      const type = decoding.readVarUint(d)
      const payload = decoding.readVarUint8Array(d)
      if (type === messageYjsSyncStep1 && !sentStep2) {
        await send(messageYjsSyncStep2, e => { stillOurs(); encoding.writeVarUint8Array(e, doc.diff(payload)) })
        sentStep2 = true
      } else if (type === messageYjsSyncStep2) {
        gotStep2 = true
        if (this.trust?.isTrusted(remote) !== true) this.trust?.ignored(remote, 'sync')
        else if (!doc.applyRemote([payload], remote, epoch)) stillOurs()
      }
    }
  }
}
