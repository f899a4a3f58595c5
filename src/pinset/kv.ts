import * as Y from 'yjs'
import { encodedCid, encodedUpdatedAt } from './record-codec.js'

/** One element of the replicated array: an encoded record and the Yjs id it was inserted with. */
export interface Slot { value: string, client: number, clock: number }

/** A net change of one key in one transaction. `before`/`after` are encoded records. */
export interface KvChange { key: string, before?: string, after?: string }

export interface YArrayKvOptions {
  /**
   * Whether this replica removes the losing copy when two peers wrote the same key concurrently.
   * Only replicas whose writes others accept (trusted peers) should; others resolve locally only.
   */
  resolveConflicts: boolean
  /** Transaction origin for the deletions conflict resolution makes (they are this replica's writes). */
  localOrigin?: unknown
}

/**
 * A last-writer-wins key-value map on a Y.Array.
 *
 * Why not Y.Map: a deleted Y.Map entry keeps its key string in the document for ever, so pin/unpin
 * churn grows the state without bound. Here every entry is an array element `<key>\x1f<record>`;
 * a deleted element leaves only a (client, clock, length) range, which Yjs merges with its
 * neighbours, and the encoded state of a churned set stays close to that of a fresh one.
 *
 * New elements go to the front of the array: consecutive elements inserted at the end would be
 * merged by Yjs into one large item, and deleting one value from it copies the whole item
 * (quadratic unpins). Front inserts merge only within a transaction.
 *
 * A key normally has one live element. Concurrent writes of one key by two peers leave two; the
 * one with the later `updatedAt` (then the higher client id, then clock) wins everywhere, and
 * replicas with `resolveConflicts` delete the other.
 */
export class YArrayKv {
  readonly doc: Y.Doc
  private readonly array: Y.Array<string>
  /**
   * Each live key's winning element as one number (see `pack`), not a Slot object: at a million
   * pins an object per key is tens of MB. Its value is read back from the Yjs item when asked for.
   */
  private readonly index = new Map<string, number>()
  /** Client ids by the small index `pack` uses. */
  private readonly clientIds: number[] = []
  private readonly clientIndex = new Map<number, number>()
  /** Live losing copies of keys written concurrently. Rarely non-empty. */
  private readonly dups = new Map<string, Slot[]>()
  private readonly listeners = new Set<(changes: KvChange[], origin: unknown) => void>()
  private readonly options: YArrayKvOptions

  constructor (doc: Y.Doc, options: YArrayKvOptions) {
    this.doc = doc
    this.options = options
    this.array = doc.getArray<string>('pins')
    doc.on('afterTransaction', (tr: Y.Transaction) => { this.afterTransaction(tr) })
  }

  get size (): number { return this.index.size }
  get (key: string): string | undefined { return this.slot(key)?.value }
  has (key: string): boolean { return this.index.has(key) }
  * values (): IterableIterator<string> { for (const ref of this.index.values()) yield this.unpack(ref).value }
  * keys (): IterableIterator<string> { yield * this.index.keys() }

  /** Elements in the underlying array, live or not yet compacted: a measure of fragmentation. */
  structCount (): number {
    let n = 0
    for (const structs of this.doc.store.clients.values()) n += structs.length
    return n
  }

  /** Deleted items still linked in the array (tombstones that only a new epoch removes). */
  tombstoneCount (): number {
    let n = 0
    for (const structs of this.doc.store.clients.values()) {
      for (const s of structs) if (s instanceof Y.Item && s.deleted) n++
    }
    return n
  }

  /** Every live key's winning value with the Yjs id of its element. */
  * slots (): IterableIterator<Readonly<Slot>> { for (const ref of this.index.values()) yield this.unpack(ref) }

  /** Deletes the elements with these ids (skipping any already gone) in one transaction. */
  deleteIds (ids: ReadonlyArray<{ client: number, clock: number }>, origin: unknown): void {
    if (ids.length === 0) return
    this.doc.transact((tr) => {
      for (const id of ids) {
        const structs = this.doc.store.clients.get(id.client)
        if (structs === undefined || (structs.at(-1) as Y.Item).id.clock + (structs.at(-1) as Y.Item).length <= id.clock) continue
        const item = Y.getItem(this.doc.store, Y.createID(id.client, id.clock))
        if (item instanceof Y.Item && !item.deleted) this.deleteSlot(tr, { value: '', client: id.client, clock: id.clock })
      }
    }, origin)
  }

