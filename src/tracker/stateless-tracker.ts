import type { Logger } from '../logger.js'
import type { PinRecord, PinMode } from '../types.js'
import type { KuboClient, KuboPinType } from '../kubo/types.js'
import type { PinSetReader } from '../pinset/index.js'
import type { TrackerConfig } from '../config/index.js'
import { QueueFullError } from '../errors.js'
import { isAllocatedTo, satisfies, reconcile, retryDelay, isPriority } from './reconcile.js'
import { KeyedListeners } from '../utils/keyed-listeners.js'
import type { PinInfo, PinTracker, TrackerStatus, WaitStatusOptions } from './types.js'

export interface StatelessTrackerComponents {
  kubo: KuboClient
  pinset: PinSetReader
  /** This peer's id. */
  self: string
  logger: Logger
  now?: () => number
}

export interface StatelessTrackerInit extends TrackerConfig {
  /** Kubo's no-progress timeout for one pin. */
  pinTimeoutMs: number
}

type OpType = 'pin' | 'unpin'
type Phase = 'queued' | 'running' | 'error'

const PHASES: readonly Phase[] = ['queued', 'running', 'error']

/** Fields most operations never set, kept out of line. */
interface OpExtra {
  name?: string
  error?: string
  progress?: { nodes: number, bytes: number }
  controller?: AbortController
  retryTimer?: NodeJS.Timeout
}

/**
 * One pin or unpin to do. Kept small: a million pins queued at once are a million of these, so
 * type, phase, priority and mode share one number, the rarely set fields live in `extra`, and
 * the pin's record is not kept, only its updatedAt (for the priority lane of a retry: reading it
 * back from the pinset may decode a whole shard).
 */
class Operation {
  readonly cid: string
  attempts: number
  updatedAt: number
  /** The pin's updatedAt when this operation was made. */
  requestedAt = 0
  /** bit 0: unpin; bits 1-2: phase; bit 3: priority; bit 4: direct mode. */
  private bits: number
  private extra?: OpExtra

  constructor (cid: string, type: OpType, record: Pick<PinRecord, 'mode' | 'name'>, attempts: number, updatedAt: number) {
    this.cid = cid
    this.attempts = attempts
    this.updatedAt = updatedAt
    this.bits = type === 'unpin' ? 1 : 0
    this.setPin(record)
  }

  get type (): OpType { return (this.bits & 1) === 1 ? 'unpin' : 'pin' }
  get phase (): Phase { return PHASES[(this.bits >> 1) & 3] as Phase }
  set phase (p: Phase) { this.bits = (this.bits & ~6) | (PHASES.indexOf(p) << 1) }
  get priority (): boolean { return (this.bits & 8) !== 0 }
  set priority (v: boolean) { this.bits = v ? this.bits | 8 : this.bits & ~8 }
  get mode (): PinMode { return (this.bits & 16) !== 0 ? 'direct' : 'recursive' }
  get name (): string { return this.extra?.name ?? '' }
  get error (): string | undefined { return this.extra?.error }
  set error (v: string | undefined) { this.set('error', v) }
  get progress (): OpExtra['progress'] { return this.extra?.progress }
  set progress (v: OpExtra['progress']) { this.set('progress', v) }
  get controller (): AbortController | undefined { return this.extra?.controller }
  set controller (v: AbortController | undefined) { this.set('controller', v) }
  get retryTimer (): NodeJS.Timeout | undefined { return this.extra?.retryTimer }
  set retryTimer (v: NodeJS.Timeout | undefined) { this.set('retryTimer', v) }

  /** Takes the mode and name of a newer version of the pin. */
  setPin (record: Pick<PinRecord, 'mode' | 'name'>): void {
    this.bits = record.mode === 'direct' ? this.bits | 16 : this.bits & ~16
    this.set('name', record.name === '' ? undefined : record.name)
  }

  private set<K extends keyof OpExtra> (key: K, value: OpExtra[K]): void {
    if (value === undefined && this.extra === undefined) return
    this.extra ??= {}
    this.extra[key] = value
  }
}

/** A FIFO with O(1) shift. */
class Fifo<T> {
  private items: T[] = []
  private head = 0
  get length (): number { return this.items.length - this.head }
  push (x: T): void { this.items.push(x) }
  shift (): T | undefined {
    if (this.head >= this.items.length) return undefined
    const x = this.items[this.head++]
    if (this.head > 1024 && this.head * 2 > this.items.length) { this.items = this.items.slice(this.head); this.head = 0 }
    return x
  }
}

