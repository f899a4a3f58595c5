import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import { anySignal } from 'any-signal'
import type { Libp2p, PeerId, Stream, Connection } from '@libp2p/interface'
import type { GossipSub, Message } from '@libp2p/gossipsub'
import type { Logger } from '../../logger.js'
import type { Startable } from '../../lifecycle.js'
import type { ShardedDoc, EpochId, ShardId } from '../types.js'
import { ShardCountMismatchError } from '../../errors.js'
import { compareEpochs, sameEpoch, decodeEpochId, isCompactionLeader } from '../epoch.js'
import * as decoding from 'lib0/decoding'
import { TrustPolicy, gossipVerdict } from './trust.js'
import { planSync, plannedSteps, shardMinTombstones } from './plan.js'
import { STREAM_READ_BUFFER_BYTES } from '../../net/index.js'
import { withTimeout, type ClearableSignal } from '../../utils/signals.js'
import {
  pinsetTopic, SYNC_PROTOCOL, MAX_MESSAGE_BYTES,
  encodeUpdates, encodeNudge, decodeGossip, updateOverhead, leaderOverhead, frames, FrameAssembler,
  encodeCatchUp, decodeCatchUp, type CatchUpMessage, type ShardUpdate, type ShardEpoch
} from './wire.js'

export interface PinsetReplicatorInit {
  clusterName: string
  /** Peer ids whose changes are applied, or `*`. */
  trustedPeers: readonly string[]
  /** Local updates are collected this long before one gossip message goes out. @default 10 */
  batchWindowMs?: number
  /** Every connected peer is re-synced this often (anti-entropy). @default 30000 */
  syncIntervalMs?: number
  /**
   * A catch-up exchange is abandoned after this long without a message either way. An inactivity
   * limit rather than a deadline: a late joiner's exchange of a big pinset runs as long as it moves
   * (and one cut short is resumed by the next: see `exchange`). @default 120000
   */
  syncTimeoutMs?: number
  /** Largest catch-up message accepted (one shard's whole state). @default 1 GiB */
  maxSyncBytes?: number
  /**
   * Most shards whose step 1 waits for its answer at a time in an exchange: deep enough to keep the
   * stream busy, shallow enough that the other side encodes one diff at a time. @default 8
   */
  syncWindow?: number
  /** How often the compaction leader checks for tombstones. @default 10000 */
  compactCheckIntervalMs?: number
  /**
   * Fewest tombstones worth new epochs, over the whole pinset: a shard needs its share of them
   * (shardMinTombstones) besides more tombstones than half its live pins. Taken per shard, 1000
   * would never be reached by 1024 shards of 100 pins.
   * @default 1000
   */
  compactMinTombstones?: number
  /** Least time between two compaction rounds started by this peer. @default 60000 */
  compactMinIntervalMs?: number
}

export interface PinsetReplicatorComponents {
  libp2p: Libp2p<{ pubsub: GossipSub }>
  doc: ShardedDoc
  logger: Logger
}

/** Longest wait for the previous outbound exchange before starting the next one anyway. */
const OUTBOUND_WAIT_MS = 2000

/**
 * Replicates the sharded pinset (`doc.shards` Yjs documents, each with its own epochs) between peers:
 * - local updates (once on disk) are batched and published on the cluster's gossip topic in
 *   messages of at most 1 MiB, each tagged with its shard and that shard's epoch; an update too
 *   large for one message is announced by a nudge that makes receivers fetch it by catch-up;
 * - catch-up runs over SYNC_PROTOCOL in frames of at most 1 MiB: both sides send their summary
 *   (every shard's epoch and digest) and settle only the shards that differ (see `exchange`);
 *   it runs on every new outbound connection, after a nudge or a gap, and every `syncIntervalMs`;
 * - only trusted peers' changes are applied: for gossip the message signer (`from`), never the
 *   forwarding peer; for catch-up the connection's remote peer;
 * - the trusted peer with the lowest id among those connected rebuilds, one at a time, the shards
 *   whose tombstones outweigh their live entries as new epochs (see epoch.ts), then nudges peers.
 */
