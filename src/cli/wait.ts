import type { GlobalPinInfo } from '../cluster/index.js'
import { formatDuration } from '../utils/duration.js'

/** `--wait` ended without every allocated peer pinned: a peer failed, or the time ran out. `info` is the last status seen. */
export class WaitError extends Error {
  static readonly NAME = 'WaitError'
  override readonly name = WaitError.NAME
  readonly info: GlobalPinInfo | undefined
  /** Peer id → name, to print `info` with. */
  readonly names: ReadonlyMap<string, string>
  constructor (message: string, info: GlobalPinInfo | undefined, names: ReadonlyMap<string, string> = new Map()) {
    super(message)
    this.info = info
    this.names = names
  }
}

/** Statuses that end a wait at once, as ipfs-cluster-ctl's `--wait` does. */
const FAILED = new Set(['pin_error', 'cluster_error', 'unpin_error'])
/** Statuses that count as done: pinned here, or not allocated here. */
const DONE = new Set(['pinned', 'remote'])

export type PinProgress = { state: 'done' } | { state: 'pending' } | { state: 'failed', peer: string, status: string, error: string }

/**
 * Where a pin stands for `--wait`: done once every allocated peer (every listed peer when the pin
 * goes everywhere) is pinned; failed as soon as one reports pin_error, unpin_error or cluster_error.
 */
export function pinProgress (info: GlobalPinInfo): PinProgress {
  const entries = Object.entries(info.peerMap)
  for (const [peer, i] of entries) {
    if (FAILED.has(i.status)) return { state: 'failed', peer, status: i.status, error: i.error ?? '' }
  }
  if (entries.length === 0) return { state: 'pending' }
  for (const peer of info.allocations) {
    if (info.peerMap[peer]?.status !== 'pinned') return { state: 'pending' }
  }
  if (!entries.every(([, i]) => DONE.has(i.status))) return { state: 'pending' }
  if (!entries.some(([, i]) => i.status === 'pinned')) return { state: 'pending' }
  return { state: 'done' }
}

export interface WaitOptions {
  /** Give up after this long; 0 or undefined waits without limit. */
  timeoutMs?: number
  /** Time between two status requests. @default 500 */
  intervalMs?: number
  signal?: AbortSignal
  /** Called with every status seen (e.g. to redraw a line). */
  onStatus?: (info: GlobalPinInfo) => void
  /** Peer id → name, for error messages. */
  names?: ReadonlyMap<string, string>
  /** For tests. */
  sleep?: (ms: number) => Promise<void>
  now?: () => number
}

/**
 * Polls `status(cid)` (GET /pins/{cid}) until the pin is done (see pinProgress) and resolves with the
 * last status. Rejects with WaitError on a failed peer or the timeout; admin API errors propagate.
 */
export async function waitPinned (status: (cid: string, o: { signal?: AbortSignal }) => Promise<GlobalPinInfo>, cid: string, options: WaitOptions = {}): Promise<GlobalPinInfo> {
  const now = options.now ?? Date.now
  const sleep = options.sleep ?? (async (ms: number) => { await new Promise(resolve => setTimeout(resolve, ms)) })
  const deadline = options.timeoutMs !== undefined && options.timeoutMs > 0 ? now() + options.timeoutMs : Infinity
  let last: GlobalPinInfo | undefined
  for (;;) {
    options.signal?.throwIfAborted()
    last = await status(cid, { signal: options.signal })
    options.onStatus?.(last)
    const p = pinProgress(last)
    if (p.state === 'done') return last
    if (p.state === 'failed') {
      const who = options.names?.get(p.peer) ?? p.peer
      throw new WaitError(`${cid} is ${p.status} on ${who}${p.error !== '' ? `: ${p.error}` : ''}`, last, options.names)
    }
    if (now() >= deadline) {
      throw new WaitError(`${cid} was not pinned on every allocated peer within ${formatDuration(options.timeoutMs ?? 0)}`, last, options.names)
    }
    await sleep(Math.min(options.intervalMs ?? 500, Math.max(0, deadline - now())))
  }
}