  /** Calls `fn` after every transaction that changed a key, local or remote. */
  onChange (fn: (changes: KvChange[], origin: unknown) => void): () => void {
    this.listeners.add(fn)
    return () => { this.listeners.delete(fn) }
  }

  /** Sets `values` (encoded records) and deletes `deleteKeys` in one transaction. */
  write (values: readonly string[], deleteKeys: readonly string[], origin: unknown): void {
    if (values.length === 0 && deleteKeys.length === 0) return
    this.doc.transact((tr) => {
      const seen = new Set<string>()
      for (const key of [...deleteKeys, ...values.map(encodedCid)]) {
        if (seen.has(key)) continue
        seen.add(key)
        for (const slot of this.liveSlots(key)) this.deleteSlot(tr, slot)
      }
      // Later values for the same key in one call win: keep only the last one.
      const last = new Map<string, string>()
      for (const v of values) last.set(encodedCid(v), v)
      if (last.size > 0) this.array.insert(0, [...last.values()])
    }, origin)
  }

  private * liveSlots (key: string): Iterable<Slot> {
    const s = this.slot(key)
    if (s !== undefined) yield s
    yield * (this.dups.get(key) ?? [])
  }

  private deleteSlot (tr: Y.Transaction, slot: Slot): void {
    const id = Y.createID(slot.client, slot.clock)
    Y.getItemCleanStart(tr, id)
    const item = Y.getItemCleanEnd(tr, this.doc.store, id)
    if (!item.deleted) item.delete(tr)
  }

  private afterTransaction (tr: Y.Transaction): void {
    // Without listeners (loading a stored state) there is nothing to report: no per-key bookkeeping.
    const tracking = this.listeners.size > 0
    const before = new Map<string, string | undefined>()
    const touch = (key: string): void => { if (tracking && !before.has(key)) before.set(key, this.get(key)) }

    // Deletions first: an element inserted and deleted in the same transaction never enters the index.
    for (const [client, ranges] of tr.deleteSet.clients) {
      const structs = this.doc.store.clients.get(client)
      if (structs === undefined) continue
      for (const { clock, len } of ranges) {
        this.forEachValue(structs, clock, clock + len, (value, k) => {
          const key = encodedCid(value)
          touch(key)
          this.removeSlot(key, client, k)
        }, true)
      }
    }
    for (const [client, after] of tr.afterState) {
      const start = tr.beforeState.get(client) ?? 0
      if (after <= start) continue
      const structs = this.doc.store.clients.get(client)
      if (structs === undefined) continue
      this.forEachValue(structs, start, after, (value, k) => {
        const key = encodedCid(value)
        touch(key)
        this.addSlot(key, { value, client, clock: k })
      }, false)
    }
    if (!tracking) {
      // Every live losing copy is a loser, whichever transaction brought it.
      if (this.dups.size > 0) this.deleteLater([...this.dups.values()].flat())
      return
    }
    if (before.size === 0) return

    const changes: KvChange[] = []
    const losers: Slot[] = []
    for (const [key, was] of before) {
      const now = this.get(key)
      if (now !== was) changes.push({ key, before: was, after: now })
      losers.push(...(this.dups.get(key) ?? []))
    }
    this.deleteLater(losers)
    if (changes.length > 0) for (const fn of this.listeners) fn(changes, tr.origin)
  }

  /** Deletes the losing copies of keys written concurrently, if this replica resolves conflicts. */
  private deleteLater (losers: Slot[]): void {
    if (losers.length === 0 || !this.options.resolveConflicts) return
    // Not inside this transaction's cleanup: Yjs runs a new transaction after the current one.
    queueMicrotask(() => { this.doc.transact((t) => { for (const s of losers) if (this.isLive(s)) this.deleteSlot(t, s) }, this.options.localOrigin) })
  }

