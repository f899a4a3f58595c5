import * as Y from 'yjs'
import { encodedCid, decodeRecord } from './record-codec.js'

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
  private readonly index = new Map<string, Slot>()
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
  get (key: string): string | undefined { return this.index.get(key)?.value }
  has (key: string): boolean { return this.index.has(key) }
  * values (): IterableIterator<string> { for (const s of this.index.values()) yield s.value }
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
  * slots (): IterableIterator<Readonly<Slot>> { yield * this.index.values() }

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
    const s = this.index.get(key)
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
    const before = new Map<string, string | undefined>()
    const touch = (key: string): void => { if (!before.has(key)) before.set(key, this.index.get(key)?.value) }

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
    if (before.size === 0) return

    const changes: KvChange[] = []
    const losers: Slot[] = []
    for (const [key, was] of before) {
      const now = this.index.get(key)?.value
      if (now !== was) changes.push({ key, before: was, after: now })
      losers.push(...(this.dups.get(key) ?? []))
    }
    if (losers.length > 0 && this.options.resolveConflicts) {
      // Not inside this transaction's cleanup: Yjs runs a new transaction after the current one.
      queueMicrotask(() => { this.doc.transact((t) => { for (const s of losers) if (this.isLive(s)) this.deleteSlot(t, s) }, this.options.localOrigin) })
    }
    if (changes.length > 0) for (const fn of this.listeners) fn(changes, tr.origin)
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

  private isLive (slot: Slot): boolean {
    const key = encodedCid(slot.value)
    const s = this.index.get(key)
    return (s?.client === slot.client && s.clock === slot.clock) || (this.dups.get(key) ?? []).some(d => d.client === slot.client && d.clock === slot.clock)
  }

  private addSlot (key: string, slot: Slot): void {
    const current = this.index.get(key)
    if (current === undefined) { this.index.set(key, slot); return }
    const [win, lose] = wins(slot, current) ? [slot, current] : [current, slot]
    this.index.set(key, win)
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
    const s = this.index.get(key)
    if (s === undefined || s.client !== client || s.clock !== clock) return
    this.index.delete(key)
    const remaining = this.dups.get(key)
    if (remaining !== undefined && remaining.length > 0) {
      // The winner was deleted while a concurrent copy lives on: promote the best remaining copy.
      const best = remaining.reduce((a, b) => wins(a, b) ? a : b)
      this.index.set(key, best)
      const others = remaining.filter(x => x !== best)
      if (others.length === 0) this.dups.delete(key)
      else this.dups.set(key, others)
    }
  }
}

/** The deterministic order every replica agrees on for concurrent copies of one key. */
function wins (a: Slot, b: Slot): boolean {
  const ua = decodeRecord(a.value).updatedAt
  const ub = decodeRecord(b.value).updatedAt
  if (ua !== ub) return ua > ub
  if (a.client !== b.client) return a.client > b.client
  return a.clock > b.clock
}
