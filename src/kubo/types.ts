import type { PinMode } from '../types.js'

export interface KuboCallOptions { signal?: AbortSignal }

/** How Kubo holds a CID: the `Type` of its `pin/ls`. */
export type KuboPinType = 'recursive' | 'direct' | 'indirect'

/** One pin as `pin/ls` lists it: the CID in Kubo's encoding (CIDv0 `Qm…`, CIDv1 base32), and its name if it has one. */
export interface KuboPin { cid: string, type: KuboPinType, name?: string }

/**
 * How `pin/ls?arg=<cid>&type=<type>` finds one CID: its type, its name (recursive and direct pins)
 * and, for an indirect pin, the recursive pin it is held through (`indirect through <via>`).
 */
export interface KuboPinCheck { type: KuboPinType, name?: string, via?: string }

export interface KuboIdentity {
  /** Kubo's peer id. */
  id: string
  /** Kubo's swarm addresses as it reports them (with or without /p2p/). */
  addresses: string[]
  agentVersion: string
}

/** Byte counts are clamped to Number.MAX_SAFE_INTEGER (an unlimited StorageMax is 2^64-1). */
export interface KuboRepoStat {
  repoSize: number
  storageMax: number
  /** 0 when blocks were not counted (`sizeOnly`, the default: counting is slow on big repos). */
  numObjects: number
  /** Only when blocks were counted (`sizeOnly: false`), as Kubo reports them. */
  repoPath?: string
  version?: string
}

export interface PinAddOptions extends KuboCallOptions {
  mode: PinMode
  name?: string
  /** Called with Kubo's progress (`{"Progress":nodes,"Bytes":bytes}` lines), only when a counter grew. */
  onProgress?: (nodes: number, bytes: number) => void
  /**
   * The pin is abandoned (KuboPinTimeoutError) when no progress arrives for this long.
   * Kubo reports progress about every 500 ms while it fetches blocks (and sends `{}` lines while
   * it finds nothing; those do not count). 0 disables. @default 0
   */
  noProgressTimeoutMs?: number
}

/**
 * pinmesh's own calls to its Kubo (the proxy's pass-through does not use this).
 * Errors: KuboUnavailableError when Kubo cannot be reached (or drops the connection);
 * KuboApiError with Kubo's own message otherwise (status 200 for an error Kubo reported
 * mid-stream); KuboPinTimeoutError for a pin without progress; a `TimeoutError` for a call past
 * the implementation's request timeout; the signal's reason when the signal fires (an
 * AbortError for a plain `abort()`). Idempotent where Kubo is not: pinning a pinned CID and
 * unpinning an unpinned one succeed.
 */
export interface KuboClient {
  id (options?: KuboCallOptions): Promise<KuboIdentity>
  /** Kubo's version string, e.g. `0.42.0`. */
  version (options?: KuboCallOptions): Promise<string>
  /**
   * Pins `cid` (a CID or an /ipfs/ path) and resolves once Kubo holds it. Pinning a pinned CID again
   * succeeds (and renames it if `name` differs). A recursive pin of a CID pinned directly upgrades it
   * (Kubo replaces the direct pin). A direct pin of a CID pinned recursively succeeds and leaves the
   * recursive pin in place: it holds the block already (downgrade with pinRm `mode: 'recursive'` first).
   * No request timeout applies: only `noProgressTimeoutMs` and the signal end a pin.
   */
  pinAdd (cid: string, options: PinAddOptions): Promise<void>
  /**
   * Unpins; a CID that is not pinned (or only indirectly) is not an error. Without `mode`, or with
   * 'recursive', a direct or a recursive pin is removed; `mode: 'direct'` removes only a direct pin
   * and fails (KuboApiError `<cid> is pinned recursively`) on a recursive one, as Kubo does.
   */
  pinRm (cid: string, options?: KuboCallOptions & { mode?: PinMode }): Promise<void>
  /** Every recursive pin, then every direct pin, with names (streamed; not indirect ones). Breaking out early ends the request. */
  pinLs (options?: KuboCallOptions): AsyncIterable<KuboPin>
  /**
   * Whether Kubo pins one CID itself: the first of `types` (@default ['recursive', 'direct']) it
   * holds the CID with, else undefined. A CID held only through a parent's recursive pin
   * (indirectly) is undefined: looking for indirect pins walks every pinned DAG in Kubo, under a
   * lock that `pin/add` waits for, so it is never asked (one typed `pin/ls` per type instead).
   */
  pinType (cid: string, options?: KuboCallOptions & { types?: readonly PinMode[] }): Promise<PinMode | undefined>
  /**
   * Kubo's own check of one CID (`pin/ls?arg=<cid>&type=<type>&names=true`): undefined when it is
   * not pinned as `type` asks. As in Kubo, `indirect` and `all` walk every recursive pin's DAG
   * when the CID is not pinned directly or recursively, and `indirect` does not count a CID that
   * is itself pinned recursively.
   */
  pinCheck (cid: string, options: KuboCallOptions & { type: KuboPinType | 'all' }): Promise<KuboPinCheck | undefined>
  /**
   * Every indirect pin (`pin/ls?type=indirect`, streamed): the CIDs below a recursive pin that are
   * not pinned themselves. Walks every recursive pin's DAG, as Kubo does.
   */
  indirectPins (options?: KuboCallOptions): AsyncIterable<string>
  /**
   * Every CID below `cid` (`refs -r -u`), read from this Kubo's own blockstore only: a block it
   * does not have fails the walk (KuboApiError) instead of being fetched.
   */
  refs (cid: string, options?: KuboCallOptions): AsyncIterable<string>
  /**
   * `pin/update` from → to (recursive pins), `unpin` (@default true) removing `from`. Safe to repeat:
   * if `to` is pinned recursively already, `from` is just unpinned (with `unpin`); if `from` is gone
   * and `to` pinned, there is nothing left to do. Bounded by the request timeout, not by progress.
   */
  pinUpdate (from: string, to: string, options?: KuboCallOptions & { unpin?: boolean }): Promise<void>
  /** Kubo's repo/stat; `sizeOnly` (default true) skips counting blocks. */
  repoStat (options?: KuboCallOptions & { sizeOnly?: boolean }): Promise<KuboRepoStat>
  /** Runs `repo/gc`; yields each removed CID, or an error text per failed key. */
  repoGc (options?: KuboCallOptions): AsyncIterable<{ cid?: string, error?: string }>
  /** Connects Kubo to these swarm addresses (ending in /p2p/<id>); failures per address are ignored. */
  swarmConnect (addresses: readonly string[], options?: KuboCallOptions): Promise<void>
  /**
   * Resolves an IPFS/IPNS path or CID string to the root CID Kubo would pin. A malformed CID is an
   * InvalidCidError; with `strict`, the argument is read exactly as Kubo reads a command's path
   * argument (no trimming, no `ipfs://` URLs) and a malformed one fails with Kubo's own
   * KuboApiError (`invalid path "<arg>": …`).
   */
  resolve (path: string, options?: KuboCallOptions & { strict?: boolean }): Promise<string>
}
