import { responseOutput } from '../../adder/index.js'
import type { Cluster } from '../../cluster/index.js'
import type { Route } from '../router.js'

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
        const { result } = await cluster.upload({ command: 'add', query, contentType: req.headers['content-type'] ?? '', body: req, signal }, responseOutput(res))
        if (result.streamError !== undefined) res.addTrailers({ 'X-Stream-Error': result.streamError.replace(/[\r\n]+/g, ' ') })
      } catch (err) {
        if (!res.headersSent) throw err
        res.addTrailers({ 'X-Stream-Error': (err as Error).message.replace(/[\r\n]+/g, ' ') })
      }
      res.end()
    }
  }]
}
