import * as Y from 'yjs'
import { createHash } from 'node:crypto'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import type { Logger } from '../logger.js'
import type { PinRecord } from '../types.js'
import { NotStartedError } from '../errors.js'
import { YArrayKv, type KvChange } from './kv.js'
import { encodeRecord, decodeRecord, encodedCid, PeerCodes, PeerCodesView } from './record-codec.js'
import { ShardSketch } from './shard-sketch.js'
import { RecentRemovals } from './recent-removals.js'
import { readLegacyPinset } from './store.js'
import { ShardStore, type ShardMeta, type WalRef } from './shard-store.js'
import { shardOf, encodeCursor, decodeCursor } from './shard-key.js'
import { GENESIS, buildEpoch, migrate, compareEpochs, sameEpoch, encodePackage, decodePackage, needsCompaction, type EpochId, type EpochPackage } from './epoch.js'
import type { PinSet, PinSetChange, EpochOffer, PinPage, ShardId, ShardSummary, ShardedDoc } from './types.js'

export interface ShardedPinSetInit {
  /** Directory of the persisted pinset. */
  dir: string
  /** Whether this peer's writes are accepted by others (a trusted peer). */
  trusted: boolean
  /** Shards of a pinset created here (an existing one keeps its own). Every peer must use the same. @default 1024 */
  shards?: number
  /**
   * Decoded pins kept in memory, roughly: shards beyond it are dropped, least recently used first,
   * and decoded again from disk when next needed. About 700 bytes a pin. @default 100000
   */
  cachePins?: number
  /** The write-ahead log is folded into the shards' state files once it outgrows this. @default 32 MiB */
  walBytes?: number
  /** Pins per Yjs transaction; keeps each update well under the 1 MiB gossip limit. @default 1000 */
  maxPinsPerUpdate?: number
  /** How long removed pin versions are remembered (see `removeWins`). @default 10 minutes */
  removeWinsMs?: number
}

export interface ShardedPinSetComponents { logger: Logger }

const LOCAL = Symbol('local')
const LOAD = Symbol('load')
interface RemoteOrigin { remote: string }

/**
 * An update of a shard in the WAL's live segments: `[generation, epoch, update]`, the update in
 * memory until its append is on disk, then only where it is in the WAL (read back when the shard
 * is decoded or merged), so that the WAL's updates do not stay in memory too.
 */
type WalEntry = [number, number, Uint8Array | WalRef]

/** A decoded shard. `base`: the state vector of what its state file held when it was decoded. */
interface Live { doc: Y.Doc, kv: YArrayKv, codes: PeerCodes, detach: () => void, base?: Uint8Array }

/** What this peer knows of a shard, decoded or not. */
interface Shard {
  readonly id: ShardId
  epoch: EpochId
  /** The encoded package that made `epoch`, to move peers still on the previous one. */
  pkg?: Uint8Array
  /**
   * Epoch number of the shard's state file (0 when it has none): WAL frames of another epoch are
   * ignored on load. While it differs from `epoch.n` (a new epoch whose state could not be written
   * yet, a migration) the shard stays decoded and the next checkpoint writes it.
   */
  diskEpoch: number
  /**
   * State writes of this shard started so far. Only the latest one to finish moves `diskEpoch`: an
   * earlier one lacks the updates written by the later ones, which are nowhere else (not in the WAL).
   */
  stateWrites: number
  /** Live pins and tombstones; exact while decoded, as of the last decode otherwise. */
  pins: number
  tombstones: number
  /** undefined while decoded and changed since it was taken. */
  digest?: Uint8Array
  stateBytes: number
  /**
   * Updates of the decoded document went to the WAL since its state was last written from it: they
   * may delete, and a merge (see mergedState) would keep the deleted content a decode drops.
   */
  decodedWrites?: boolean
  live?: Live
  /**
   * What the shard tells while not decoded (see ShardSketch): taken when it is dropped from memory,
   * kept while it is decoded and unchanged, undefined when nothing is known (not decoded since
   * start) or once a change makes it stale.
   */
  sketch?: ShardSketch
}

/**
 * The pinset as `shards` Yjs documents (see kv.ts), a pin's shard given by its CID (shard-key.ts),
 * each in epochs of its own (see epoch.ts), persisted by ShardStore: one write-ahead log for every
 * shard (a put resolves once its frames are fsync'd) and one state file per shard, rewritten by
 * checkpoints. Only recently used shards stay decoded (about `cachePins` pins); the others are
 * decoded again from their state file and their WAL frames when needed. Walks (`scan`, `page`)
 * decode one shard at a time and leave the cache as it was.
 */
export class ShardedPinSet implements PinSet, ShardedDoc {
  private readonly init: Required<ShardedPinSetInit>
  private readonly log: Logger
  private store?: ShardStore
  private table: Shard[] = []
  /** Decoded shards, least recently used first. */
  private readonly lru = new Map<ShardId, true>()
  private readonly changeListeners = new Set<(c: PinSetChange) => void>()
  private readonly updateListeners = new Set<(shard: ShardId, u: Uint8Array, epoch: EpochId) => void>()
  /** Appends made by the write in progress (see writeChunks). */
  private collecting?: Array<Promise<void>>
  private checkpointing?: Promise<void>
  /**
   * Every update in the WAL's live segments, by shard, as `[generation, epoch, update]`: a shard
   * dropped from memory is decoded again from its state file plus these (those still being written
   * included), with no read of the WAL. Bounded by `walBytes`: a checkpoint forgets the generations
   * before its rotation.
   */
  private readonly walFrames = new Map<ShardId, WalEntry[]>()
  private generation = 0
  /** Shards decoded from disk since start (a measure of the work writes and reads cost). */
  private decodes = 0
  private readonly removed: RecentRemovals
  private emptyDigest: Uint8Array = new Uint8Array(16)

