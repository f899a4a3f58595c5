import * as Y from 'yjs'
import type { Logger } from '../logger.js'
import type { PinRecord } from '../types.js'
import { NotStartedError } from '../errors.js'
import { YArrayKv, type KvChange } from './kv.js'
import { encodeRecord, decodeRecord } from './record-codec.js'
import { PinsetStore } from './store.js'
import type { PinSet, PinSetChange } from './types.js'

export interface YjsPinSetInit {
  /** Directory of the persisted pinset. */
  dir: string
  /** Whether this peer's writes are accepted by others (a trusted peer). */
  trusted: boolean
  /** Pins per Yjs transaction; keeps each update well under the 1 MiB gossip limit. @default 1000 */
  maxPinsPerUpdate?: number
  /** The log is compacted into the state file once it outgrows this and the state. @default 8 MiB */
  compactMinLogBytes?: number
}

export interface YjsPinSetComponents { logger: Logger }

const LOCAL = Symbol('local')
const LOAD = Symbol('load')
interface RemoteOrigin { remote: string }

/** The pinset as a Yjs document (see kv.ts), persisted by PinsetStore. */
export class YjsPinSet implements PinSet {
  private readonly init: Required<YjsPinSetInit>
  private readonly log: Logger
  private doc?: Y.Doc
  private kv?: YArrayKv
  private store?: PinsetStore
  private readonly changeListeners = new Set<(c: PinSetChange) => void>()
  private readonly updateListeners = new Set<(u: Uint8Array) => void>()
  private pendingLocalAppend?: Promise<void>
  private compacting = false

  constructor (components: YjsPinSetComponents, init: YjsPinSetInit) {
    this.log = components.logger
    this.init = { maxPinsPerUpdate: 1000, compactMinLogBytes: 8 << 20, ...init }
  }

  async start (): Promise<void> {
    if (this.doc !== undefined) return
    const started = Date.now()
    const { store, loaded } = await PinsetStore.open(this.init.dir, this.log)
    const doc = new Y.Doc()
    const kv = new YArrayKv(doc, { resolveConflicts: this.init.trusted, localOrigin: LOCAL })
    if (loaded.state !== undefined) Y.applyUpdate(doc, loaded.state, LOAD)
    if (loaded.updates.length > 0) {
      doc.transact(() => { for (const u of loaded.updates) Y.applyUpdate(doc, u, LOAD) }, LOAD)
    }
    kv.onChange((changes, origin) => { if (origin !== LOAD) this.emitChange(changes, origin === LOCAL) })
    doc.on('update', (update: Uint8Array, origin: unknown) => { this.persist(update, origin) })
    this.doc = doc
    this.kv = kv
    this.store = store
    this.log.info({ pins: kv.size, ms: Date.now() - started, logUpdates: loaded.updates.length }, 'pinset loaded')
    if (loaded.updates.length > 0 && store.logBytes > this.init.compactMinLogBytes) await this.compact()
  }

  async stop (): Promise<void> {
    const store = this.store
    if (store === undefined) return
    this.store = undefined
    await store.close()
    this.doc?.destroy()
    this.doc = undefined
    this.kv = undefined
  }

  get size (): number { return this.kv?.size ?? 0 }
  get (cid: string): PinRecord | undefined {
    const v = this.kv?.get(cid)
    return v === undefined ? undefined : decodeRecord(v)
  }

  has (cid: string): boolean { return this.kv?.has(cid) ?? false }
  * list (): IterableIterator<PinRecord> { for (const v of this.requireKv().values()) yield decodeRecord(v) }

  onChange (fn: (change: PinSetChange) => void): () => void {
    this.changeListeners.add(fn)
    return () => { this.changeListeners.delete(fn) }
  }

  async put (records: readonly PinRecord[], options: { signal?: AbortSignal } = {}): Promise<void> {
    const values = records.map(encodeRecord)
    await this.writeChunks(values, [], options.signal)
  }

  async remove (cids: readonly string[], options: { signal?: AbortSignal } = {}): Promise<void> {
    const kv = this.requireKv()
    await this.writeChunks([], cids.filter(c => kv.has(c)), options.signal)
  }

