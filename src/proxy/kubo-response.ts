import type { ServerResponse } from 'node:http'
import { KUBO_COMMAND_HEADERS, goJson, endWithStreamError } from './kubo-errors.js'

/** Bytes gathered before a piece of a long value is written out. */
const PIECE_BYTES = 64 * 1024

/** One value, as go-ipfs-cmds' EmitOnce writes it (no X-Chunked-Output). */
export function sendKuboValue (res: ServerResponse, value: unknown): void {
  res.writeHead(200, { ...KUBO_COMMAND_HEADERS })
  res.end(goJson(value))
}

/**
 * A channel response (`X-Chunked-Output: 1`, one JSON value per line, flushed as it goes),
 * as go-ipfs-cmds writes repeated Emit calls. Errors after the first byte go in the trailer.
 */
export class KuboStream {
  private readonly res: ServerResponse

  constructor (res: ServerResponse) {
    this.res = res
    res.writeHead(200, { ...KUBO_COMMAND_HEADERS, 'X-Chunked-Output': '1' })
    res.flushHeaders()
  }

  /** Writes one value; resolves when the client can take more. */
  async emit (value: unknown): Promise<void> {
    if (this.res.destroyed) return
    if (!this.res.write(goJson(value))) {
      await new Promise<void>((resolve) => { this.res.once('drain', resolve); this.res.once('close', resolve) })
    }
  }

  end (): void { if (!this.res.writableEnded) this.res.end() }
  fail (message: string): void { endWithStreamError(this.res, message) }
}

/**
 * `{"Keys":{…}}` as go-ipfs-cmds' EmitOnce writes a Go map (keys sorted bytewise, `{}` when
 * empty), written a piece at a time with backpressure instead of as one string: the same bytes as
 * `sendKuboValue(res, { Keys })`, but a listing of millions of entries never becomes one string.
 * `entries` must be sorted by key already.
 */
export async function sendKuboKeys (res: ServerResponse, entries: Iterable<readonly [string, unknown]>): Promise<void> {
  res.writeHead(200, { ...KUBO_COMMAND_HEADERS })
  let piece = ''
  let first = true
  for (const [key, value] of entries) {
    piece += `${first ? '{"Keys":{' : ','}${goValue(key)}:${goValue(value)}`
    first = false
    if (piece.length >= PIECE_BYTES) {
      if (res.destroyed) return
      const ok = res.write(piece)
      piece = ''
      if (!ok) await new Promise<void>((resolve) => { res.once('drain', resolve); res.once('close', resolve) })
    }
  }
  res.end(first ? goJson({}) : `${piece}}}\n`)
}

/** One value as goJson writes it, without the newline. */
function goValue (value: unknown): string { return goJson(value).slice(0, -1) }
