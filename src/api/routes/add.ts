import type { Cluster } from '../../cluster/index.js'
import type { Route } from '../router.js'

// Hop-by-hop headers belong to the connection to Kubo, not to the client's.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'proxy-connection'])

/**
 * `POST /add`: the same request and answer as the proxy's `/api/v0/add` (Kubo's multipart body,
 * Kubo's and the cluster's query options, Kubo's NDJSON with the X-Stream-Error trailer), for
 * the `pinmesh add` command.
 */
export function addRoutes (cluster: Cluster): Route[] {
  return [{
    method: 'POST',
    path: '/add',
    handle: async ({ req, res, signal }) => {
      const query = (req.url ?? '').split('?')[1] ?? ''
      try {
        const { result } = await cluster.upload({ command: 'add', query, contentType: req.headers['content-type'] ?? '', body: req, signal }, {
          head: (h) => {
            const headers: string[] = []
            for (let i = 0; i + 1 < h.rawHeaders.length; i += 2) {
              if (!HOP_BY_HOP.has((h.rawHeaders[i] as string).toLowerCase())) headers.push(h.rawHeaders[i] as string, h.rawHeaders[i + 1] as string)
            }
            res.writeHead(h.status, headers)
            res.flushHeaders()
          },
          line: async (line) => {
            if (!res.write(line)) await new Promise<void>((resolve) => { res.once('drain', resolve); res.once('close', resolve) })
          }
        })
        if (result.streamError !== undefined) res.addTrailers({ 'X-Stream-Error': result.streamError.replace(/[\r\n]+/g, ' ') })
      } catch (err) {
        if (!res.headersSent) throw err
        res.addTrailers({ 'X-Stream-Error': (err as Error).message.replace(/[\r\n]+/g, ' ') })
      }
      res.end()
    }
  }]
}