/**
 * IPFS Cluster's stateless tracker, in TypeScript: an operation table (what is queued, running
 * or failed), three lanes (priority pins, unpins, other pins), `concurrentPins` workers, retries
 * with backoff, and a recover pass every `recoverIntervalMs` that compares the pinset with
 * Kubo's pin list.
 */
export class StatelessTracker implements PinTracker {
  private readonly c: StatelessTrackerComponents
  private readonly init: StatelessTrackerInit
  private readonly log: Logger
  private readonly now: () => number
  private readonly ops = new Map<string, Operation>()
  private readonly priorityLane = new Fifo<Operation>()
  private readonly unpinLane = new Fifo<Operation>()
  private readonly normalLane = new Fifo<Operation>()
  private waiting = 0
  private running = 0
  /** What Kubo held at the last listing, kept current by this tracker's own operations. */
  private kuboPins = new Map<string, KuboPinType>()
  /** Whether `kuboPins` has been listed from Kubo since start. */
  private kuboPinsKnown = false
  /** When the last Kubo listing ended, and how long it took. */
  private lastListing?: { at: number, tookMs: number }
  /**
   * CIDs Kubo may hold although the pinset does not: removed while this tracker could not tell
   * whether Kubo held them, or pinned in Kubo by an upload (dag/import roots). A recover pass from
   * the given time on unpins those Kubo holds and the pinset does not (reconcile never sees them).
   * Bounded, since it grows while Kubo is unreachable.
   */
  private readonly unverified = new Map<string, number>()
  /**
   * Kubo's final progress (nodes and bytes of the whole DAG) of pins this tracker made lately,
   * reported with their `pinned` status: a `pin add --progress` waiting on the pin ends with that
   * count, as Kubo's does. The most recent MAX_FINISHED only.
   */
  private readonly finished = new Map<string, { nodes: number, bytes: number }>()
  /** Changes this tracker saw while a Kubo listing was running, applied over that listing when it ends. */
  private readonly listings = new Set<Map<string, KuboPinType | undefined>>()
  private recoverTimer?: NodeJS.Timeout
  private recovering?: Promise<number>
  /** waitStatus callers by CID, called on every change of that CID here (`final`: answer now). */
  private readonly watchers = new KeyedListeners<[final: boolean]>()
  private started = false

  constructor (components: StatelessTrackerComponents, init: StatelessTrackerInit) {
    this.c = components
    this.init = init
    this.log = components.logger
    this.now = components.now ?? Date.now
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    this.recoverTimer = setInterval(() => { void this.recoverAll().catch(() => {}) }, this.init.recoverIntervalMs)
    this.recoverTimer.unref()
  }

  /** The first recover pass runs once everything else is up (Kubo may still be starting). */
  async afterStart (): Promise<void> {
    void this.recoverAll().catch((err: unknown) => { this.log.warn({ err }, 'first recover pass failed; will retry') })
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    clearInterval(this.recoverTimer)
    for (const op of this.ops.values()) { op.controller?.abort(); clearTimeout(op.retryTimer) }
    this.ops.clear()
    this.unverified.clear()
    this.finished.clear()
    this.watchers.emitAll(true)
  }

  queued (): number { return this.waiting }

  leaving (cid: string): boolean { return this.ops.get(cid)?.type === 'unpin' || this.unverified.has(cid) }

  track (record: PinRecord): void {
    if (isAllocatedTo(record, this.c.self)) {
      const op = this.ops.get(record.cid)
      if (op?.type === 'pin' && op.phase !== 'error') op.setPin(record)
      else if (op !== undefined || !satisfies(this.kuboPins.get(record.cid), record.mode)) this.enqueue('pin', record)
    } else {
      this.ensureUnpinned(record, false)
    }
    this.notify(record.cid)
  }

  untrack (record: PinRecord): void {
    this.ensureUnpinned(record, true)
    this.notify(record.cid)
  }