export class PinsetReplicator implements Startable {
  private readonly c: PinsetReplicatorComponents
  private readonly init: Required<PinsetReplicatorInit>
  private readonly log: Logger
  private readonly topic: string
  private trust?: TrustPolicy
  private self = ''
  private queue: ShardUpdate[] = []
  private queueLeaders = new Set<string>()
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
  private readonly shardCountWarned = new Set<string>()
  /**
   * Shards whose step 1 waits for an answer in some exchange. Another exchange running meanwhile
   * (a joiner syncing with several peers) skips them rather than fetch the same diff twice; the
   * exchanges share the work out instead.
   */
  private readonly asking = new Set<ShardId>()
  private topologyId?: string
  private started = false
  private lastRebuild = 0
  private rebuilding = false
  private readonly stopController = new AbortController()
  private readonly counters = {
    gossipBytesIn: 0,
    gossipBytesOut: 0,
    syncBytesIn: 0,
    syncBytesOut: 0,
    /** Catch-up exchanges started (either side). */
    syncs: 0,
    /** Catch-up exchanges that ran to their end both ways. */
    syncRounds: 0,
    /** Shards for which a step 2 or an epoch offer crossed, either way, summed over exchanges. */
    shardsSynced: 0,
    epochsAdopted: 0,
    epochsBuilt: 0
  }

