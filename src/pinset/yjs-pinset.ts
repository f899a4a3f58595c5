import * as Y from 'yjs'
import type { Logger } from '../logger.js'
import type { PinRecord } from '../types.js'
import { NotStartedError } from '../errors.js'
import { YArrayKv, type KvChange } from './kv.js'
import { encodeRecord, decodeRecord, encodedCid, PeerCodes } from './record-codec.js'
import { PinsetStore } from './store.js'
import { RecentRemovals } from './recent-removals.js'
import { GENESIS, buildEpoch, migrate, compareEpochs, sameEpoch, encodePackage, decodePackage, type EpochId, type EpochPackage } from './epoch.js'
import type { PinSet, PinSetChange, EpochOffer, PinPage, ReplicatedDoc } from './types.js'
import { encodeCursor, decodeCursor } from './shard-key.js'

export interface YjsPinSetInit {
  /** Directory of the persisted pinset. */
  dir: string
  /** Whether this peer's writes are accepted by others (a trusted peer). */
  trusted: boolean
  /** Pins per Yjs transaction; keeps each update well under the 1 MiB gossip limit. @default 1000 */
  maxPinsPerUpdate?: number
  /** The log is compacted into the state file once it outgrows this and the state. @default 8 MiB */
  compactMinLogBytes?: number
  /**
   * How long this peer remembers the pins it saw removed, to remove again a concurrent rewrite of
   * the same pin by another peer (see `removeWins`). @default 10 minutes
   */
  removeWinsMs?: number
}

export interface YjsPinSetComponents { logger: Logger }

const LOCAL = Symbol('local')
const LOAD = Symbol('load')
interface RemoteOrigin { remote: string }

/** The live document of the current epoch. */
interface Current { epoch: EpochId, doc: Y.Doc, kv: YArrayKv, codes: PeerCodes, pkg?: Uint8Array, detach: () => void }

/** The pinset as a Yjs document (see kv.ts) in epochs (see epoch.ts), persisted by PinsetStore. */
export class YjsPinSet implements PinSet, ReplicatedDoc {
  private readonly init: Required<YjsPinSetInit>
  private readonly log: Logger
  private cur?: Current
  private store?: PinsetStore
  private readonly changeListeners = new Set<(c: PinSetChange) => void>()
  private readonly updateListeners = new Set<(u: Uint8Array, epoch: EpochId) => void>()
  private pendingLocalAppend?: Promise<void>
  private compacting = false
  private readonly removed: RecentRemovals

  constructor (components: YjsPinSetComponents, init: YjsPinSetInit) {
    this.log = components.logger
    this.init = { maxPinsPerUpdate: 1000, compactMinLogBytes: 8 << 20, removeWinsMs: 10 * 60_000, ...init }
    this.removed = new RecentRemovals(this.init.removeWinsMs)
  }

  async start (): Promise<void> {
    if (this.cur !== undefined) return
    const started = Date.now()
    const { store, loaded } = await PinsetStore.open(this.init.dir, this.log)
    let { doc, kv, codes } = this.newDoc()
    try {
      if (loaded.state !== undefined) Y.applyUpdate(doc, loaded.state, LOAD)
      if (loaded.updates.length > 0) doc.transact(() => { for (const u of loaded.updates) Y.applyUpdate(doc, u, LOAD) }, LOAD)
    } catch (err) {
      // Checksums make this unlikely (a bug, or a version 1 state file); the peers hold the pinset.
      doc.destroy();
      ({ doc, kv, codes } = this.newDoc())
      await store.setAsideAll(`pinset state does not decode (${(err as Error).message})`)
      loaded.meta = undefined
      loaded.updates = []
    }
    this.store = store
    const epoch = loaded.meta?.epoch ?? GENESIS
    this.cur = { epoch, doc, kv, codes, pkg: loaded.meta?.package, detach: () => {} }
    this.cur.detach = this.attach(this.cur, true)
    this.log.info({ pins: kv.size, epoch: epoch.n, ms: Date.now() - started, logUpdates: loaded.updates.length }, 'pinset loaded')
    if (store.logBytes > this.init.compactMinLogBytes) await this.compact().catch((err: unknown) => { this.log.error({ err }, 'pinset compaction failed') })
  }

