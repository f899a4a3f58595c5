import { responseOutput } from '../../adder/index.js'
import type { Cluster, UploadRequest } from '../../cluster/index.js'
import type { InterceptContext, InterceptHandler } from '../routes.js'
import { endWithStreamError } from '../kubo-errors.js'

function truthy (v: string | null): boolean {
  return v !== null && ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)
}

/**
 * add and dag/import fanned out to the allocated peers' Kubos while uploading; block/put and
 * dag/put with pin=true recorded as cluster pins. The client gets Kubo's own answer byte for
 * byte; errors after it started go in the X-Stream-Error trailer.
 */
export function uploadHandlers (cluster: Cluster): Record<string, InterceptHandler> {
  const upload = (command: UploadRequest['command']): InterceptHandler => async (ctx) => {
    const q = ctx.query
    // Nothing is stored (only-hash), or nothing is pinned through block/dag put: Kubo alone answers.
    if (command === 'add' && (truthy(q.get('only-hash')) || truthy(q.get('n')))) { ctx.forward(); return }
    if ((command === 'block/put' || command === 'dag/put') && !truthy(q.get('pin'))) { ctx.forward(); return }
    await relay(cluster, command, ctx)
  }
  return {
    add: upload('add'),
    'dag/import': upload('dag/import'),
    'block/put': upload('block/put'),
    'dag/put': upload('dag/put')
  }
}

async function relay (cluster: Cluster, command: UploadRequest['command'], ctx: InterceptContext): Promise<void> {
  const { req, res } = ctx
  const query = (req.url ?? '').split('?')[1] ?? ''
  try {
    await cluster.upload({ command, query, contentType: req.headers['content-type'] ?? '', body: req, signal: ctx.signal }, responseOutput(res)).then(({ result }) => {
      if (result.streamError !== undefined) endWithStreamError(res, result.streamError)
    })
  } catch (err) {
    if (!res.headersSent) throw err
    endWithStreamError(res, (err as Error).message)
    return
  }
  if (!res.writableEnded) res.end()
}