  private forEachValue (structs: Array<Y.Item | Y.GC>, from: number, to: number, fn: (value: string, clock: number) => void, includeDeleted: boolean): void {
    for (let i = Y.findIndexSS(structs, from); i < structs.length; i++) {
      const s = structs[i] as Y.Item | Y.GC
      if (s.id.clock >= to) break
      if (!(s instanceof Y.Item) || s.parent !== this.array || (s.deleted && !includeDeleted)) continue
      const values = s.content.getContent() as string[]
      for (let j = 0; j < values.length; j++) {
        const k = s.id.clock + j
        if (k >= from && k < to) fn(values[j] as string, k)
      }
    }
  }

  private slot (key: string): Slot | undefined {
    const ref = this.index.get(key)
    return ref === undefined ? undefined : this.unpack(ref)
  }

  /**
   * (client, clock) as one number: a small integer (stored inline by V8, no heap object) while
   * the client index is below 256 and the clock below 2^22, else a double above SMALL.
   */
  private pack (id: { client: number, clock: number }): number {
    let i = this.clientIndex.get(id.client)
    if (i === undefined) {
      i = this.clientIds.push(id.client) - 1
      this.clientIndex.set(id.client, i)
    }
    if (i < 256 && id.clock < CLOCK_SPAN) return i * CLOCK_SPAN + id.clock
    if (id.clock >= 2 ** 32) throw new Error(`Yjs clock ${id.clock} beyond the index's range`)
    return SMALL + i * 2 ** 32 + id.clock
  }

  private unpackId (ref: number): { client: number, clock: number } {
    const [i, clock] = ref < SMALL ? [Math.floor(ref / CLOCK_SPAN), ref % CLOCK_SPAN] : [Math.floor((ref - SMALL) / 2 ** 32), (ref - SMALL) % 2 ** 32]
    return { client: this.clientIds[i] as number, clock }
  }

  /** The element a packed reference names, with its value read from the Yjs item. */
  private unpack (ref: number): Slot {
    const { client, clock } = this.unpackId(ref)
    const structs = this.doc.store.clients.get(client) as Array<Y.Item | Y.GC>
    const item = structs[Y.findIndexSS(structs, clock)]
    if (!(item instanceof Y.Item)) throw new Error(`pinset index points at a collected element ${client}:${clock}`)
    return { value: (item.content.getContent() as string[])[clock - item.id.clock] as string, client, clock }
  }

  private isLive (slot: Slot): boolean {
    const key = encodedCid(slot.value)
    const s = this.slot(key)
    return (s?.client === slot.client && s.clock === slot.clock) || (this.dups.get(key) ?? []).some(d => d.client === slot.client && d.clock === slot.clock)
  }

  private addSlot (key: string, slot: Slot): void {
    const current = this.slot(key)
    if (current === undefined) { this.index.set(key, this.pack(slot)); return }
    const [win, lose] = wins(slot, current) ? [slot, current] : [current, slot]
    this.index.set(key, this.pack(win))
    const d = this.dups.get(key) ?? []
    d.push(lose)
    this.dups.set(key, d)
  }

  private removeSlot (key: string, client: number, clock: number): void {
    const d = this.dups.get(key)
    if (d !== undefined) {
      const rest = d.filter(s => s.client !== client || s.clock !== clock)
      if (rest.length === 0) this.dups.delete(key)
      else this.dups.set(key, rest)
    }
    const ref = this.index.get(key)
    const s = ref === undefined ? undefined : this.unpackId(ref)
    if (s === undefined || s.client !== client || s.clock !== clock) return
    this.index.delete(key)
    const remaining = this.dups.get(key)
    if (remaining !== undefined && remaining.length > 0) {
      // The winner was deleted while a concurrent copy lives on: promote the best remaining copy.
      const best = remaining.reduce((a, b) => wins(a, b) ? a : b)
      this.index.set(key, this.pack(best))
      const others = remaining.filter(x => x !== best)
      if (others.length === 0) this.dups.delete(key)
      else this.dups.set(key, others)
    }
  }
}

const CLOCK_SPAN = 2 ** 22
const SMALL = 256 * CLOCK_SPAN

/** The deterministic order every replica agrees on for concurrent copies of one key. */
function wins (a: Slot, b: Slot): boolean {
  const ua = encodedUpdatedAt(a.value)
  const ub = encodedUpdatedAt(b.value)
  if (ua !== ub) return ua > ub
  if (a.client !== b.client) return a.client > b.client
  return a.clock > b.clock
}