  constructor (components: ShardedPinSetComponents, init: ShardedPinSetInit) {
    this.log = components.logger
    this.init = { shards: 1024, cachePins: 100_000, walBytes: 32 << 20, maxPinsPerUpdate: 1000, removeWinsMs: 10 * 60_000, ...init }
    this.removed = new RecentRemovals(this.init.removeWinsMs)
  }

  get shards (): number { return this.table.length }

  async start (): Promise<void> {
    if (this.store !== undefined) return
    const started = Date.now()
    const opened = await ShardStore.open(this.init.dir, this.log, { shards: this.init.shards })
    this.store = opened.store
    this.emptyDigest = digestOf(GENESIS, new Y.Doc())
    this.table = Array.from({ length: opened.shards }, (_, id) => {
      const meta = opened.metas.get(id)
      return {
        id,
        epoch: meta?.epoch ?? GENESIS,
        pkg: meta?.package,
        diskEpoch: meta?.epoch.n ?? 0,
        stateWrites: 0,
        pins: meta?.pins ?? 0,
        tombstones: meta?.tombstones ?? 0,
        digest: meta?.digest ?? this.emptyDigest,
        stateBytes: 0
      }
    })
    for (const f of opened.wal) this.recordFrame(f.shard, f.epoch, f.update)
    // Shards with frames in the WAL (a crash): their figures are taken again, one shard at a time.
    for (const id of [...this.walFrames.keys()]) {
      const wasLive = this.table[id]?.live !== undefined
      this.decode(id)
      if (!wasLive) this.evict(id)
    }
    if (opened.legacy) await this.migrateLegacy()
    this.log.info({ pins: this.size, shards: this.table.length, ms: Date.now() - started, walBytes: opened.store.walBytes }, 'pinset loaded')
  }

  async stop (): Promise<void> {
    const store = this.store
    if (store === undefined) return
    // A clean stop leaves an empty WAL, so the next start decodes nothing (a checkpoint already
    // running leaves out what came after its rotation: a second one writes that).
    try {
      clearTimeout(this.checkpointTimer)
      for (let i = 0; i < 2 && (this.walFrames.size > 0 || this.table.some(s => s.diskEpoch !== s.epoch.n)); i++) await this.checkpoint()
    } catch (err) {
      this.log.warn({ err }, 'final pinset checkpoint failed; the WAL is replayed at next start')
    }
    this.store = undefined
    await store.close()
    for (const id of [...this.lru.keys()]) this.drop(id)
  }

  get size (): number {
    let n = 0
    for (const s of this.table) n += s.live?.kv.size ?? s.pins
    return n
  }

  get (cid: string): PinRecord | undefined {
    if (this.surelyAbsent(cid)) return undefined
    const live = this.decodeFor(cid)
    const v = live?.kv.get(cid)
    return v === undefined ? undefined : decodeRecord(v, live?.codes)
  }

  has (cid: string): boolean { return !this.surelyAbsent(cid) && (this.decodeFor(cid)?.kv.has(cid) ?? false) }

  getMany (cids: readonly string[]): Map<string, PinRecord> {
    const out = new Map<string, PinRecord>()
    if (this.store === undefined) return out
    for (const [id, keys] of this.group(cids, c => c)) {
      const sketch = this.sketchOf(id)
      if (sketch !== undefined && !keys.some(k => sketch.mayHold(k))) continue
      const { kv, codes } = this.decode(id)
      for (const k of keys) {
        const v = kv.get(k)
        if (v !== undefined) out.set(k, decodeRecord(v, codes))
      }
    }
    return out
  }

  /** Every pin, synchronously (tests and small pinsets; walks use `scan`). */
  * list (): IterableIterator<PinRecord> {
    // Like scan: an empty shard on disk is not decoded (the tracker lists every second).
    for (const s of this.table) if (s.live !== undefined || s.pins > 0) yield * this.shardRecords(s.id)
  }

  async * scan (options: { signal?: AbortSignal } = {}): AsyncIterable<readonly PinRecord[]> {
    for (const s of this.table) {
      options.signal?.throwIfAborted()
      if (s.live === undefined && s.pins === 0) continue
      const batch = this.shardRecords(s.id)
      if (batch.length > 0) yield batch
      await yieldToLoop()
    }
  }

  async page (options: { cursor?: string, limit: number, signal?: AbortSignal }): Promise<PinPage> {
    const from = options.cursor === undefined ? { shard: 0, afterCid: undefined } : decodeCursor(options.cursor, this.table.length)
    const pins: PinRecord[] = []
    for (let id = from.shard; id < this.table.length && pins.length < options.limit; id++) {
      options.signal?.throwIfAborted()
      const after = id === from.shard ? from.afterCid : undefined
      const records = this.shardRecords(id).filter(r => after === undefined || r.cid > after).sort((a, b) => a.cid < b.cid ? -1 : 1)
      const take = records.slice(0, options.limit - pins.length)
      pins.push(...take)
      if (pins.length === options.limit) {
        const more = take.length < records.length || this.table.slice(id + 1).some(s => (s.live?.kv.size ?? s.pins) > 0)
        return { pins, next: more ? encodeCursor(id, (pins.at(-1) as PinRecord).cid) : undefined }
      }
      await yieldToLoop()
    }
    return { pins }
  }

  onChange (fn: (change: PinSetChange) => void): () => void {
    this.changeListeners.add(fn)
    return () => { this.changeListeners.delete(fn) }
  }