  constructor (components: PinsetReplicatorComponents, init: PinsetReplicatorInit) {
    this.c = components
    this.init = {
      batchWindowMs: 10,
      syncIntervalMs: 30_000,
      syncTimeoutMs: 120_000,
      maxSyncBytes: 1 << 30,
      syncWindow: 8,
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
    this.cleanups.push(doc.onLocalUpdate((shard, update, epoch) => { this.enqueue({ shard, epoch, update }) }))

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
    this.timers.push(setInterval(() => {
      this.maybeRebuild().catch((err: unknown) => { this.log.error({ err }, 'pinset compaction check failed') })
    }, this.init.compactCheckIntervalMs))
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

  /** Bytes, exchanges, shards and epochs so far, for metrics and tests. */
  stats (): Readonly<typeof this.counters> { return { ...this.counters } }

  /** Runs a catch-up exchange with `peerId` now (at most one per peer at a time). */
  async syncWith (peerId: string): Promise<void> {
    const running = this.syncing.get(peerId)
    if (running !== undefined) return await running
    const previous = this.outbound
    const run = (async () => {
      // Bounded, so one peer that does not answer (paused, say) holds up the others only briefly.
      await Promise.race([previous, new Promise<void>(resolve => { setTimeout(resolve, OUTBOUND_WAIT_MS).unref() })])
      const signal = withTimeout([this.stopController.signal], this.init.syncTimeoutMs)
      let stream: Stream
      try {
        stream = await this.c.libp2p.dialProtocol(peerIdFromString(peerId), SYNC_PROTOCOL, { signal })
      } finally {
        signal.clear()
      }
      await this.exchange(stream, peerId)
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

  /**
   * The leader's periodic check: rebuilds, one at a time and yielding between them, the shards
   * whose tombstones outweigh their live pins as new epochs, then nudges peers once for all.
   */
  private async maybeRebuild (): Promise<void> {
    if (this.rebuilding || this.trust?.isTrusted(this.self) !== true) return
    if (Date.now() - this.lastRebuild < this.init.compactMinIntervalMs) return
    const trustedConnected = this.connectedPeers().filter(p => this.trust?.isTrusted(p) === true)
    if (!isCompactionLeader(this.self, trustedConnected)) return
    const candidates = this.c.doc.compactionCandidates(shardMinTombstones(this.init.compactMinTombstones, this.c.doc.shards))
    if (candidates.length === 0) return
    this.rebuilding = true
    this.lastRebuild = Date.now()
    const rebuilt: ShardEpoch[] = []
    try {
      for (const shard of candidates) {
        if (!this.started) break
        try {
          rebuilt.push({ shard, epoch: await this.c.doc.rebuild(shard, this.self) })
          this.counters.epochsBuilt++
        } catch (err) {
          this.log.error({ err, shard }, 'rebuilding a pinset shard as a new epoch failed')
        }
        await yieldToLoop()
      }
      if (rebuilt.length > 0) await this.publish(encodeNudge(rebuilt))
    } finally {
      this.rebuilding = false
    }
  }

  private enqueue (entry: ShardUpdate): void {
    const leader = entry.epoch.leader
    const bytes = updateOverhead(entry.update) + (this.queueLeaders.has(leader) ? 0 : leaderOverhead(leader))
    if (bytes + 64 > MAX_MESSAGE_BYTES) {
      // Too big for gossip: tell peers to come and get it.
      void this.publish(encodeNudge([{ shard: entry.shard, epoch: entry.epoch }]))
      return
    }
    if (this.queuedBytes + bytes + 64 > MAX_MESSAGE_BYTES) void this.flush()
    this.queue.push(entry)
    if (!this.queueLeaders.has(leader)) {
      this.queueLeaders.add(leader)
      this.queuedBytes += leaderOverhead(leader)
    }
    this.queuedBytes += updateOverhead(entry.update)
    this.flushTimer ??= setTimeout(() => { void this.flush() }, this.init.batchWindowMs)
  }

  private async flush (): Promise<void> {
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    if (this.queue.length === 0) return
    const entries = this.queue
    this.queue = []
    this.queueLeaders = new Set()
    this.queuedBytes = 0
    await this.publish(encodeUpdates(entries))
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
    const doc = this.c.doc
    if (decoded.kind === 'nudge') {
      // A nudge only about epochs older than ours is stale (we moved past them): nothing to fetch.
      if (decoded.shards.some(s => s.shard < doc.shards && compareEpochs(s.epoch, doc.epoch(s.shard)) >= 0)) void this.syncWith(from)
      return
    }
    let resync = false
    // Consecutive entries of one shard and epoch are applied in one transaction.
    for (let i = 0; i < decoded.entries.length;) {
      const first = decoded.entries[i] as ShardUpdate
      const updates: Uint8Array[] = []
      for (; i < decoded.entries.length; i++) {
        const x = decoded.entries[i] as ShardUpdate
        if (x.shard !== first.shard || !sameEpoch(x.epoch, first.epoch)) break
        updates.push(x.update)
      }
      if (first.shard >= doc.shards) { resync = true; continue }
      try {
        // Another epoch than the shard's: a catch-up with the sender settles it.
        if (!doc.applyRemote(first.shard, updates, from, first.epoch)) resync = true
        else if (doc.hasMissingDependencies(first.shard)) resync = true
      } catch (err) {
        this.log.warn({ err, peer: from, shard: first.shard }, 'could not apply a pinset update; resyncing')
        resync = true
      }
    }
    if (resync) void this.syncWith(from)
  }

  /**
   * One catch-up exchange, symmetric for dialer and listener:
   * 1. both send HELLO with their shard count and summary (a count mismatch ends it, logged);
   * 2. both compute the shards that differ (planSync, the same on both sides). For a shard on
   *    different epochs the newer side sends its offer and the older side adopts it if it trusts
   *    the sender and the epoch's leader; on the same epoch each side sends a step 1 (its state
   *    vector; only to a trusted peer: an untrusted one's answer would be dropped), answers the
   *    other's step 1s with step 2s (doc.diff), and applies the step 2s it gets from a trusted peer;
   * 3. a side sends DONE once it has sent all its offers and step 1s, and END once it has also
   *    received the other's DONE and answered every step 1 before it. Each side reads until END.
   * At most `syncWindow` step 1s wait for their answer at a time, and a diff is encoded only when it
   * is sent, so memory holds about one shard's diff whatever the pinset's size. Every shard applied
   * is durable on its own (the doc persists it): an exchange cut short is resumed by the next, in
   * which only the shards still differing move. Peers with equal summaries exchange HELLO and
   * DONE/END only.
   */
  private async exchange (stream: Stream, remote: string): Promise<void> {
    const doc = this.c.doc
    const trust = this.trust
    const idle = new AbortController()
    const idleTimer = setTimeout(() => { idle.abort(new Error(`no pinset sync message for ${this.init.syncTimeoutMs} ms`)) }, this.init.syncTimeoutMs)
    idleTimer.unref()
    const signal = anySignal([this.stopController.signal, idle.signal])
    const options = { signal }
    const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES + 16, maxBufferSize: STREAM_READ_BUFFER_BYTES })
    const assembler = new FrameAssembler(this.init.maxSyncBytes)
    let shards = doc.shards
    this.counters.syncs++
    const send = async (m: CatchUpMessage): Promise<void> => {
      for (const f of frames(encodeCatchUp(m))) {
        await lp.write(f, options)
        this.counters.syncBytesOut += f.length
        idleTimer.refresh()
      }
    }
    const receive = async (): Promise<CatchUpMessage> => {
      for (;;) {
        const frame = await lp.read(options)
        this.counters.syncBytesIn += frame.byteLength
        idleTimer.refresh()
        const message = assembler.push(frame.subarray())
        if (message !== undefined) return decodeCatchUp(message, shards)
      }
    }
    const touched = new Set<ShardId>()
    const touch = (shard: ShardId): void => {
      if (touched.has(shard)) return
      touched.add(shard)
      this.counters.shardsSynced++
    }
    try {
      const summary = doc.summary()
      await send({ type: 'hello', shards, summary })
      const hello = await receive()
      if (hello.type !== 'hello') throw new Error(`expected HELLO, got ${hello.type}`)
      if (hello.shards !== shards) {
        const err = new ShardCountMismatchError(shards, hello.shards)
        if (!this.shardCountWarned.has(remote)) {
          this.shardCountWarned.add(remote)
          this.log.error({ peer: remote, shards, theirs: hello.shards }, `not syncing the pinset with this peer: ${err.message}`)
        }
        throw err
      }
      shards = hello.shards
      const remoteTrusted = trust?.isTrusted(remote) === true
      const plan = planSync(summary, hello.summary)
      const steps = plannedSteps(plan, remoteTrusted)
      if (!remoteTrusted && plan.exchange.length + plan.adopt.length > 0) trust?.ignored(remote, 'sync')

      // Shared between the reader and the writer below; the writer waits on `wake` for the reader.
      const replies: Array<{ shard: ShardId, epoch: EpochId, stateVector: Uint8Array }> = []
      const answered = new Set<ShardId>()
      const asked = new Set<ShardId>()
      let remoteDone = false
      let failed: unknown
      let wake: () => void = () => {}
      const wakeUp = (): void => { wake() }
      const event = async (): Promise<void> => { await new Promise<void>(resolve => { wake = resolve }) }

      const writer = async (): Promise<void> => {
        let next = 0
        let doneSent = false
        for (;;) {
          if (failed !== undefined) return
          const reply = replies.shift()
          if (reply !== undefined) {
            const epoch = doc.epoch(reply.shard)
            // Of another epoch (the shard moved since HELLO): a diff against it would be meaningless.
            const update = sameEpoch(epoch, reply.epoch) ? doc.diff(reply.shard, reply.stateVector) : new Uint8Array(0)
            if (update.length > 0) touch(reply.shard)
            await send({ type: 'step2', shard: reply.shard, epoch, update })
            continue
          }
          const step = steps[next]
          if (step !== undefined && (step.kind === 'offer' || asked.size < this.init.syncWindow)) {
            next++
            if (step.kind === 'offer') {
              const offer = doc.epochOffer(step.shard)
              if (offer !== undefined) {
                touch(step.shard)
                await send({ type: 'offer', shard: step.shard, pkg: offer.pkg, state: offer.state })
              }
            } else {
              if (this.asking.has(step.shard)) continue
              this.asking.add(step.shard)
              asked.add(step.shard)
              await send({ type: 'step1', shard: step.shard, epoch: doc.epoch(step.shard), stateVector: doc.stateVector(step.shard) })
            }
            continue
          }
          if (step === undefined && !doneSent) {
            doneSent = true
            await send({ type: 'done' })
            continue
          }
          if (doneSent && remoteDone && replies.length === 0) {
            await send({ type: 'end' })
            return
          }
          await event()
        }
      }

      const reader = async (): Promise<void> => {
        for (;;) {
          const m = await receive()
          switch (m.type) {
            case 'step1':
              if (remoteDone || answered.has(m.shard)) throw new Error(`unexpected step 1 of shard ${m.shard}`)
              answered.add(m.shard)
              replies.push(m)
              break
            case 'step2':
              if (!asked.delete(m.shard)) throw new Error(`unexpected step 2 of shard ${m.shard}`)
              this.asking.delete(m.shard)
              if (m.update.length > 0) {
                touch(m.shard)
                if (!doc.applyRemote(m.shard, [m.update], remote, m.epoch)) this.log.debug({ peer: remote, shard: m.shard }, 'a sync answer of another epoch was dropped')
              }
              break
            case 'offer': {
              if (remoteDone) throw new Error('unexpected offer after DONE')
              touch(m.shard)
              const epoch = decodeEpochId(decoding.createDecoder(m.pkg))
              if (remoteTrusted && trust?.isTrusted(epoch.leader) === true) {
                if (await doc.adoptEpoch(m.shard, { pkg: m.pkg, state: m.state }, remote)) this.counters.epochsAdopted++
              } else {
                trust?.ignored(remote, 'sync')
              }
              break
            }
            case 'done':
              remoteDone = true
              break
            case 'end':
              if (!remoteDone || asked.size > 0) throw new Error('unexpected END')
              return
            case 'hello':
              throw new Error('unexpected HELLO')
          }
          wakeUp()
        }
      }

      const fail = (err: unknown): void => {
        failed ??= err
        stream.abort(err instanceof Error ? err : new Error(String(err)))
        wakeUp()
      }
      try {
        await Promise.all([writer().catch(fail), reader().catch(fail)])
      } finally {
        for (const shard of asked) this.asking.delete(shard)
      }
      if (failed !== undefined) throw failed
      await stream.close(options)
      this.counters.syncRounds++
    } catch (err) {
      stream.abort(err as Error)
      throw err
    } finally {
      clearTimeout(idleTimer)
      signal.clear()
    }
  }
}