  async stop (): Promise<void> {
    const store = this.store
    if (store === undefined) return
    this.store = undefined
    await store.close()
    this.cur?.detach()
    this.cur?.doc.destroy()
    this.cur = undefined
  }

  get size (): number { return this.cur?.kv.size ?? 0 }
  get (cid: string): PinRecord | undefined {
    const v = this.cur?.kv.get(cid)
    return v === undefined ? undefined : decodeRecord(v, this.cur?.codes)
  }

  has (cid: string): boolean { return this.cur?.kv.has(cid) ?? false }
  * list (): IterableIterator<PinRecord> { const { kv, codes } = this.require(); for (const v of kv.values()) yield decodeRecord(v, codes) }

  /** One batch: this document is a single shard. */
  async * scan (options: { signal?: AbortSignal } = {}): AsyncIterable<readonly PinRecord[]> {
    options.signal?.throwIfAborted()
    yield [...this.list()]
  }

  async page (options: { cursor?: string, limit: number, signal?: AbortSignal }): Promise<PinPage> {
    options.signal?.throwIfAborted()
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor, 1).afterCid
    const { kv } = this.require()
    const keys = [...kv.keys()].filter(k => after === undefined || k > after).sort()
    const pins = keys.slice(0, options.limit).map(k => this.get(k)).filter(r => r !== undefined)
    const last = pins.at(-1)
    return { pins, next: keys.length > options.limit && last !== undefined ? encodeCursor(0, last.cid) : undefined }
  }

  onChange (fn: (change: PinSetChange) => void): () => void {
    this.changeListeners.add(fn)
    return () => { this.changeListeners.delete(fn) }
  }

  async put (records: readonly PinRecord[], options: { signal?: AbortSignal } = {}): Promise<void> {
    const { doc, codes } = this.require()
    let values: string[] = []
    // A peer code new to the document is added in this transaction, before any record using it.
    doc.transact(() => { values = records.map(r => encodeRecord(r, codes)) }, LOCAL)
    await this.writeChunks(values, [], options.signal)
  }

  async remove (cids: readonly string[], options: { signal?: AbortSignal } = {}): Promise<void> {
    const kv = this.require().kv
    await this.writeChunks([], cids.filter(c => kv.has(c)), options.signal)
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
      this.writeChunks([], again.filter(cid => this.cur?.kv.has(cid) === true)).catch((err: unknown) => { this.log.error({ err }, 'failed to remove rewritten pins again') })
    })
  }

  epoch (): EpochId { return this.require().epoch }
  stateVector (): Uint8Array { return Y.encodeStateVector(this.require().doc) }
  diff (stateVector: Uint8Array): Uint8Array { return Y.encodeStateAsUpdate(this.require().doc, stateVector) }

  applyRemote (updates: readonly Uint8Array[], fromPeer: string, epoch: EpochId): boolean {
    const { doc, epoch: mine } = this.require()
    if (!sameEpoch(epoch, mine)) return false
    const origin: RemoteOrigin = { remote: fromPeer }
    doc.transact(() => { for (const u of updates) Y.applyUpdate(doc, u, origin) }, origin)
    return true
  }

  hasMissingDependencies (): boolean {
    const store = this.require().doc.store
    return store.pendingStructs !== null || store.pendingDs !== null
  }

  onLocalUpdate (fn: (update: Uint8Array, epoch: EpochId) => void): () => void {
    this.updateListeners.add(fn)
    return () => { this.updateListeners.delete(fn) }
  }

  epochOffer (): EpochOffer | undefined {
    const { pkg, doc } = this.require()
    return pkg === undefined ? undefined : { pkg, state: Y.encodeStateAsUpdate(doc) }
  }

  compactionFigures (): { pins: number, tombstones: number } {
    const { kv } = this.require()
    return { pins: kv.size, tombstones: kv.tombstoneCount() }
  }

  async rebuild (leader: string): Promise<EpochId> {
    const cur = this.require()
    const id = { n: cur.epoch.n + 1, leader }
    const next = this.newDoc()
    const pkg = buildEpoch(cur.kv, cur.epoch, id, next.kv, this.init.maxPinsPerUpdate, LOAD)
    await this.switchTo(next, pkg)
    this.log.info({ epoch: id.n, pins: next.kv.size }, 'pinset rebuilt as a new epoch')
    return id
  }

  async adoptEpoch (offer: EpochOffer, fromPeer: string): Promise<boolean> {
    const cur = this.require()
    const pkg = decodePackage(offer.pkg)
    if (compareEpochs(pkg.id, cur.epoch) <= 0) return false
    const next = this.newDoc()
    Y.applyUpdate(next.doc, offer.state, LOAD)
    const m = migrate(cur.kv, cur.epoch, pkg, next.kv)
    await this.switchTo(next, pkg, this.init.trusted ? m : undefined)
    this.log.info({ epoch: pkg.id.n, leader: pkg.id.leader, from: fromPeer, carried: m.sets.length, deleted: m.deletes.length, approximate: m.approximate }, 'moved to a new pinset epoch')
    return true
  }

  stats (): { pins: number, structs: number, stateBytes: number, logBytes: number, epoch: number, removalsRemembered: number } {
    return { pins: this.size, structs: this.cur?.kv.structCount() ?? 0, stateBytes: this.store?.stateBytes ?? 0, logBytes: this.store?.logBytes ?? 0, epoch: this.cur?.epoch.n ?? 0, removalsRemembered: this.removed.size }
  }

  /** Rewrites the on-disk form as one state (also done automatically as the log grows). */
  async compact (): Promise<void> {
    const store = this.store
    const cur = this.cur
    if (store === undefined || cur === undefined || this.compacting) return
    this.compacting = true
    try {
      await store.compact(() => Y.encodeStateAsUpdate(cur.doc), { epoch: cur.epoch, package: cur.pkg })
      this.log.debug({ stateBytes: store.stateBytes }, 'pinset compacted')
    } finally {
      this.compacting = false
    }
  }

  private newDoc (): { doc: Y.Doc, kv: YArrayKv, codes: PeerCodes } {
    const doc = new Y.Doc()
    return { doc, kv: new YArrayKv(doc, { resolveConflicts: this.init.trusted, localOrigin: LOCAL }), codes: new PeerCodes(doc) }
  }

  /** Hooks persistence, broadcasting and change events to a document. */
  private attach (cur: Current, events: boolean): () => void {
    const onUpdate = (update: Uint8Array, origin: unknown): void => { this.persist(update, origin, cur) }
    cur.doc.on('update', onUpdate)
    const offChange = events
      ? cur.kv.onChange((changes, origin) => {
        if (origin === LOAD) return
        this.emitChange(changes, origin === LOCAL)
        this.removeWins(changes, origin === LOCAL)
      })
      : () => {}
    return () => { cur.doc.off('update', onUpdate); offChange() }
  }

  /**
   * Makes `next` the live document: writes it as the new state (the store's state file names
   * the epoch, and log frames of the old epoch are ignored from then on), applies the
   * migration as this peer's own writes, and reports the net change of the view.
   */
  private async switchTo (next: { doc: Y.Doc, kv: YArrayKv, codes: PeerCodes }, pkg: EpochPackage, migration?: { sets: string[], deletes: Array<{ client: number, clock: number }> }): Promise<void> {
    const old = this.require()
    const before = new Map<string, string>()
    for (const s of old.kv.slots()) before.set(encodedCid(s.value), s.value)
    old.detach()
    const cur: Current = { epoch: pkg.id, doc: next.doc, kv: next.kv, codes: next.codes, pkg: encodePackage(pkg), detach: () => {} }
    this.cur = cur
    const persistOnly = this.attach(cur, false)
    const store = this.store
    // On failure (disk full) the next write of this epoch writes the state (see persist).
    if (store !== undefined) await store.compact(() => Y.encodeStateAsUpdate(cur.doc), { epoch: cur.epoch, package: cur.pkg }).catch((err: unknown) => { this.log.error({ err }, 'cannot write the new pinset epoch to disk yet') })
    if (migration !== undefined) {
      // Peer codes are per document: carried values are rewritten with the new document's codes.
      let sets: string[] = []
      cur.doc.transact(() => { sets = migration.sets.map(v => encodeRecord(decodeRecord(v, old.codes), cur.codes)) }, LOCAL)
      for (let i = 0; i < sets.length; i += this.init.maxPinsPerUpdate) cur.kv.write(sets.slice(i, i + this.init.maxPinsPerUpdate), [], LOCAL)
      cur.kv.deleteIds(migration.deletes, LOCAL)
    }
    persistOnly()
    cur.detach = this.attach(cur, true)
    old.doc.destroy()
    const changes: KvChange[] = []
    for (const [key, was] of before) {
      const now = cur.kv.get(key)
      if (now !== was) changes.push({ key, before: was, after: now })
    }
    for (const value of cur.kv.values()) {
      const key = encodedCid(value)
      if (!before.has(key)) changes.push({ key, after: value })
    }
    if (changes.length > 0) this.emitChange(changes, false, old.codes)
  }

  private async writeChunks (values: readonly string[], deletes: readonly string[], signal?: AbortSignal): Promise<void> {
    const n = this.init.maxPinsPerUpdate
    const waits: Array<Promise<void>> = []
    for (let i = 0; i < Math.max(values.length, deletes.length); i += n) {
      signal?.throwIfAborted()
      this.pendingLocalAppend = undefined
      this.require().kv.write(values.slice(i, i + n), deletes.slice(i, i + n), LOCAL)
      if (this.pendingLocalAppend !== undefined) waits.push(this.pendingLocalAppend)
    }
    await Promise.all(waits)
  }

  private persist (update: Uint8Array, origin: unknown, cur: Current): void {
    const store = this.store
    if (store === undefined || origin === LOAD) return
    const epoch = cur.epoch
    // Log frames of another epoch than the state's are ignored on load: an epoch whose state
    // could not be written yet is written whole.
    const written = store.stateEpoch === epoch.n
      ? store.append(update, epoch.n)
      : store.compact(() => Y.encodeStateAsUpdate(cur.doc), { epoch, package: cur.pkg })
    if (origin === LOCAL) {
      this.pendingLocalAppend = written
      // Broadcast only what is on disk: a peer never has to forget an update it was sent.
      written.then(() => { for (const fn of this.updateListeners) fn(update, epoch) }, () => {})
    } else {
      written.catch((err: unknown) => { this.log.error({ err }, 'failed to persist a replicated pinset update') })
    }
    written.then(() => {
      if (store.logBytes > Math.max(this.init.compactMinLogBytes, store.stateBytes)) {
        this.compact().catch((err: unknown) => { this.log.error({ err }, 'pinset compaction failed') })
      }
    }, () => {})
  }

  /** `beforeCodes`: the peer codes of the document the `before` values come from, if not the current one. */
  private emitChange (changes: KvChange[], local: boolean, beforeCodes?: PeerCodes): void {
    if (this.changeListeners.size === 0) return
    const codes = this.require().codes
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

  private require (): Current {
    if (this.cur === undefined) throw new NotStartedError('pinset is not started')
    return this.cur
  }
}