  async put (records: readonly PinRecord[], options: { signal?: AbortSignal } = {}): Promise<void> {
    const byShard = this.group(records, r => r.cid)
    const waits: Array<Promise<void>> = []
    for (const [id, rs] of byShard) {
      options.signal?.throwIfAborted()
      if (this.putNew(id, rs, waits)) continue
      const { doc, codes } = this.decode(id)
      let values: string[] = []
      // A peer code new to the shard is added in this transaction, before any record using it.
      doc.transact(() => { values = rs.map(r => encodeRecord(r, codes)) }, LOCAL)
      waits.push(...this.writeChunks(id, values, []))
    }
    this.trim()
    await Promise.all(waits)
  }

  async remove (cids: readonly string[], options: { signal?: AbortSignal } = {}): Promise<void> {
    const waits: Array<Promise<void>> = []
    for (const [id, keys] of this.group(cids, c => c)) {
      options.signal?.throwIfAborted()
      const kv = this.decode(id).kv
      waits.push(...this.writeChunks(id, [], keys.filter(k => kv.has(k))))
    }
    this.trim()
    await Promise.all(waits)
  }

  // ShardedDoc: what the replicator uses.

  summary (): ShardSummary[] {
    return this.table.map(s => {
      if (s.digest === undefined && s.live !== undefined) s.digest = digestOf(s.epoch, s.live.doc)
      // Taken when asked for: a bulk write changes every shard's sketch every batch.
      if (s.digest === undefined && s.sketch !== undefined) s.digest = digestOfSnapshot(s.epoch, s.sketch.snapshot())
      return { epoch: s.epoch, digest: s.digest ?? this.emptyDigest }
    })
  }

  epoch (shard: ShardId): EpochId { return this.shard(shard).epoch }
  stateVector (shard: ShardId): Uint8Array {
    // A late joiner asks for every shard it never had: no document to decode for those.
    if (this.neverWritten(shard)) return EMPTY_STATE_VECTOR
    const sketch = this.sketchOf(shard)
    if (sketch !== undefined) return sketch.stateVector()
    return this.withShard(shard, l => Y.encodeStateVector(l.doc))
  }

  diff (shard: ShardId, stateVector: Uint8Array): Uint8Array {
    if (this.neverWritten(shard)) return EMPTY_UPDATE
    return this.withShard(shard, l => Y.encodeStateAsUpdate(l.doc, stateVector))
  }

  /** A shard with nothing on disk or in memory: an empty document of the genesis epoch. */
  private neverWritten (shard: ShardId): boolean {
    const s = this.shard(shard)
    return s.live === undefined && s.epoch.n === 0 && s.diskEpoch === 0 && s.stateBytes === 0 && s.pins === 0 && s.tombstones === 0 && !this.walFrames.has(shard) && this.table[shard]?.digest === this.emptyDigest
  }

  applyRemote (shard: ShardId, updates: readonly Uint8Array[], fromPeer: string, epoch: EpochId): boolean {
    const s = this.shard(shard)
    if (!sameEpoch(epoch, s.epoch)) return false
    const rest = this.applyNew(s, updates)
    if (rest.length === 0) return true
    const { doc } = this.decode(shard)
    const origin: RemoteOrigin = { remote: fromPeer }
    doc.transact(() => { for (const u of rest) Y.applyUpdate(doc, u, origin) }, origin)
    this.trim()
    return true
  }

  hasMissingDependencies (shard: ShardId): boolean {
    const store = this.shard(shard).live?.doc.store
    // A shard dropped from memory had none: it is only dropped with nothing pending.
    return store !== undefined && (store.pendingStructs !== null || store.pendingDs !== null)
  }

  onLocalUpdate (fn: (shard: ShardId, update: Uint8Array, epoch: EpochId) => void): () => void {
    this.updateListeners.add(fn)
    return () => { this.updateListeners.delete(fn) }
  }

  epochOffer (shard: ShardId): EpochOffer | undefined {
    const s = this.shard(shard)
    return s.pkg === undefined ? undefined : { pkg: s.pkg, state: this.withShard(shard, l => Y.encodeStateAsUpdate(l.doc)) }
  }

  compactionCandidates (minTombstones: number): ShardId[] {
    const out: ShardId[] = []
    for (const s of this.table) {
      if (s.live !== undefined) { s.tombstones = s.live.kv.tombstoneCount(); s.pins = s.live.kv.size }
      if (needsCompaction({ pins: s.pins, tombstones: s.tombstones }, minTombstones)) out.push(s.id)
    }
    return out
  }

  async rebuild (shard: ShardId, leader: string): Promise<EpochId> {
    const s = this.shard(shard)
    const cur = this.decode(shard)
    const id = { n: s.epoch.n + 1, leader }
    const next = this.newLive()
    const pkg = buildEpoch(cur.kv, s.epoch, id, next.kv, this.init.maxPinsPerUpdate, LOAD)
    await this.switchTo(s, next, pkg)
    this.log.info({ shard, epoch: id.n, pins: next.kv.size }, 'pinset shard rebuilt as a new epoch')
    return id
  }

  async adoptEpoch (shard: ShardId, offer: EpochOffer, fromPeer: string): Promise<boolean> {
    const s = this.shard(shard)
    const pkg = decodePackage(offer.pkg)
    if (compareEpochs(pkg.id, s.epoch) <= 0) return false
    const cur = this.decode(shard)
    const next = this.newLive()
    Y.applyUpdate(next.doc, offer.state, LOAD)
    const m = migrate(cur.kv, s.epoch, pkg, next.kv)
    await this.switchTo(s, next, pkg, this.init.trusted ? m : undefined)
    this.log.info({ shard, epoch: pkg.id.n, leader: pkg.id.leader, from: fromPeer, carried: m.sets.length, deleted: m.deletes.length, approximate: m.approximate }, 'moved a pinset shard to a new epoch')
    return true
  }