  async status (cid: string, options: { signal?: AbortSignal } = {}): Promise<PinInfo> {
    const op = this.ops.get(cid)
    if (op !== undefined) return this.opInfo(op)
    const record = this.c.pinset.get(cid)
    // Kubo is asked only where its answer matters, and only for the pin's own mode (a recursive
    // pin also holds a direct one): never for indirect pins, which walk every pinned DAG.
    if (record === undefined || !isAllocatedTo(record, this.c.self)) return this.info(cid, this.computed(record, undefined))
    const types: readonly PinMode[] = record.mode === 'direct' ? ['direct', 'recursive'] : ['recursive']
    const held = await this.c.kubo.pinType(cid, { types, signal: options.signal })
    if (held !== undefined) this.setKuboPin(cid, held)
    else if (types.some(t => t === this.kuboPins.get(cid))) this.setKuboPin(cid, undefined)
    this.notify(cid)
    return this.info(cid, this.computed(record, held))
  }

  async waitStatus (cid: string, options: WaitStatusOptions): Promise<PinInfo> {
    const { signal } = options
    if (signal?.aborted === true) throw signal.reason
    const progressFrom = Date.now() + (options.progressDelayMs ?? 0)
    const news = (info: PinInfo): boolean => isNews(info, options, Date.now() >= progressFrom)
    const first = this.knownInfo(cid)
    if (news(first)) return first
    return await new Promise<PinInfo>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer)
        clearTimeout(progressTimer)
        signal?.removeEventListener('abort', onAbort)
        unwatch()
      }
      const watcher = (final: boolean): void => {
        const info = this.knownInfo(cid)
        if (final || news(info)) { done(); resolve(info) }
      }
      const onAbort = (): void => { done(); reject(signal?.reason) }
      const unwatch = this.watchers.add(cid, watcher)
      const timer = setTimeout(() => { watcher(true) }, Math.max(0, options.timeoutMs))
      // Progress made during the delay is reported when it ends.
      const progressTimer = options.progress === true && (options.progressDelayMs ?? 0) > 0 ? setTimeout(() => { watcher(false) }, options.progressDelayMs) : undefined
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Tells the waiters of `cid` that something changed. */
  private notify (cid: string): void {
    if (this.watchers.size > 0) this.watchers.emit(cid, false)
  }

  /** The status from the operation table and what this tracker knows Kubo holds, without asking Kubo. */
  private knownInfo (cid: string): PinInfo {
    const op = this.ops.get(cid)
    if (op !== undefined) return this.opInfo(op)
    return this.info(cid, this.computed(this.c.pinset.get(cid), this.kuboPins.get(cid)))
  }

  async * statusAll (options: { signal?: AbortSignal } = {}): AsyncIterable<PinInfo[]> {
    await this.refreshKuboPins(options)
    for await (const batch of this.c.pinset.scan(options)) yield batch.map(r => this.recordInfo(r))
  }

  async statusMany (cids: readonly string[], options: { refresh?: boolean, signal?: AbortSignal } = {}): Promise<PinInfo[]> {
    // Pages of status walks asked one after the other (a status page polled, metrics scraped) list Kubo's
    // pins at most every RELIST_BACKOFF times as long as a listing takes, and never less than RELIST_MIN_MS apart.
    const listed = this.lastListing
    const due = listed === undefined || this.now() - listed.at >= Math.max(RELIST_MIN_MS, listed.tookMs * RELIST_BACKOFF)
    if (!this.kuboPinsKnown || (options.refresh === true && due)) await this.refreshKuboPins(options)
    return cids.map((cid) => {
      const record = this.c.pinset.get(cid)
      return record !== undefined ? this.recordInfo(record) : this.knownInfo(cid)
    })
  }

  /** A pinset record's status from the operation table and the last Kubo listing. */
  private recordInfo (r: PinRecord): PinInfo {
    const op = this.ops.get(r.cid)
    return op !== undefined ? this.opInfo(op) : this.info(r.cid, this.computed(r, this.kuboPins.get(r.cid)))
  }

  async recover (cid: string, options: { signal?: AbortSignal } = {}): Promise<PinInfo> {
    const op = this.ops.get(cid)
    if (op?.phase === 'error') { clearTimeout(op.retryTimer); this.requeue(op) } else if (op === undefined) {
      const record = this.c.pinset.get(cid)
      if (record !== undefined) {
        const held = await this.c.kubo.pinType(cid, options)
        if (isAllocatedTo(record, this.c.self) && !satisfies(held, record.mode)) this.enqueue('pin', record)
        else if (!isAllocatedTo(record, this.c.self) && held !== undefined) this.enqueue('unpin', record)
      }
    }
    return await this.status(cid, options)
  }

  async recoverAll (options: { signal?: AbortSignal } = {}): Promise<number> {
    this.recovering ??= (async () => {
      try {
        await this.refreshKuboPins(options)
        let pins = 0
        let unpins = 0
        // A batch at a time: the operation table is the busy set, so what one batch queued is left
        // alone by the next, and a pin written meanwhile reaches the tracker through track().
        for await (const batch of this.c.pinset.scan(options)) {
          // Stopped during the walk: the operation table has been cleared, nothing more goes in.
          if (!this.started) break
          const actions = reconcile({ pins: batch, self: this.c.self, kubo: this.kuboPins, busy: this.ops })
          // A pin removed after its batch was read must not be pinned: its untrack has come and gone.
          for (const r of actions.pin) if (this.c.pinset.has(r.cid)) { this.enqueue('pin', r); pins++ }
          for (const r of actions.unpin) this.enqueue('unpin', r)
          unpins += actions.unpin.length
        }
        const now = this.now()
        for (const [cid, from] of this.unverified) {
          if (from > now) continue
          this.unverified.delete(cid)
          const held = this.kuboPins.get(cid)
          if (held !== undefined && held !== 'indirect' && !this.ops.has(cid) && !this.c.pinset.has(cid)) { this.enqueue('unpin', removedPin(cid, held)); unpins++ }
        }
        // Failed operations whose retry is due have their timers; nothing else to do here.
        if (pins + unpins > 0) this.log.info({ pin: pins, unpin: unpins }, 'recover pass queued operations')
        return pins + unpins
      } finally {
        this.recovering = undefined
      }
    })()
    return await this.recovering
  }

  private async refreshKuboPins (options: { signal?: AbortSignal }): Promise<void> {
    const started = this.now()
    const changed = new Map<string, KuboPinType | undefined>()
    this.listings.add(changed)
    try {
      const fresh = new Map<string, KuboPinType>()
      for await (const p of this.c.kubo.pinLs(options)) fresh.set(p.cid, p.type)
      // A pin or unpin that finished during the listing may be missing from it; forgetting a pin Kubo holds
      // would make a later untrack skip the unpin, and nothing else removes it.
      for (const [cid, type] of changed) {
        if (type === undefined) fresh.delete(cid)
        else fresh.set(cid, type)
      }
      this.kuboPins = fresh
      this.kuboPinsKnown = true
      this.lastListing = { at: this.now(), tookMs: this.now() - started }
    } finally {
      this.listings.delete(changed)
    }
  }

  private setKuboPin (cid: string, type: KuboPinType | undefined): void {
    if (type === undefined) this.kuboPins.delete(cid)
    else this.kuboPins.set(cid, type)
    for (const l of this.listings) l.set(cid, type)
  }

  /** `removed`: the record is gone from the pinset (otherwise reconcile still sees it). */
  private ensureUnpinned (record: PinRecord, removed: boolean): void {
    const op = this.ops.get(record.cid)
    if (op?.type === 'unpin' && op.phase !== 'error') return
    const held = this.kuboPins.get(record.cid)
    // A pin that never started (queued or failed) is dropped rather than turned into an unpin
    // that retries against an unreachable Kubo for ever. Kubo may hold it all the same (an
    // upload pins in Kubo directly; a failed pin may have been held from before): the next
    // recover pass looks.
    if (op?.type === 'pin' && op.phase !== 'running' && held === undefined) { this.drop(op); if (removed) this.unverify(record.cid); return }
    if (op === undefined && held === undefined) {
      // Before the first listing (just started), Kubo's pins are unknown, not absent.
      if (removed && !this.kuboPinsKnown) this.unverify(record.cid)
      return
    }
    this.enqueue('unpin', record)
  }

  pinnedByUpload (cids: readonly string[]): void {
    // Not before the pin has had time to arrive: the uploading peer records it once every destination answered.
    const from = this.now() + UPLOAD_GRACE_MS
    for (const cid of cids) this.unverify(cid, from)
  }

  private unverify (cid: string, from = 0): void {
    if (this.unverified.size < MAX_UNVERIFIED || this.unverified.has(cid)) { this.unverified.set(cid, Math.max(from, this.unverified.get(cid) ?? 0)); return }
    if (this.unverified.size === MAX_UNVERIFIED) this.log.warn({ max: MAX_UNVERIFIED }, 'too many removed pins to check in Kubo later; some may stay pinned there')
  }

  private enqueue (type: OpType, record: PinRecord): void {
    this.finished.delete(record.cid)
    const existing = this.ops.get(record.cid)
    if (existing !== undefined) {
      if (existing.type === type && existing.phase !== 'error') { existing.setPin(record); existing.requestedAt = record.updatedAt; return }
      // An operation of the other kind (or a failed one) is replaced; a running pin is cancelled.
      this.drop(existing)
    }
    const attempts = existing?.type === type ? existing.attempts : 0
    const op = new Operation(record.cid, type, record, attempts, this.now())
    op.requestedAt = record.updatedAt
    if (this.waiting >= this.init.maxQueueSize) {
      op.phase = 'error'
      op.error = new QueueFullError(`${type} operation queue is full (${this.init.maxQueueSize}); raise tracker.maxQueueSize`).message
      this.ops.set(op.cid, op)
      this.scheduleRetry(op)
      this.notify(op.cid)
      return
    }
    this.ops.set(op.cid, op)
    this.push(op, record.updatedAt)
  }

  /** `requestedAt`: the pin's updatedAt, for the priority lane (the operation's own if not given). */
  private push (op: Operation, requestedAt?: number): void {
    op.phase = 'queued'
    op.updatedAt = this.now()
    this.waiting++
    if (op.type === 'unpin') this.unpinLane.push(op)
    else {
      op.priority = isPriority({ updatedAt: requestedAt ?? op.requestedAt }, op.attempts, this.now(), this.init.priorityMaxAgeMs, this.init.priorityMaxRetries)
      ;(op.priority ? this.priorityLane : this.normalLane).push(op)
    }
    this.notify(op.cid)
    this.pump()
  }

  private requeue (op: Operation): void {
    if (this.ops.get(op.cid) !== op) return
    this.push(op)
  }

  private drop (op: Operation): void {
    if (op.phase === 'queued') this.waiting--
    op.controller?.abort()
    clearTimeout(op.retryTimer)
    // Marks the object stale: lanes skip operations that are no longer in the table.
    this.ops.delete(op.cid)
  }

  private next (): Operation | undefined {
    for (const lane of [this.priorityLane, this.unpinLane, this.normalLane]) {
      for (;;) {
        const op = lane.shift()
        if (op === undefined) break
        if (this.ops.get(op.cid) === op && op.phase === 'queued') return op
      }
    }
    return undefined
  }

  private pump (): void {
    while (this.started && this.running < this.init.concurrentPins) {
      const op = this.next()
      if (op === undefined) return
      this.waiting--
      this.running++
      void this.run(op).finally(() => { this.running--; this.pump() })
    }
  }

  private async run (op: Operation): Promise<void> {
    op.phase = 'running'
    op.attempts++
    op.updatedAt = this.now()
    op.controller = new AbortController()
    const signal = op.controller.signal
    this.notify(op.cid)
    try {
      if (op.type === 'pin') {
        op.progress = { nodes: 0, bytes: 0 }
        await this.c.kubo.pinAdd(op.cid, {
          mode: op.mode,
          name: op.name === '' ? undefined : op.name,
          noProgressTimeoutMs: this.init.pinTimeoutMs,
          onProgress: (nodes, bytes) => { op.progress = { nodes, bytes }; this.notify(op.cid) },
          signal
        })
        this.setKuboPin(op.cid, op.mode)
        if (this.ops.get(op.cid) === op && op.progress !== undefined && op.progress.nodes > 0) this.rememberFinished(op.cid, op.progress)
      } else {
        await this.c.kubo.pinRm(op.cid, { signal })
        this.setKuboPin(op.cid, undefined)
      }
      if (this.ops.get(op.cid) === op) this.ops.delete(op.cid)
      this.notify(op.cid)
      this.log.debug({ cid: op.cid, type: op.type }, 'operation done')
    } catch (err) {
      if (this.ops.get(op.cid) !== op || !this.started) return
      op.phase = 'error'
      op.error = (err as Error).message
      op.updatedAt = this.now()
      this.log.warn({ err, cid: op.cid, type: op.type, attempts: op.attempts }, 'operation failed, will retry')
      this.scheduleRetry(op)
      this.notify(op.cid)
    } finally {
      op.controller = undefined
    }
  }

  private rememberFinished (cid: string, progress: { nodes: number, bytes: number }): void {
    this.finished.delete(cid)
    this.finished.set(cid, progress)
    if (this.finished.size > MAX_FINISHED) this.finished.delete(this.finished.keys().next().value as string)
  }

  private scheduleRetry (op: Operation): void {
    const delay = retryDelay(op.attempts, this.init.retryMinMs, this.init.retryMaxMs)
    op.retryTimer = setTimeout(() => { this.requeue(op) }, delay)
    op.retryTimer.unref()
  }

  private computed (record: PinRecord | undefined, held: KuboPinType | undefined): TrackerStatus {
    if (record === undefined) return 'unpinned'
    if (!isAllocatedTo(record, this.c.self)) return 'remote'
    return satisfies(held, record.mode) ? 'pinned' : 'unexpectedly_unpinned'
  }

  private opInfo (op: Operation): PinInfo {
    const status: TrackerStatus = op.type === 'pin'
      ? (op.phase === 'queued' ? 'queued' : op.phase === 'running' ? 'pinning' : 'pin_error')
      : (op.phase === 'queued' ? 'unpin_queued' : op.phase === 'running' ? 'unpinning' : 'unpin_error')
    return {
      cid: op.cid,
      peer: this.c.self,
      status,
      ...(op.error !== undefined && op.phase === 'error' ? { error: op.error } : {}),
      attempts: op.attempts,
      priority: op.priority,
      ...(op.progress !== undefined && op.phase === 'running' ? { progress: op.progress } : {}),
      updatedAt: op.updatedAt
    }
  }

  /** A pin not in the operation table; a pinned one this tracker made lately carries Kubo's final count. */
  private info (cid: string, status: TrackerStatus): PinInfo {
    const done = status === 'pinned' ? this.finished.get(cid) : undefined
    return { cid, peer: this.c.self, status, attempts: 0, priority: false, ...(done !== undefined ? { progress: done } : {}), updatedAt: this.now() }
  }
}

