import type { ServerResponse } from 'node:http'
import { KUBO_COMMAND_HEADERS, goJson, endWithStreamError } from './kubo-errors.js'

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