  stats (): { pins: number, structs: number, stateBytes: number, logBytes: number, epoch: number, removalsRemembered: number, shards: number, shardsDecoded: number, decodes: number, walBytesInMemory: number } {
    let structs = 0
    let stateBytes = 0
    let epochs = 0
    for (const s of this.table) {
      if (s.live !== undefined) structs += s.live.kv.structCount()
      stateBytes += s.stateBytes
      epochs += s.epoch.n
    }
    // `epoch`: the epochs of all shards added up, equal on peers that agree on every shard's epoch.
    return { pins: this.size, structs, stateBytes, logBytes: this.store?.walBytes ?? 0, epoch: epochs, removalsRemembered: this.removed.size, shards: this.table.length, shardsDecoded: this.lru.size, decodes: this.decodes, walBytesInMemory: this.walBytesInMemory() }
  }

  /**
   * Folds the WAL into the shards' state files: a new WAL segment takes every append from now on,
   * then each shard with frames in the older segments (or an append that failed) has its state
   * written, a few at a time, and the older segments are deleted. Single-flight.
   */
  async checkpoint (): Promise<void> {
    this.checkpointing ??= (async () => {
      const store = this.requireStore()
      const started = Date.now()
      const walBytes = store.walBytes
      try {
        // Updates from here on go to the new segment, and are of the new generation.
        const cut = ++this.generation
        const rotated = store.rotate()
        const ids = new Set([...this.walFrames.keys(), ...this.table.filter(s => s.diskEpoch !== s.epoch.n).map(s => s.id)])
        const seq = await rotated
        const batch: Array<{ shard: number, meta: ShardMeta, state: Uint8Array }> = []
        const flush = async (): Promise<void> => {
          await this.writeStates(batch.splice(0))
        }
        // Merging or decoding a large shard takes milliseconds: the event loop gets a turn every 20 ms.
        let turn = performance.now()
        for (const id of ids) {
          const s = this.shard(id)
          const merged = this.mergedState(s)
          if (merged !== undefined) {
            batch.push(merged)
          } else {
            const wasLive = s.live !== undefined
            const live = this.decode(id)
            batch.push(this.stateOf(s, live))
            if (!wasLive) this.evict(id)
          }
          // A few dozen states at a time: at 10M pins a shard's state is a few hundred KB.
          if (batch.length >= 64) await flush()
          if (performance.now() - turn > 20) { await yieldToLoop(); turn = performance.now() }
        }
        await flush()
        // Forgotten before their segments go: a decode meanwhile must not look for them there.
        for (const [id, frames] of this.walFrames) {
          const rest = frames.filter(f => f[0] >= cut)
          if (rest.length === 0) this.walFrames.delete(id)
          else this.walFrames.set(id, rest)
        }
        await store.dropSegmentsBefore(seq)
        this.log.debug({ shards: ids.size, walBytes, ms: Date.now() - started }, 'pinset checkpoint written')
        // Writes that finished while this ran found it running and started none: one more, soon, if they filled the WAL again.
        if (store.walBytes > this.walLimit()) this.scheduleCheckpoint()
      } finally {
        this.checkpointing = undefined
      }
    })()
    await this.checkpointing
  }

  // Internals.

  private checkpointTimer?: NodeJS.Timeout

  private scheduleCheckpoint (): void {
    this.checkpointTimer ??= setTimeout(() => {
      this.checkpointTimer = undefined
      if (this.store === undefined) return
      this.checkpoint().catch((err: unknown) => { this.log.error({ err }, 'pinset checkpoint failed; new epochs are written with the next write to their shards') })
    }, 200)
    this.checkpointTimer.unref()
  }

  private requireStore (): ShardStore {
    if (this.store === undefined) throw new NotStartedError('pinset is not started')
    return this.store
  }

  private shard (id: ShardId): Shard {
    this.requireStore()
    const s = this.table[id]
    if (s === undefined || !Number.isInteger(id)) throw new RangeError(`no pinset shard ${id} (of ${this.table.length})`)
    return s
  }

  /**
   * The sketch of a shard that is not decoded, if one is known and its WAL frames are of its state
   * file's epoch (what the blind writes below append); a shard never written gets an empty one.
   */
  private sketchOf (id: ShardId): ShardSketch | undefined {
    const s = this.shard(id)
    if (s.live !== undefined || s.diskEpoch !== s.epoch.n) return undefined
    if (s.sketch === undefined && this.neverWritten(id)) s.sketch = ShardSketch.empty()
    return s.sketch
  }

  private surelyAbsent (cid: string): boolean {
    if (this.store === undefined) return false
    const sketch = this.sketchOf(shardOf(cid, this.table.length))
    return sketch !== undefined && !sketch.mayHold(cid)
  }

  /**
   * Puts records of pins a shard that is not decoded surely does not hold without decoding it: the
   * sketch makes the updates, appended to the WAL like any write. false (nothing done): the shard
   * must be decoded for them.
   */
  private putNew (id: ShardId, records: readonly PinRecord[], waits: Array<Promise<void>>): boolean {
    const sketch = this.sketchOf(id)
    if (sketch === undefined || sketch.full) return false
    const last = new Map<string, PinRecord>()
    for (const r of records) last.set(r.cid, r)
    for (const cid of last.keys()) if (sketch.mayHold(cid)) return false
    const s = this.shard(id)
    const codes = new PeerCodesView(sketch.codes)
    const values = [...last.values()].map(r => encodeRecord(r, codes))
    const n = this.init.maxPinsPerUpdate
    this.collecting = waits
    try {
      for (let i = 0; i < values.length; i += n) this.appendFrame(s, sketch.insert(values.slice(i, i + n)), true)
    } finally {
      this.collecting = undefined
    }
    this.tookNew(s, sketch, values, true)
    return true
  }

