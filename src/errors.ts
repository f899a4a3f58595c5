/**
 * Every error pinmesh raises on purpose. Callers branch on `err.name`, never on the message.
 * Wire shapes (Kubo's JSON on the proxy port, `{code, message}` on the admin API) are chosen
 * only at the edges, in proxy/kubo-errors.ts and api/errors.ts.
 */

export interface ErrorOptionsWithCause { cause?: unknown }

/** A configuration value is missing, malformed or out of range. `problems` lists every one by dotted key. */
export class InvalidConfigurationError extends Error {
  static readonly NAME = 'InvalidConfigurationError'
  override readonly name = InvalidConfigurationError.NAME
  readonly problems: readonly string[]
  constructor (problems: readonly string[], options?: ErrorOptionsWithCause) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`, options)
    this.problems = problems
  }
}

/** A request parameter is malformed (a bad option value, a missing argument). Maps to Kubo's 400. */
export class InvalidParametersError extends Error {
  static readonly NAME = 'InvalidParametersError'
  override readonly name = InvalidParametersError.NAME
}

/** The local Kubo could not be reached at all (refused, reset, DNS, connect timeout). */
export class KuboUnavailableError extends Error {
  static readonly NAME = 'KuboUnavailableError'
  override readonly name = KuboUnavailableError.NAME
  readonly url: string
  constructor (url: string, options?: ErrorOptionsWithCause) {
    const reason = options?.cause instanceof Error ? `: ${options.cause.message}` : ''
    super(`cannot reach kubo at ${url}${reason}`, options)
    this.url = url
  }
}

/** Kubo answered with an error. `kuboMessage` is Kubo's own text, kept verbatim. */
export class KuboApiError extends Error {
  static readonly NAME = 'KuboApiError'
  override readonly name = KuboApiError.NAME
  readonly path: string
  readonly status: number
  readonly kuboMessage: string
  readonly kuboCode: number
  constructor (path: string, status: number, kuboMessage: string, kuboCode = 0, options?: ErrorOptionsWithCause) {
    super(kuboMessage, options)
    this.path = path
    this.status = status
    this.kuboMessage = kuboMessage
    this.kuboCode = kuboCode
  }
}

/** A component was used before start() or after stop(). */
export class NotStartedError extends Error {
  static readonly NAME = 'NotStartedError'
  override readonly name = NotStartedError.NAME
}

/** The operation was cancelled through its AbortSignal. */
export class AbortError extends Error {
  static readonly NAME = 'AbortError'
  override readonly name = AbortError.NAME
  constructor (message = 'the operation was aborted', options?: ErrorOptionsWithCause) { super(message, options) }
}

/** Persisted state was written by an incompatible format version. */
export class InvalidDatastoreVersionError extends Error {
  static readonly NAME = 'InvalidDatastoreVersionError'
  override readonly name = InvalidDatastoreVersionError.NAME
}

/**
 * A pinset change could not be made durable on this peer's disk (disk full, I/O error), so it was
 * not acknowledged. The change stays in memory and is written (and replicated) once the disk
 * accepts writes again, like a request that timed out: it may still take effect.
 */
export class PinsetWriteError extends Error {
  static readonly NAME = 'PinsetWriteError'
  override readonly name = PinsetWriteError.NAME
}

/** A string is not a valid CID (or IPFS path where one is accepted). */
export class InvalidCidError extends Error {
  static readonly NAME = 'InvalidCidError'
  override readonly name = InvalidCidError.NAME
}

/** A pin is not in the cluster pinset. */
export class NotFoundError extends Error {
  static readonly NAME = 'NotFoundError'
  override readonly name = NotFoundError.NAME
}

/** Kubo made no progress fetching a pin's blocks within the no-progress timeout. */
export class KuboPinTimeoutError extends Error {
  static readonly NAME = 'KuboPinTimeoutError'
  override readonly name = KuboPinTimeoutError.NAME
}

/**
 * A request's deadline passed: Kubo's `timeout=` option, or pinmesh's own wait limit. `prefix`
 * is the command's prefix Kubo puts before Go's "context deadline exceeded" (`pin: ` for pin/add).
 */
export class DeadlineExceededError extends Error {
  static readonly NAME = 'DeadlineExceededError'
  override readonly name = DeadlineExceededError.NAME
  constructor (prefix = '') { super(`${prefix}context deadline exceeded`) }
}

/** Fewer peers are available than a pin's replicationMin needs. */
export class InsufficientPeersError extends Error {
  static readonly NAME = 'InsufficientPeersError'
  override readonly name = InsufficientPeersError.NAME
  readonly needed: number
  readonly wanted: number
  readonly available: number
  constructor (needed: number, wanted: number, available: number) {
    super(`not enough peers to allocate CID. Needed at least: ${needed}. Wanted at most: ${wanted}. Available candidates: ${available}`)
    this.needed = needed
    this.wanted = wanted
    this.available = available
  }
}

/** The tracker's queue is full. */
export class QueueFullError extends Error {
  static readonly NAME = 'QueueFullError'
  override readonly name = QueueFullError.NAME
}

/** A call to another peer failed there, or could not reach it. `peer` is the callee. */
export class RpcError extends Error {
  static readonly NAME = 'RpcError'
  override readonly name = RpcError.NAME
  readonly peer: string
  constructor (peer: string, message: string, options?: ErrorOptionsWithCause) {
    super(message, options)
    this.peer = peer
  }
}

export function isErrorNamed (err: unknown, name: string): err is Error {
  return err instanceof Error && err.name === name
}

/** A peer could not be dialled (unreachable, wrong cluster secret, timed out). `address` is what was dialled. */
export class PeerDialError extends Error {
  static readonly NAME = 'PeerDialError'
  override readonly name = PeerDialError.NAME
  readonly address: string
  constructor (address: string, options?: ErrorOptionsWithCause) {
    const reason = options?.cause instanceof Error ? `: ${options.cause.message}` : ''
    super(`cannot connect to ${address}${reason}`, options)
    this.address = address
  }
}

/** `pinmesh init` found an existing config or identity and refuses to overwrite it. `file` is the one found. */
export class AlreadyInitializedError extends Error {
  static readonly NAME = 'AlreadyInitializedError'
  override readonly name = AlreadyInitializedError.NAME
  readonly file: string
  constructor (file: string, options?: ErrorOptionsWithCause) {
    super(`${file} already exists; refusing to overwrite it (remove it first, or use another --path)`, options)
    this.file = file
  }
}

/** A catch-up peer's pinset has another shard count than this one's; the two cannot sync. */
export class ShardCountMismatchError extends Error {
  static readonly NAME = 'ShardCountMismatchError'
  override readonly name = ShardCountMismatchError.NAME
  readonly mine: number
  readonly theirs: number
  constructor (mine: number, theirs: number, options?: ErrorOptionsWithCause) {
    super(`this peer's pinset has ${mine} shards, the other peer's ${theirs}: peers must use the same pinset.shards`, options)
    this.mine = mine
    this.theirs = theirs
  }
}
