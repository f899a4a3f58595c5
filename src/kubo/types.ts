import type { PinMode } from '../types.js'

export interface KuboCallOptions { signal?: AbortSignal }

/** How Kubo holds a CID: the `Type` of its `pin/ls`. */
export type KuboPinType = 'recursive' | 'direct' | 'indirect'

export interface KuboPin { cid: string, type: KuboPinType, name?: string }

export interface KuboIdentity {
  /** Kubo's peer id. */
  id: string
  /** Kubo's swarm addresses as it reports them (with or without /p2p/). */
  addresses: string[]
  agentVersion: string
}

export interface KuboRepoStat {
  repoSize: number
  storageMax: number
  numObjects: number
}

export interface PinAddOptions extends KuboCallOptions {
  mode: PinMode
  name?: string
  /** Called with Kubo's progress (`{"Progress":nodes,"Bytes":bytes}` lines). */
  onProgress?: (nodes: number, bytes: number) => void
  /**
   * The pin is abandoned (KuboPinTimeoutError) when no progress arrives for this long.
   * Kubo reports progress about every 500 ms while it fetches blocks. 0 disables.
   */
  noProgressTimeoutMs?: number
}

/**
 * pinmesh's own calls to its Kubo (the proxy's pass-through does not use this).
 * Errors: KuboUnavailableError when Kubo cannot be reached; KuboApiError with Kubo's own
 * message otherwise; KuboPinTimeoutError for a pin without progress; AbortError when the
 * signal fires. Idempotent where Kubo is not: pinning a pinned CID and unpinning an unpinned
 * one succeed.
 */
export interface KuboClient {
  id (options?: KuboCallOptions): Promise<KuboIdentity>
  /** Kubo's version string, e.g. `0.42.0`. */
  version (options?: KuboCallOptions): Promise<string>
  pinAdd (cid: string, options: PinAddOptions): Promise<void>
  /** Unpins; a CID that is not pinned (or only indirectly) is not an error. */
  pinRm (cid: string, options?: KuboCallOptions & { mode?: PinMode }): Promise<void>
  /** Every recursive and direct pin (streamed; not indirect ones). */
  pinLs (options?: KuboCallOptions): AsyncIterable<KuboPin>
  /** How Kubo holds one CID, or undefined if it does not. */
  pinType (cid: string, options?: KuboCallOptions): Promise<KuboPinType | undefined>
  /** `pin/update` from → to (recursive pins). */
  pinUpdate (from: string, to: string, options?: KuboCallOptions & { unpin?: boolean }): Promise<void>
  repoStat (options?: KuboCallOptions): Promise<KuboRepoStat>
  /** Runs `repo/gc`; yields each removed CID, or an error text per failed key. */
  repoGc (options?: KuboCallOptions): AsyncIterable<{ cid?: string, error?: string }>
  /** Connects Kubo to these swarm addresses (ending in /p2p/<id>); failures per address are ignored. */
  swarmConnect (addresses: readonly string[], options?: KuboCallOptions): Promise<void>
  /** Resolves an IPFS/IPNS path or CID string to the root CID Kubo would pin. */
  resolve (path: string, options?: KuboCallOptions): Promise<string>
}