  /**
   * Takes, without decoding, the leading updates a shard that is not decoded can take that way
   * (see ShardSketch.accept); returns the others, which need the decoded shard.
   */
  private applyNew (s: Shard, updates: readonly Uint8Array[]): readonly Uint8Array[] {
    const sketch = this.sketchOf(s.id)
    if (sketch === undefined) return updates
    for (const [i, u] of updates.entries()) {
      const values = sketch.accept(u)
      if (values === undefined) return updates.slice(i)
      if (values === 'known') continue
      this.appendFrame(s, u, false)
      this.tookNew(s, sketch, values, false)
    }
    return []
  }

  /** A shard's figures and the change events after `values` (new pins) went in through its sketch. */
  private tookNew (s: Shard, sketch: ShardSketch, values: readonly string[], local: boolean): void {
    s.pins += values.length
    s.digest = undefined
    if (values.length === 0) return
    const changes: KvChange[] = values.map(v => ({ key: encodedCid(v), after: v }))
    this.emitChange(changes, local, new PeerCodesView(sketch.codes))
    this.removeWins(changes, local)
  }

  private decodeFor (cid: string): Live | undefined {
    if (this.store === undefined) return undefined
    return this.decode(shardOf(cid, this.table.length))
  }

  /**
   * Runs `fn` on the decoded shard. One that was not decoded before stays decoded only while the
   * cache has room: walks and sync never push out the shards in use, and a pinset that fits in the
   * cache is not decoded again by every walk (the tracker walks it every few seconds).
   */
  private withShard<T> (id: ShardId, fn: (l: Live) => T): T {
    const s = this.shard(id)
    const wasLive = s.live !== undefined
    try { return fn(this.decode(id)) } finally { if (!wasLive && this.decodedPins() > this.init.cachePins) this.evict(id) }
  }

  /**
   * The WAL size that starts a checkpoint: `walBytes`, or about a quarter of the pinset's state if
   * more. A checkpoint rewrites the state of every shard the WAL touched, and new pins touch every
   * shard: with a fixed size, checkpoints would rewrite the whole pinset every `walBytes` of new
   * updates (at 5M pins, 640 MB rewritten every 32 MiB written). With a quarter, all the checkpoints
   * of a pinset's growth write about five times its final size. The WAL is on disk (only its
   * updates still being written stay in memory).
   */
  private walLimit (): number {
    return Math.max(this.init.walBytes, this.size * STATE_BYTES_PER_PIN / 4)
  }

  /** WAL updates held in memory: those being written, those whose write failed, a WAL replayed at start. */
  private walBytesInMemory (): number {
    let n = 0
    for (const frames of this.walFrames.values()) for (const f of frames) if (f[2] instanceof Uint8Array) n += f[2].length
    return n
  }

  private decodedPins (): number {
    let pins = 0
    for (const id of this.lru.keys()) pins += this.table[id]?.live?.kv.size ?? 0
    return pins
  }

  private shardRecords (id: ShardId): PinRecord[] {
    return this.withShard(id, ({ kv, codes }) => { const out: PinRecord[] = []; for (const v of kv.values()) out.push(decodeRecord(v, codes)); return out })
  }

  private group<T> (items: readonly T[], key: (t: T) => string): Map<ShardId, T[]> {
    const n = this.table.length
    const out = new Map<ShardId, T[]>()
    for (const it of items) {
      const id = shardOf(key(it), n)
      const list = out.get(id)
      if (list === undefined) out.set(id, [it])
      else list.push(it)
    }
    return out
  }

  /**
   * The decoded shard, decoding it from its state file and WAL frames (those on disk and those still
   * being written) if needed; marks it recently used, and drops the least recently used shards beyond
   * `cachePins`. A caller must not hold one shard's Live across the decoding of another.
   */
  private decode (id: ShardId): Live {
    const s = this.shard(id)
    if (s.live !== undefined) {
      this.lru.delete(id)
      this.lru.set(id, true)
      return s.live
    }
    const store = this.requireStore()
    this.decodes++
    // An I/O error reading the state (EMFILE, EIO) is thrown to the caller: starting the shard empty
    // would have the next checkpoint write that over a good state file.
    const saved = store.readState(id)
    if (saved === undefined && s.diskEpoch !== 0) {
      // The state file went missing or was damaged (set aside by the store): the peers hold the shard.
      s.sketch = undefined
      s.epoch = GENESIS
      s.pkg = undefined
      s.diskEpoch = 0
    }
    if (saved !== undefined) s.stateBytes = saved.state.length
    // Read before the document is built, for the same reason as the state.
    const updates = this.walUpdates(id, s.diskEpoch)
    let live = this.newLive()
    try {
      const doc = live.doc
      if (saved !== undefined) Y.applyUpdate(doc, saved.state, LOAD)
      live.base = Y.encodeStateVector(doc)
      if (updates.length > 0) doc.transact(() => { for (const u of updates) Y.applyUpdate(doc, u, LOAD) }, LOAD)
      // Local writes go on with the client the sketch wrote with: one client per shard and run, not one per decode.
      if (s.sketch !== undefined) doc.clientID = s.sketch.writerClient
    } catch (err) {
      s.sketch = undefined
      live.doc.destroy()
      live = this.newLive()
      this.log.error({ err, shard: id }, 'pinset shard does not decode; starting it empty, to be re-synced from peers')
    }
    s.live = live
    live.detach = this.attach(s, live, true)
    this.lru.set(id, true)
    s.pins = live.kv.size
    s.digest = undefined
    this.trim()
    return live
  }

