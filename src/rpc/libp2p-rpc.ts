import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Libp2p, Stream, Connection } from '@libp2p/interface'
import type { Logger } from '../logger.js'
import { RpcError } from '../errors.js'
import type { Rpc, RpcMethod } from './types.js'
import { STREAM_READ_BUFFER_BYTES } from '../net/index.js'
import { withTimeout } from '../utils/signals.js'

export const RPC_PROTOCOL = '/pinmesh/rpc/1.0.0'
const MAX_MESSAGE = 64 << 20
/**
 * Calls open at once per connection and direction. libp2p's default (32 in, 64 out) is too few:
 * every pin a client waits for holds one long-poll (`tracker.waitStatus`) to each allocated peer.
 */
const MAX_STREAMS = 512

export interface Libp2pRpcComponents {
  libp2p: Libp2p
  logger: Logger
  /** Whether a peer id is trusted (cluster.trustedPeers). */
  isTrusted: (peer: string) => boolean
}

export interface Libp2pRpcInit {
  /** Default timeout of a call. @default 30000 */
  timeoutMs?: number
}

/** Rpc over libp2p streams: one length-prefixed JSON request `{m, p}` and one response `{r}` or `{e}`. */
export class Libp2pRpc implements Rpc {
  private readonly c: Libp2pRpcComponents
  private readonly timeoutMs: number
  private readonly methods = new Map<string, RpcMethod>()
  private started = false

  constructor (components: Libp2pRpcComponents, init: Libp2pRpcInit = {}) {
    this.c = components
    this.timeoutMs = init.timeoutMs ?? 30_000
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
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.c.libp2p.unhandle(RPC_PROTOCOL).catch(() => {})
  }

  async call<T> (peer: string, name: string, params: unknown, options: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<T> {
    const signal = withTimeout([options.signal], options.timeoutMs ?? this.timeoutMs)
    try {
      return await this.callWith<T>(peer, name, params, signal)
    } finally {
      signal.clear()
    }
  }

  private async callWith<T> (peer: string, name: string, params: unknown, signal: AbortSignal): Promise<T> {
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
      await lp.write(new TextEncoder().encode(JSON.stringify({ m: name, p: params })), { signal })
      const reply = JSON.parse(new TextDecoder().decode((await lp.read({ signal })).subarray())) as { r?: T, e?: string }
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
    const signal = AbortSignal.timeout(this.timeoutMs * 4)
    const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE, maxBufferSize: STREAM_READ_BUFFER_BYTES })
    let reply: { r?: unknown, e?: string }
    try {
      const req = JSON.parse(new TextDecoder().decode((await lp.read({ signal })).subarray())) as { m: string, p: unknown }
      const method = this.methods.get(req.m)
      if (method === undefined) reply = { e: `no such method ${req.m}` }
      else if (method.policy === 'closed' || (method.policy === 'trusted' && !this.c.isTrusted(caller))) reply = { e: `${req.m}: not authorized for ${caller}` }
      else reply = { r: await method.handle(req.p, caller, { signal }) }
    } catch (err) {
      reply = { e: (err as Error).message }
    }
    await lp.write(new TextEncoder().encode(JSON.stringify(reply)), { signal })
    await stream.close({ signal }).catch(() => {})
  }
}
