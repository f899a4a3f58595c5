import type { Startable } from '../lifecycle.js'

/** Who may call a method: anyone with the cluster secret, trusted peers only, or this peer only. */
export type RpcPolicy = 'open' | 'trusted' | 'closed'

/** A method served to other peers. `params` and the result are plain JSON. */
export interface RpcMethod {
  policy: RpcPolicy
  /**
   * The longest this method may run when another peer calls it. The handler's signal aborts at
   * the caller's own deadline (sent with the call) or at this cap, whichever comes first. Set it
   * for methods whose callers allow long waits (a remote `repo/gc` may take hours).
   * @default the Rpc's serveTimeoutMs
   */
  maxMs?: number
  handle (params: unknown, caller: string, options: { signal: AbortSignal }): Promise<unknown>
}

/**
 * Request/response calls between pinmesh peers over one libp2p stream per call, for the few
 * things that really happen on another peer (its tracker's status, its Kubo's repo figures, a
 * recover). Errors come back as RpcError with the remote message.
 */
export interface Rpc extends Startable {
  register (name: string, method: RpcMethod): void
  /**
   * `channel`: send the call on the one long-lived stream to that peer, shared with other such
   * calls, instead of a stream of its own: for many small, concurrent, possibly long calls
   * (long-polls); answers must stay under 1 MiB. Aborting the call tells the peer to abort it too.
   */
  call<T> (peer: string, name: string, params: unknown, options?: { signal?: AbortSignal, timeoutMs?: number, channel?: boolean }): Promise<T>
}