  /**
   * Drops a decoded shard from memory, keeping its figures; not while its epoch's state is not on
   * disk, nor while updates wait for others it has not seen.
   */
  private evict (id: ShardId): boolean {
    const s = this.shard(id)
    const live = s.live
    if (live === undefined) return true
    if (s.diskEpoch !== s.epoch.n) return false
    const store = live.doc.store
    if (store.pendingStructs !== null || store.pendingDs !== null) return false
    s.pins = live.kv.size
    s.tombstones = live.kv.tombstoneCount()
    s.digest ??= digestOf(s.epoch, live.doc)
    s.sketch ??= ShardSketch.of(live.doc, live.kv.keys(), live.kv.size, live.codes.entries())
    // WAL updates still in memory (appends that failed, a WAL replayed at start) become one update
    // (what it holds beyond its state file), so that decoding it again applies two updates rather
    // than one per write since the last checkpoint.
    const frames = this.walFrames.get(id)
    if (frames !== undefined && frames.length > 1 && live.base !== undefined && frames.every(f => f[2] instanceof Uint8Array)) {
      const generation = Math.max(...frames.map(f => f[0]))
      this.walFrames.set(id, [[generation, s.diskEpoch, Y.encodeStateAsUpdate(live.doc, live.base)]])
    }
    this.drop(id)
    return true
  }

  private drop (id: ShardId): void {
    const s = this.table[id]
    if (s?.live === undefined) return
    s.live.detach()
    s.live.doc.destroy()
    s.live = undefined
    this.lru.delete(id)
  }

  private trim (): void {
    if (this.store === undefined) return
    let pins = this.decodedPins()
    const ids = [...this.lru.keys()]
    // Never the most recently used: the shard just decoded, which the caller is about to use (shards
    // that cannot be dropped, ahead of it, would otherwise leave it the one dropped).
    for (const id of ids.slice(0, -1)) {
      if (pins <= this.init.cachePins) break
      const n = this.table[id]?.live?.kv.size ?? 0
      if (this.evict(id)) pins -= n
    }
  }

  private newLive (): Live {
    const doc = new Y.Doc()
    return { doc, kv: new YArrayKv(doc, { resolveConflicts: this.init.trusted, localOrigin: LOCAL }), codes: new PeerCodes(doc), detach: () => {} }
  }

  private stateOf (s: Shard, live: Live): { shard: number, meta: ShardMeta, state: Uint8Array } {
    s.decodedWrites = false
    s.pins = live.kv.size
    s.tombstones = live.kv.tombstoneCount()
    s.digest ??= digestOf(s.epoch, live.doc)
    const state = Y.encodeStateAsUpdate(live.doc)
    s.stateBytes = state.length
    return { shard: s.id, meta: { epoch: s.epoch, package: s.pkg, pins: s.pins, tombstones: s.tombstones, digest: s.digest }, state }
  }

  /** Hooks persistence, broadcasting and change events to a decoded shard. */
  private attach (s: Shard, live: Live, events: boolean): () => void {
    const onUpdate = (update: Uint8Array, origin: unknown): void => { this.persist(s, live, update, origin) }
    live.doc.on('update', onUpdate)
    const offChange = events
      ? live.kv.onChange((changes, origin) => {
        if (origin === LOAD) return
        this.emitChange(changes, origin === LOCAL, live.codes)
        this.removeWins(changes, origin === LOCAL)
      })
      : () => {}
    return () => { live.doc.off('update', onUpdate); offChange() }
  }

  private persist (s: Shard, live: Live, update: Uint8Array, origin: unknown): void {
    const store = this.store
    if (store === undefined || origin === LOAD) return
    s.digest = undefined
    s.sketch = undefined
    s.decodedWrites = true
    const epoch = s.epoch
    // WAL frames of another epoch than the shard's state file are ignored on load: a shard whose
    // new epoch's state could not be written yet is written whole.
    if (s.diskEpoch === epoch.n) { this.appendFrame(s, update, origin === LOCAL); return }
    const written = this.writeStates([this.stateOf(s, live)])
    this.afterWrite(s, written, update, origin === LOCAL)
  }

  /** Appends an update of the shard's current epoch to the WAL (and to `walFrames`). */
  private appendFrame (s: Shard, update: Uint8Array, local: boolean): void {
    const epoch = s.epoch
    const entry = this.recordFrame(s.id, epoch.n, update)
    const written = this.requireStore().append(s.id, update, epoch.n).then((ref) => { entry[2] = ref })
    this.afterWrite(s, written, update, local)
  }

  /** The shard's WAL updates of epoch number `epoch`, those on disk read back (an I/O error is thrown). */
  private walUpdates (id: ShardId, epoch: number): Uint8Array[] {
    const frames = (this.walFrames.get(id) ?? []).filter(f => f[1] === epoch)
    const refs = frames.filter(f => !(f[2] instanceof Uint8Array)).map(f => f[2] as WalRef)
    const read = refs.length === 0 ? [] : this.requireStore().readUpdates(refs)
    let next = 0
    return frames.map(f => f[2] instanceof Uint8Array ? f[2] : read[next++] as Uint8Array)
  }

