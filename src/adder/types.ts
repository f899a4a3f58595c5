import type { IncomingHttpHeaders } from 'node:http'

/** Kubo's answer head from one destination. */
export interface DestinationHead { status: number, headers: IncomingHttpHeaders, rawHeaders: string[] }

/**
 * One Kubo the upload is streamed into: this peer's over HTTP, another peer's through that
 * peer's pinmesh over libp2p. The request body goes in with `write` (resolving when the
 * destination can take more, which is how the slowest destination paces the upload) and
 * `end`; the answer comes out of `head`, `body` and, after the body, `trailers`.
 */
export interface AddDestination {
  readonly peer: string
  write (chunk: Uint8Array): Promise<void>
  end (): Promise<void>
  abort (reason: Error): void
  readonly head: Promise<DestinationHead>
  /** The response body, chunk by chunk. */
  body (): AsyncIterable<Uint8Array>
  /** Response trailers (`x-stream-error`), once the body has ended. */
  trailers (): Record<string, string>
}

/** Opens a destination for one upload (`command` is `add` or `dag/import`, `query` Kubo's query string). */
export type OpenDestination = (peer: string, command: string, query: string, contentType: string, signal: AbortSignal) => Promise<AddDestination>
