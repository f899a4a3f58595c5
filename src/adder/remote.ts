import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Libp2p, Stream, Connection } from '@libp2p/interface'
import type { Logger } from '../logger.js'
import type { Startable } from '../lifecycle.js'
import type { AddDestination, DestinationHead } from './types.js'
import { STREAM_READ_BUFFER_BYTES } from '../net/index.js'

/** Streams an upload into another peer's Kubo through that peer's pinmesh. */
export const ADD_PROTOCOL = '/pinmesh/add/1.0.0'

const T_HEAD = 1
const T_DATA = 2
const T_END = 3
const T_ERROR = 4
const MAX_FRAME = 256 << 10

function frame (type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(1 + payload.length)
  f[0] = type
  f.set(payload, 1)
  return f
}
const json = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))
const parse = <T>(b: Uint8Array): T => JSON.parse(new TextDecoder().decode(b)) as T

export interface RemoteAddComponents {
  libp2p: Libp2p
  logger: Logger
  isTrusted: (peer: string) => boolean
  /** Opens this peer's own Kubo for an upload pushed by a trusted peer. */
  openLocal: (command: string, query: string, contentType: string, signal: AbortSignal) => Promise<AddDestination>
}

/**
 * Both ends of ADD_PROTOCOL. Caller: HEAD {command, query, contentType}, DATA…, END. Callee:
 * HEAD {status, rawHeaders}, DATA… (Kubo's answer body), END {trailers}, or ERROR {message}.
 * Only trusted peers may push content into this peer's Kubo.
 */
export class RemoteAdd implements Startable {
  private readonly c: RemoteAddComponents
  constructor (components: RemoteAddComponents) { this.c = components }

  async start (): Promise<void> {
    await this.c.libp2p.handle(ADD_PROTOCOL, (stream: Stream, connection: Connection) => {
      this.serve(stream, connection.remotePeer.toString()).catch((err: unknown) => {
        this.c.logger.debug({ err }, 'add stream failed')
      })
    })
  }

  async stop (): Promise<void> { await this.c.libp2p.unhandle(ADD_PROTOCOL).catch(() => {}) }

  /** Opens `peer`'s Kubo as a destination. */
  async open (peer: string, command: string, query: string, contentType: string, callerSignal: AbortSignal): Promise<AddDestination> {
    // One signal for every read and write of this destination: aborting it fails a write stuck on backpressure.
    const own = new AbortController()
    const signal = AbortSignal.any([callerSignal, own.signal])
    const stream = await this.c.libp2p.dialProtocol(peerIdFromString(peer), ADD_PROTOCOL, { signal })
    const lp = lpStream(stream, { maxDataLength: MAX_FRAME + 16, maxBufferSize: STREAM_READ_BUFFER_BYTES })
    await lp.write(frame(T_HEAD, json({ command, query, contentType })), { signal })
    const heads = Promise.withResolvers<DestinationHead>()
    heads.promise.catch(() => {})
    let trailers: Record<string, string> = {}
    const chunks: Array<Uint8Array | Error | null> = []
    let wake: (() => void) | undefined
    const push = (x: Uint8Array | Error | null): void => { chunks.push(x); wake?.() }
    // Reads the callee's frames as they come, concurrently with our writes (full duplex).
    void (async () => {
      try {
        for (;;) {
          const f = (await lp.read({ signal })).subarray()
          const type = f[0]
          const payload = f.subarray(1)
          if (type === T_HEAD) { const h = parse<{ status: number, rawHeaders: string[] }>(payload); heads.resolve({ status: h.status, rawHeaders: h.rawHeaders, headers: headersOf(h.rawHeaders) }) } else if (type === T_DATA) push(payload.slice())
          else if (type === T_END) { trailers = parse<Record<string, string>>(payload); push(null); break } else if (type === T_ERROR) { const e = new Error(parse<{ message: string }>(payload).message); heads.reject(e); push(e); break }
        }
        await stream.close({ signal }).catch(() => {})
      } catch (err) {
        heads.reject(err)
        push(err as Error)
        stream.abort(err as Error)
      }
    })()
    return {
      peer,
      async write (chunk) {
        for (let i = 0; i < chunk.length; i += MAX_FRAME) await lp.write(frame(T_DATA, chunk.subarray(i, i + MAX_FRAME)), { signal })
      },
      async end () { await lp.write(frame(T_END, new Uint8Array(0)), { signal }) },
      abort (reason) { own.abort(reason); stream.abort(reason) },
      head: heads.promise,
      async * body () {
        await heads.promise
        for (;;) {
          if (chunks.length === 0) await new Promise<void>((resolve) => { wake = resolve })
          wake = undefined
          const x = chunks.shift()
          if (x === null || x === undefined) return
          if (x instanceof Error) throw x
          yield x
        }
      },
      trailers: () => trailers
    }
  }

  private async serve (stream: Stream, caller: string): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: MAX_FRAME + 16, maxBufferSize: STREAM_READ_BUFFER_BYTES })
    const controller = new AbortController()
    const signal = controller.signal
    try {
      const first = (await lp.read({ signal })).subarray()
      if (first[0] !== T_HEAD) throw new Error('expected HEAD')
      if (!this.c.isTrusted(caller)) {
        this.c.logger.warn({ peer: caller }, 'refusing content pushed by an untrusted peer')
        await lp.write(frame(T_ERROR, json({ message: `peer ${caller} is not trusted to push content` })), { signal })
        await stream.close().catch(() => {})
        return
      }
      const h = parse<{ command: string, query: string, contentType: string }>(first.subarray(1))
      if (h.command !== 'add' && h.command !== 'dag/import') throw new Error(`unsupported command ${h.command}`)
      const dest = await this.c.openLocal(h.command, h.query, h.contentType, signal)
      const upload = (async () => {
        for (;;) {
          const f = (await lp.read({ signal })).subarray()
          if (f[0] === T_DATA) await dest.write(f.subarray(1))
          else if (f[0] === T_END) { await dest.end(); return }
          else throw new Error('unexpected frame')
        }
      })()
      upload.catch((err: unknown) => { dest.abort(err as Error) })
      const head = await dest.head
      await lp.write(frame(T_HEAD, json({ status: head.status, rawHeaders: head.rawHeaders })), { signal })
      for await (const chunk of dest.body()) {
        for (let i = 0; i < chunk.length; i += MAX_FRAME) await lp.write(frame(T_DATA, chunk.subarray(i, i + MAX_FRAME)), { signal })
      }
      await upload.catch(() => {})
      await lp.write(frame(T_END, json(dest.trailers())), { signal })
      await stream.close({ signal }).catch(() => {})
    } catch (err) {
      this.c.logger.warn({ err, peer: caller }, 'an upload pushed by a peer failed here')
      controller.abort(err)
      try { await lp.write(frame(T_ERROR, json({ message: (err as Error).message })), { signal: AbortSignal.timeout(1000) }) } catch { /* the stream is gone */ }
      stream.abort(err as Error)
    }
  }
}

function headersOf (raw: string[]): Record<string, string> {
  const h: Record<string, string> = {}
  for (let i = 0; i + 1 < raw.length; i += 2) h[(raw[i] as string).toLowerCase()] = raw[i + 1] as string
  return h
}