  /** What follows a write: a local one is awaited by its put and broadcast once durable; a checkpoint if the WAL is long. */
  private afterWrite (s: Shard, written: Promise<void>, update: Uint8Array, local: boolean): void {
    const store = this.requireStore()
    const epoch = s.epoch
    if (!local) written.catch((err: unknown) => { this.log.error({ err, shard: s.id }, 'failed to persist a replicated pinset update') })
    if (local) {
      this.collecting?.push(written)
      // Broadcast only what is on disk: a peer never has to forget an update it was sent.
      written.then(() => { for (const fn of this.updateListeners) fn(s.id, update, epoch) }, () => {})
    }
    written.then(() => {
      if (store.walBytes > this.walLimit() && this.checkpointing === undefined) {
        this.checkpoint().catch((err: unknown) => { this.log.error({ err }, 'pinset checkpoint failed') })
      }
    }, () => {})
  }

  /**
   * The state of a shard that is not decoded but has a sketch (written blind since it was dropped),
   * made without decoding it: its state file and WAL frames merged into one update (what decoding
   * and encoding would give, short of dropping the content of deleted elements, which the next
   * checkpoint of the decoded shard does). undefined: the shard must be decoded for it.
   */
  private mergedState (s: Shard): { shard: number, meta: ShardMeta, state: Uint8Array } | undefined {
    const sketch = s.sketch
    if (s.live !== undefined || sketch === undefined || s.diskEpoch !== s.epoch.n || s.decodedWrites === true) return undefined
    const saved = this.requireStore().readState(s.id)
    // A state file gone missing: the decode path starts the shard again (see decode).
    if (saved === undefined && s.diskEpoch !== 0) return undefined
    const parts = [...(saved === undefined ? [] : [saved.state]), ...this.walUpdates(s.id, s.diskEpoch)]
    const state = parts.length === 0 ? EMPTY_UPDATE : parts.length === 1 ? parts[0] as Uint8Array : Y.mergeUpdates(parts)
    s.stateBytes = state.length
    s.digest ??= digestOfSnapshot(s.epoch, sketch.snapshot())
    return { shard: s.id, meta: { epoch: s.epoch, package: s.pkg, pins: s.pins, tombstones: s.tombstones, digest: s.digest }, state }
  }

  /** Writes these shards' states; see `Shard.stateWrites`. */
  private async writeStates (entries: Array<{ shard: number, meta: ShardMeta, state: Uint8Array }>): Promise<void> {
    const shards = entries.map(e => this.shard(e.shard))
    const started = shards.map(s => ++s.stateWrites)
    await this.requireStore().writeStates(entries)
    shards.forEach((s, i) => { if (s.stateWrites === started[i]) s.diskEpoch = (entries[i] as typeof entries[number]).meta.epoch.n })
  }

  private recordFrame (id: ShardId, epoch: number, update: Uint8Array): WalEntry {
    const entry: WalEntry = [this.generation, epoch, update]
    const frames = this.walFrames.get(id)
    if (frames === undefined) this.walFrames.set(id, [entry])
    else frames.push(entry)
    return entry
  }

  /** Writes in transactions of at most maxPinsPerUpdate pins; returns the appends to wait for. */
  private writeChunks (id: ShardId, values: readonly string[], deletes: readonly string[]): Array<Promise<void>> {
    const n = this.init.maxPinsPerUpdate
    const kv = this.decode(id).kv
    const waits: Array<Promise<void>> = []
    this.collecting = waits
    try {
      for (let i = 0; i < Math.max(values.length, deletes.length); i += n) kv.write(values.slice(i, i + n), deletes.slice(i, i + n), LOCAL)
    } finally {
      this.collecting = undefined
    }
    return waits
  }

  /**
   * Makes `next` the live document of shard `s`: writes it as the shard's new state (its epoch
   * named in it; WAL frames of the old epoch are ignored from then on), applies the migration as
   * this peer's own writes, and reports the net change of the view.
   */
  private async switchTo (s: Shard, next: Live, pkg: EpochPackage, migration?: { sets: string[], deletes: Array<{ client: number, clock: number }> }): Promise<void> {
    const old = this.decode(s.id)
    const before = new Map<string, string>()
    for (const slot of old.kv.slots()) before.set(encodedCid(slot.value), slot.value)
    old.detach()
    s.epoch = pkg.id
    s.pkg = encodePackage(pkg)
    s.live = next
    s.digest = undefined
    s.sketch = undefined
    const persistOnly = this.attach(s, next, false)
    // The new epoch's state is written by a checkpoint shortly (many shards rebuilt or adopted at
    // once share its fsyncs); until then the shard stays decoded, and a write to it writes its whole
    // state before it is acknowledged (see persist). A crash before that only brings back the old
    // epoch, whose acknowledged pins are on disk, and the peers offer the new one again.
    this.scheduleCheckpoint()
    if (migration !== undefined) {
      // Peer codes are per document: carried values are rewritten with the new document's codes.
      let sets: string[] = []
      next.doc.transact(() => { sets = migration.sets.map(v => encodeRecord(decodeRecord(v, old.codes), next.codes)) }, LOCAL)
      for (let i = 0; i < sets.length; i += this.init.maxPinsPerUpdate) next.kv.write(sets.slice(i, i + this.init.maxPinsPerUpdate), [], LOCAL)
      next.kv.deleteIds(migration.deletes, LOCAL)
    }
    persistOnly()
    next.detach = this.attach(s, next, true)
    old.doc.destroy()
    const changes: KvChange[] = []
    for (const [key, was] of before) {
      const now = next.kv.get(key)
      if (now !== was) changes.push({ key, before: was, after: now })
    }
    for (const value of next.kv.values()) {
      const key = encodedCid(value)
      if (!before.has(key)) changes.push({ key, after: value })
    }
    if (changes.length > 0) this.emitChange(changes, false, next.codes, old.codes)
  }

