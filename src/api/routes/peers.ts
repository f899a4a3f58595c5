import type { Cluster } from '../../cluster/index.js'
import { PINMESH_VERSION } from '../../version.js'
import { sendJson } from '../http.js'
import type { Route } from '../router.js'

export function peerRoutes (cluster: Cluster): Route[] {
  return [
    { method: 'GET', path: '/health', auth: false, handle: async ({ res }) => { res.writeHead(204); res.end() } },
    { method: 'GET', path: '/version', handle: async ({ res }) => { sendJson(res, 200, { version: PINMESH_VERSION }) } },
    { method: 'GET', path: '/id', handle: async ({ res }) => { sendJson(res, 200, cluster.identity()) } },
    { method: 'GET', path: '/peers', handle: async ({ res }) => { sendJson(res, 200, cluster.peers()) } }
  ]
}
