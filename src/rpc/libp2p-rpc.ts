import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Libp2p, Stream, Connection } from '@libp2p/interface'
import type { Logger } from '../logger.js'
import { RpcError } from '../errors.js'
import type { Rpc, RpcMethod } from './types.js'
import { STREAM_READ_BUFFER_BYTES } from '../net/index.js'
import { withTimeout } from '../utils/signals.js'

export const RPC_PROTOCOL = '/pinmesh/rpc/1.0.0'
/** One long-lived stream per pair of peers carrying many small calls at once (`channel: true`). */
export const RPC_CHANNEL_PROTOCOL = '/pinmesh/rpc-channel/1.0.0'
const MAX_MESSAGE = 64 << 20
/** A call on the channel and its answer stay small: big answers take a stream of their own. */
const MAX_CHANNEL_MESSAGE = 1 << 20
/** Calls open at once per connection and direction (libp2p's default is 32 in, 64 out). */
const MAX_STREAMS = 512
/** Calls one peer may have running at once on its channel; more are refused, not queued. */
const MAX_CHANNEL_CALLS = 4096

interface Channel {
  lp: ReturnType<typeof lpStream>
  stream: Stream
  pending: Map<number, { resolve: (v: unknown) => void, reject: (err: Error) => void }>
  nextId: number
}

export interface Libp2pRpcComponents {
  libp2p: Libp2p
  logger: Logger
  /** Whether a peer id is trusted (cluster.trustedPeers). */
  isTrusted: (peer: string) => boolean
}

export interface Libp2pRpcInit {
  /** Default timeout of a call, and how long a caller has to send its request. @default 30000 */
  timeoutMs?: number
  /** How long a served call may run, for methods without their own `maxMs`. @default 4 × timeoutMs */
  serveTimeoutMs?: number
}

/**
 * Rpc over libp2p streams: one length-prefixed JSON request `{m, p, t}` and one response `{r}` or
 * `{e}`. `t` is the caller's timeout in ms, so that the server gives up when the caller does, and
 * not before (within the method's cap).
 */
export class Libp2pRpc implements Rpc {
  private readonly c: Libp2pRpcComponents
  private readonly timeoutMs: number
  private readonly serveTimeoutMs: number
  private readonly methods = new Map<string, RpcMethod>()
  private readonly channels = new Map<string, Promise<Channel>>()
  /** Channel streams opened by other peers, closed on stop. */
  private readonly served = new Set<Stream>()
  private started = false

  constructor (components: Libp2pRpcComponents, init: Libp2pRpcInit = {}) {
    this.c = components
    this.timeoutMs = init.timeoutMs ?? 30_000
    this.serveTimeoutMs = init.serveTimeoutMs ?? this.timeoutMs * 4
  }