  /**
   * A removal wins over a concurrent rewrite of the same pin version (same `createdAt` and
   * `updatedAt`: a change no user asked for, such as a peer re-allocating it): a removal deletes
   * only the copy its writer saw, so that rewrite would otherwise bring the pin back. Every trusted
   * peer remembers the versions it saw removed for `removeWinsMs` and removes them again if they
   * come back. A pin requested again (through any peer, even one that had not yet seen the
   * removal) has a newer `updatedAt` and is kept.
   */
  private removeWins (changes: readonly KvChange[], local: boolean): void {
    if (!this.init.trusted) return
    const again: string[] = []
    for (const c of changes) {
      if (c.after === undefined) {
        if (c.before !== undefined) { const r = decodeRecord(c.before); this.removed.add(c.key, r.createdAt, r.updatedAt) }
        continue
      }
      if (!local && this.removed.size > 0) { const r = decodeRecord(c.after); if (this.removed.has(c.key, r.createdAt, r.updatedAt)) again.push(c.key) }
    }
    if (again.length === 0) return
    this.log.info({ pins: again.length }, 'removing again pins that another peer rewrote as they were removed')
    // Not inside the transaction that brought them.
    queueMicrotask(() => {
      this.remove(again).catch((err: unknown) => { this.log.error({ err }, 'failed to remove rewritten pins again') })
    })
  }

  /** `beforeCodes`: the peer codes of the document the `before` values come from, if not `codes`. */
  private emitChange (changes: KvChange[], local: boolean, codes: Pick<PeerCodes, 'resolve'>, beforeCodes?: Pick<PeerCodes, 'resolve'>): void {
    if (this.changeListeners.size === 0) return
    const was = beforeCodes ?? codes
    const added: PinRecord[] = []
    const updated: Array<{ before: PinRecord, after: PinRecord }> = []
    const removed: PinRecord[] = []
    for (const c of changes) {
      if (c.before === undefined && c.after !== undefined) added.push(decodeRecord(c.after, codes, c.key))
      else if (c.before !== undefined && c.after === undefined) removed.push(decodeRecord(c.before, was, c.key))
      else if (c.before !== undefined && c.after !== undefined) updated.push({ before: decodeRecord(c.before, was, c.key), after: decodeRecord(c.after, codes, c.key) })
    }
    const change: PinSetChange = { added, updated, removed, local }
    for (const fn of this.changeListeners) {
      try { fn(change) } catch (err) { this.log.error({ err }, 'pinset change listener failed') }
    }
  }

  /**
   * The single-document pinset of earlier releases (store.ts, formats 1 and 2) is copied into the
   * shards, written whole, and only then marked done (a crash before that runs it again: the
   * copies it already made are the same pins, merged by the last-writer-wins rule).
   */
  private async migrateLegacy (): Promise<void> {
    const started = Date.now()
    const loaded = await readLegacyPinset(this.init.dir, this.log)
    const doc = new Y.Doc()
    const kv = new YArrayKv(doc, { resolveConflicts: false })
    const codes = new PeerCodes(doc)
    const records: PinRecord[] = []
    try {
      if (loaded.state !== undefined) Y.applyUpdate(doc, loaded.state)
      if (loaded.updates.length > 0) doc.transact(() => { for (const u of loaded.updates) Y.applyUpdate(doc, u) })
      for (const v of kv.values()) records.push(decodeRecord(v, codes))
    } catch (err) {
      // Checksummed, so a bug rather than damage: the files stay (as *.pre-shard) and the peers hold the pinset.
      records.length = 0
      this.log.error({ err }, 'the single-document pinset does not decode: starting empty and re-syncing from peers; its files are kept as *.pre-shard')
    }
    doc.destroy()
    for (const [id, rs] of this.group(records, r => r.cid)) {
      const live = this.decode(id)
      let values: string[] = []
      // Written as loaded state: nothing is announced or broadcast (every peer migrates its own copy).
      live.doc.transact(() => { values = rs.map(r => encodeRecord(r, live.codes)) }, LOAD)
      for (let i = 0; i < values.length; i += this.init.maxPinsPerUpdate) live.kv.write(values.slice(i, i + this.init.maxPinsPerUpdate), [], LOAD)
      // Not in the WAL (nothing is appended for loaded state): kept decoded until the checkpoint writes it.
      this.shard(id).diskEpoch = -1
      // Bounded memory: the shards written so far go to disk every so often.
      if (this.lru.size >= 64) await this.checkpoint()
    }
    await this.checkpoint()
    await this.requireStore().completeMigration()
    this.log.info({ pins: records.length, ms: Date.now() - started }, 'pinset migrated from the single-document format to shards')
  }
}

const EMPTY_STATE_VECTOR = Y.encodeStateVector(new Y.Doc())
const EMPTY_UPDATE = Y.encodeStateAsUpdate(new Y.Doc())
/** A shard's state, per pin: about 92–119 bytes of record plus Yjs's own (127 at 1M pins in bench/RESULTS.md). */
const STATE_BYTES_PER_PIN = 128

/** 16 bytes naming a shard's exact content: its epoch and its Yjs snapshot (inserted and deleted elements). */
function digestOf (epoch: EpochId, doc: Y.Doc): Uint8Array {
  return digestOfSnapshot(epoch, Y.encodeSnapshot(Y.snapshot(doc)))
}

/** A shard's digest: its epoch and its encoded Yjs snapshot (state vector and delete set). */
function digestOfSnapshot (epoch: EpochId, snapshot: Uint8Array): Uint8Array {
  const h = createHash('sha256')
  h.update(`${epoch.n}\x00${epoch.leader}\x00`)
  h.update(snapshot)
  return new Uint8Array(h.digest().subarray(0, 16))
}
