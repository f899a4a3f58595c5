import type { Cluster } from '../../cluster/index.js'
import type { InterceptHandler } from '../routes.js'
import { KuboOptions } from '../kubo-options.js'
import { sendKuboValue, KuboStream } from '../kubo-response.js'

/** repo/stat summed over the cluster's Kubos and repo/gc on every peer, as IPFS Cluster's proxy does. */
export function repoHandlers (cluster: Cluster): Record<string, InterceptHandler> {
  const repoStat: InterceptHandler = async (ctx) => {
    const o = new KuboOptions(ctx.query)
    const sizeOnly = o.bool(['size-only', 's'], false)
    o.bool(['human', 'H'], false)
    const s = await cluster.repoStat({ signal: ctx.signal, sizeOnly })
    for (const e of s.errors) ctx.logger.warn({ error: e }, 'a peer did not answer repo/stat')
    // Sizes and counts are summed over the cluster; RepoPath and Version are this peer's Kubo's.
    sendKuboValue(ctx.res, { RepoSize: s.repoSize, StorageMax: s.storageMax, NumObjects: s.numObjects, RepoPath: s.repoPath, Version: s.version })
  }
  return {
    'repo/stat': repoStat,
    // Kubo's `stats repo` is the same command under another name.
    'stats/repo': repoStat,
    'repo/gc': async (ctx) => {
      const o = new KuboOptions(ctx.query)
      const streamErrors = o.bool(['stream-errors'], false)
      o.bool(['quiet', 'q'], false)
      const stream = new KuboStream(ctx.res)
      const errors: string[] = []
      for await (const r of cluster.repoGc({ signal: ctx.signal })) {
        if (r.cid !== undefined) await stream.emit({ Key: { '/': r.cid } })
        else if (r.error !== undefined) {
          if (streamErrors) await stream.emit({ Error: `${r.peer}: ${r.error}` })
          else errors.push(`${r.peer}: ${r.error}`)
        }
      }
      if (errors.length > 0) stream.fail(errors.join('; '))
      else stream.end()
    }
  }
}