  register (name: string, method: RpcMethod): void { this.methods.set(name, method) }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    await this.c.libp2p.handle(RPC_PROTOCOL, (stream: Stream, connection: Connection) => {
      this.serve(stream, connection.remotePeer.toString()).catch((err: unknown) => {
        this.c.logger.debug({ err }, 'rpc stream failed')
      })
    }, { maxInboundStreams: MAX_STREAMS, maxOutboundStreams: MAX_STREAMS })
    await this.c.libp2p.handle(RPC_CHANNEL_PROTOCOL, (stream: Stream, connection: Connection) => {
      this.serveChannel(stream, connection.remotePeer.toString()).catch((err: unknown) => {
        this.c.logger.debug({ err }, 'rpc channel failed')
      })
    })
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.c.libp2p.unhandle(RPC_PROTOCOL).catch(() => {})
    await this.c.libp2p.unhandle(RPC_CHANNEL_PROTOCOL).catch(() => {})
    for (const stream of this.served) stream.abort(new Error('rpc stopped'))
    this.served.clear()
    for (const ch of this.channels.values()) void ch.then(c => { c.stream.abort(new Error('rpc stopped')) }, () => {})
    this.channels.clear()
  }

  async call<T> (peer: string, name: string, params: unknown, options: { signal?: AbortSignal, timeoutMs?: number, channel?: boolean } = {}): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs
    const signal = withTimeout([options.signal], timeoutMs)
    try {
      if (options.channel === true && peer !== this.c.libp2p.peerId.toString()) return await this.callOnChannel<T>(peer, name, params, timeoutMs, signal)
      return await this.callWith<T>(peer, name, params, timeoutMs, signal)
    } finally {
      signal.clear()
    }
  }

  private async callOnChannel<T> (peer: string, name: string, params: unknown, timeoutMs: number, signal: AbortSignal): Promise<T> {
    let ch: Channel
    try {
      ch = await this.channel(peer, signal)
    } catch (err) {
      signal.throwIfAborted()
      // A peer without the channel protocol (an older pinmesh) answers on a stream per call.
      if ((err as Error).name === 'UnsupportedProtocolError') return await this.callWith<T>(peer, name, params, timeoutMs, signal)
      throw new RpcError(peer, `cannot reach peer ${peer}: ${(err as Error).message}`, { cause: err })
    }
    const id = ch.nextId++
    return await new Promise<T>((resolve, reject) => {
      const done = (): void => { ch.pending.delete(id); signal.removeEventListener('abort', onAbort) }
      const onAbort = (): void => {
        done()
        // Tells the peer to stop the call (its handler's signal aborts).
        ch.lp.write(encode({ i: id, c: 1 })).catch(() => {})
        reject(new RpcError(peer, `call ${name} to ${peer} failed: ${(signal.reason as Error | undefined)?.message ?? 'aborted'}`, { cause: signal.reason }))
      }
      ch.pending.set(id, { resolve: (v) => { done(); resolve(v as T) }, reject: (err) => { done(); reject(err) } })
      signal.addEventListener('abort', onAbort, { once: true })
      if (signal.aborted) { onAbort(); return }
      ch.lp.write(encode({ i: id, m: name, p: params, t: timeoutMs })).catch((err: unknown) => {
        done()
        reject(new RpcError(peer, `call ${name} to ${peer} failed: ${(err as Error).message}`, { cause: err }))
      })
    })
  }

  /** The channel to `peer`, opened on first use and shared by every call; a failed one is opened again by the next call. */
  private async channel (peer: string, signal: AbortSignal): Promise<Channel> {
    let ch = this.channels.get(peer)
    if (ch === undefined) {
      const opening = this.openChannel(peer)
      ch = opening
      this.channels.set(peer, opening)
      opening.catch(() => { if (this.channels.get(peer) === opening) this.channels.delete(peer) })
    }
    const pending = ch
    return await new Promise<Channel>((resolve, reject) => {
      const onAbort = (): void => { reject(signal.reason) }
      signal.addEventListener('abort', onAbort, { once: true })
      pending.then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort) })
    })
  }

  private async openChannel (peer: string): Promise<Channel> {
    const stream = await this.c.libp2p.dialProtocol(peerIdFromString(peer), RPC_CHANNEL_PROTOCOL, { signal: AbortSignal.timeout(this.timeoutMs) })
    const ch: Channel = { stream, lp: lpStream(stream, { maxDataLength: MAX_CHANNEL_MESSAGE, maxBufferSize: STREAM_READ_BUFFER_BYTES }), pending: new Map(), nextId: 1 }
    const opened = this.channels.get(peer)
    void (async () => {
      try {
        for (;;) {
          const reply = decode((await ch.lp.read()).subarray()) as { i: number, r?: unknown, e?: string }
          const p = ch.pending.get(reply.i)
          if (reply.e !== undefined) p?.reject(new RpcError(peer, reply.e))
          else p?.resolve(reply.r)
        }
      } catch (err) {
        for (const p of [...ch.pending.values()]) p.reject(new RpcError(peer, `channel to ${peer} closed: ${(err as Error).message}`, { cause: err }))
        stream.abort(err as Error)
      } finally {
        if (opened !== undefined && this.channels.get(peer) === opened) this.channels.delete(peer)
      }
    })()
    return ch
  }

  private async callWith<T> (peer: string, name: string, params: unknown, timeoutMs: number, signal: AbortSignal): Promise<T> {
    if (peer === this.c.libp2p.peerId.toString()) {
      const m = this.methods.get(name)
      if (m === undefined) throw new RpcError(peer, `no such method ${name}`)
      return await m.handle(params, peer, { signal }) as T
    }
    let stream: Stream
    try {
      stream = await this.c.libp2p.dialProtocol(peerIdFromString(peer), RPC_PROTOCOL, { signal })
    } catch (err) {
      throw new RpcError(peer, `cannot reach peer ${peer}: ${(err as Error).message}`, { cause: err })
    }
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE, maxBufferSize: STREAM_READ_BUFFER_BYTES })
      await lp.write(encode({ m: name, p: params, t: timeoutMs }), { signal })
      const reply = decode((await lp.read({ signal })).subarray()) as { r?: T, e?: string }
      await stream.close({ signal }).catch(() => {})
      if (reply.e !== undefined) throw new RpcError(peer, reply.e)
      return reply.r as T
    } catch (err) {
      stream.abort(err as Error)
      if (err instanceof RpcError) throw err
      throw new RpcError(peer, `call ${name} to ${peer} failed: ${(err as Error).message}`, { cause: err })
    }
  }

  private async serve (stream: Stream, caller: string): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE, maxBufferSize: STREAM_READ_BUFFER_BYTES })
    let signal = AbortSignal.timeout(this.timeoutMs)
    let reply: { r?: unknown, e?: string }
    try {
      const req = decode((await lp.read({ signal })).subarray()) as { m: string, p: unknown, t?: unknown }
      reply = await this.dispatch(req, caller)
    } catch (err) {
      reply = { e: (err as Error).message }
    }
    // The call itself may have run for longer than the read's timeout.
    signal = AbortSignal.timeout(this.timeoutMs)
    await lp.write(encode(reply), { signal })
    await stream.close({ signal }).catch(() => {})
  }

  /**
   * Runs one call under the method's policy, until `signal` aborts, the caller's deadline (`t`) or
   * the method's cap (`maxMs`, else serveTimeoutMs) passes; its error becomes `{e}`.
   */
  private async dispatch (req: { m?: unknown, p?: unknown, t?: unknown }, caller: string, signal?: AbortSignal): Promise<{ r?: unknown, e?: string }> {
    const name = String(req.m)
    const method = this.methods.get(name)
    if (method === undefined) return { e: `no such method ${name}` }
    if (method.policy === 'closed' || (method.policy === 'trusted' && !this.c.isTrusted(caller))) return { e: `${name}: not authorized for ${caller}` }
    const bounded = withTimeout([signal], serveMs(method.maxMs ?? this.serveTimeoutMs, req.t))
    try {
      return { r: await method.handle(req.p, caller, { signal: bounded }) }
    } catch (err) {
      return { e: (err as Error).message }
    } finally {
      bounded.clear()
    }
  }

  /** Calls from one peer on its channel, run concurrently, each answered (`{i, r}` or `{i, e}`) when done. */
  private async serveChannel (stream: Stream, caller: string): Promise<void> {
    this.served.add(stream)
    const lp = lpStream(stream, { maxDataLength: MAX_CHANNEL_MESSAGE, maxBufferSize: STREAM_READ_BUFFER_BYTES })
    const running = new Map<number, AbortController>()
    try {
      for (;;) {
        const req = decode((await lp.read()).subarray()) as { i: number, m?: string, p?: unknown, t?: unknown, c?: number }
        if (req.c === 1) { running.get(req.i)?.abort(new Error('the caller cancelled the call')); continue }
        if (running.size >= MAX_CHANNEL_CALLS) { await lp.write(encode({ i: req.i, e: `too many calls in flight on the rpc channel (${MAX_CHANNEL_CALLS})` })); continue }
        const own = new AbortController()
        running.set(req.i, own)
        void this.dispatch(req, caller, own.signal).then(async (reply) => {
          running.delete(req.i)
          let bytes = encode({ i: req.i, ...reply })
          if (bytes.byteLength > MAX_CHANNEL_MESSAGE) bytes = encode({ i: req.i, e: `answer of ${String(req.m)} too large for the rpc channel` })
          await lp.write(bytes)
        }).catch(() => {})
      }
    } finally {
      for (const own of running.values()) own.abort(new Error('the rpc channel closed'))
      this.served.delete(stream)
      stream.abort(new Error('rpc channel ended'))
    }
  }
}

/** A served call runs until the caller's deadline (`t`, when it sent a sane one) or the cap. */
function serveMs (capMs: number, callerMs: unknown): number {
  return typeof callerMs === 'number' && Number.isFinite(callerMs) && callerMs > 0 ? Math.min(capMs, callerMs) : capMs
}

function encode (value: unknown): Uint8Array { return new TextEncoder().encode(JSON.stringify(value)) }
function decode (bytes: Uint8Array): unknown { return JSON.parse(new TextDecoder().decode(bytes)) }
