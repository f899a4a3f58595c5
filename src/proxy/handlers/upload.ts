import { responseOutput } from '../../adder/index.js'
import type { Cluster, UploadRequest } from '../../cluster/index.js'
import type { InterceptContext, InterceptHandler } from '../routes.js'
import { endWithStreamError } from '../kubo-errors.js'
import { queryFlag } from '../../utils/go-bool.js'
import { waitAll, waitMode, type PinHandlersInit } from './pin.js'

/**
 * add and dag/import fanned out to the allocated peers' Kubos while uploading; block/put and
 * dag/put with pin=true recorded as cluster pins. The client gets Kubo's own answer byte for
 * byte; errors after it started go in the X-Stream-Error trailer. As with Kubo, the answer ends
 * once the pins are pinned (on the allocated peers), unless `wait=committed` or
 * `cluster.pinWait` says to end once they are in the cluster pinset.
 */
export function uploadHandlers (cluster: Cluster, init: PinHandlersInit): Record<string, InterceptHandler> {
  const upload = (command: UploadRequest['command']): InterceptHandler => async (ctx) => {
    const q = ctx.query
    // Nothing is stored (only-hash), or nothing is pinned through block/dag put: Kubo alone answers.
    if (command === 'add' && (queryFlag(q, 'only-hash', false) || queryFlag(q, 'n', false))) { ctx.forward(); return }
    if ((command === 'block/put' || command === 'dag/put') && !queryFlag(q, 'pin', false)) { ctx.forward(); return }
    await relay(cluster, init, command, ctx)
  }
  return {
    add: upload('add'),
    'dag/import': upload('dag/import'),
    'block/put': upload('block/put'),
    'dag/put': upload('dag/put')
  }
}

async function relay (cluster: Cluster, init: PinHandlersInit, command: UploadRequest['command'], ctx: InterceptContext): Promise<void> {
  const { req, res } = ctx
  const query = (req.url ?? '').split('?')[1] ?? ''
  try {
    const wait = waitMode(cluster, ctx.query, init)
    const { pins, result } = await cluster.upload({ command, query, contentType: req.headers['content-type'] ?? '', body: req, signal: ctx.signal }, responseOutput(res))
    if (result.streamError !== undefined) endWithStreamError(res, result.streamError)
    else if (wait === 'pinned' && pins.length > 0) await waitAll(cluster, pins.map(p => p.cid), ctx, init)
  } catch (err) {
    if (!res.headersSent) throw err
    endWithStreamError(res, (err as Error).message)
    return
  }
  if (!res.writableEnded) res.end()
}
