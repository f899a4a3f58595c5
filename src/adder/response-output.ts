import type { ServerResponse } from 'node:http'
import type { FanoutOutput } from './fanout.js'

// Hop-by-hop headers belong to the connection to Kubo, not to the client's.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'proxy-connection'])

/**
 * Relays the heard destination's answer into an HTTP response: Kubo's status and end-to-end
 * headers (flushed at once, as Kubo does for its streaming commands), then its lines, waiting
 * for the client to drain. Lines for a client that has gone are dropped.
 */
export function responseOutput (res: ServerResponse): FanoutOutput {
  return {
    head: (h) => {
      const headers: string[] = []
      for (let i = 0; i + 1 < h.rawHeaders.length; i += 2) {
        if (!HOP_BY_HOP.has((h.rawHeaders[i] as string).toLowerCase())) headers.push(h.rawHeaders[i] as string, h.rawHeaders[i + 1] as string)
      }
      res.writeHead(h.status, headers)
      res.flushHeaders()
    },
    line: async (line) => {
      if (res.destroyed) return
      if (!res.write(line)) await new Promise<void>((resolve) => { res.once('drain', resolve); res.once('close', resolve) })
    }
  }
}