  stateVector (): Uint8Array { return Y.encodeStateVector(this.requireDoc()) }
  diff (stateVector: Uint8Array): Uint8Array { return Y.encodeStateAsUpdate(this.requireDoc(), stateVector) }
  applyRemote (updates: readonly Uint8Array[], fromPeer: string): void {
    const doc = this.requireDoc()
    const origin: RemoteOrigin = { remote: fromPeer }
    doc.transact(() => { for (const u of updates) Y.applyUpdate(doc, u, origin) }, origin)
  }

  hasMissingDependencies (): boolean {
    const store = this.requireDoc().store
    return store.pendingStructs !== null || store.pendingDs !== null
  }

  onLocalUpdate (fn: (update: Uint8Array) => void): () => void {
    this.updateListeners.add(fn)
    return () => { this.updateListeners.delete(fn) }
  }

  stats (): { pins: number, structs: number, stateBytes: number, logBytes: number } {
    return { pins: this.size, structs: this.kv?.structCount() ?? 0, stateBytes: this.store?.stateBytes ?? 0, logBytes: this.store?.logBytes ?? 0 }
  }

  /** Rewrites the on-disk form as one state (also done automatically as the log grows). */
  async compact (): Promise<void> {
    const store = this.store
    const doc = this.doc
    if (store === undefined || doc === undefined || this.compacting) return
    this.compacting = true
    try {
      await store.compact(() => Y.encodeStateAsUpdate(doc))
      this.log.debug({ stateBytes: store.stateBytes }, 'pinset compacted')
    } finally {
      this.compacting = false
    }
  }

  private async writeChunks (values: readonly string[], deletes: readonly string[], signal?: AbortSignal): Promise<void> {
    const kv = this.requireKv()
    const n = this.init.maxPinsPerUpdate
    const waits: Array<Promise<void>> = []
    for (let i = 0; i < Math.max(values.length, deletes.length); i += n) {
      signal?.throwIfAborted()
      this.pendingLocalAppend = undefined
      kv.write(values.slice(i, i + n), deletes.slice(i, i + n), LOCAL)
      if (this.pendingLocalAppend !== undefined) waits.push(this.pendingLocalAppend)
    }
    await Promise.all(waits)
  }

  private persist (update: Uint8Array, origin: unknown): void {
    const store = this.store
    if (store === undefined || origin === LOAD) return
    const written = store.append(update)
    if (origin === LOCAL) {
      this.pendingLocalAppend = written
      // Broadcast only what is on disk: a peer never has to forget an update it was sent.
      written.then(() => { for (const fn of this.updateListeners) fn(update) }, () => {})
    } else {
      written.catch((err: unknown) => { this.log.error({ err }, 'failed to persist a replicated pinset update') })
    }
    written.then(() => {
      if (store.logBytes > Math.max(this.init.compactMinLogBytes, store.stateBytes)) void this.compact()
    }, () => {})
  }

  private emitChange (changes: KvChange[], local: boolean): void {
    if (this.changeListeners.size === 0) return
    const added: PinRecord[] = []
    const updated: Array<{ before: PinRecord, after: PinRecord }> = []
    const removed: PinRecord[] = []
    for (const c of changes) {
      if (c.before === undefined && c.after !== undefined) added.push(decodeRecord(c.after))
      else if (c.before !== undefined && c.after === undefined) removed.push(decodeRecord(c.before))
      else if (c.before !== undefined && c.after !== undefined) updated.push({ before: decodeRecord(c.before), after: decodeRecord(c.after) })
    }
    const change: PinSetChange = { added, updated, removed, local }
    for (const fn of this.changeListeners) {
      try { fn(change) } catch (err) { this.log.error({ err }, 'pinset change listener failed') }
    }
  }

  private requireDoc (): Y.Doc {
    if (this.doc === undefined) throw new NotStartedError('pinset is not started')
    return this.doc
  }

  private requireKv (): YArrayKv {
    if (this.kv === undefined) throw new NotStartedError('pinset is not started')
    return this.kv
  }
}