/** Statuses on the way to pinned: not news for a waiter (see PinTracker.waitStatus). */
const ON_THE_WAY: ReadonlySet<TrackerStatus> = new Set(['unpinned', 'queued', 'pinning', 'unexpectedly_unpinned'])

function isNews (info: PinInfo, o: Pick<WaitStatusOptions, 'known' | 'progress'>, progressDue: boolean): boolean {
  if (info.status === 'pinned') return true
  const k = o.known
  if (ON_THE_WAY.has(info.status)) {
    if (o.progress !== true || !progressDue || info.progress === undefined) return false
    return info.progress.nodes !== (k?.progress?.nodes ?? 0) || info.progress.bytes !== (k?.progress?.bytes ?? 0)
  }
  if (k === undefined || k.status !== info.status) return true
  // The failure the caller has seen is not news; a later one (a retry failed) is.
  return info.status.endsWith('_error') && (info.updatedAt !== k.updatedAt || info.attempts !== k.attempts)
}

/** statusMany's `refresh` lists Kubo's pins anew no sooner than this after the last listing… */
const RELIST_MIN_MS = 1000
/** …nor sooner than this many times as long as that listing took. */
const RELIST_BACKOFF = 10

/** Removed or uploaded pins whose later check in Kubo is remembered (the CIDs only), at most. */
const MAX_UNVERIFIED = 10_000
/** How long after an upload its pins are left alone by the recover pass, waiting for the cluster pin. */
const UPLOAD_GRACE_MS = 30_000

/** Completed pins whose final Kubo progress is remembered, at most (the waiters of a pin ask within seconds). */
const MAX_FINISHED = 1024

/** What is left of a removed pin: enough for the unpin operation. */
function removedPin (cid: string, held: KuboPinType): PinRecord {
  return { cid, name: '', mode: held === 'direct' ? 'direct' : 'recursive', replicationMin: 0, replicationMax: 0, allocations: [], metadata: {}, createdAt: 0, updatedAt: 0, updatedBy: '' }
}
