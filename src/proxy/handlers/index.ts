import type { Cluster } from '../../cluster/index.js'
import type { InterceptTable } from '../routes.js'
import { pinHandlers, type PinHandlersInit } from './pin.js'
import { repoHandlers } from './repo.js'
import { uploadHandlers } from './upload.js'

export type { PinHandlersInit, PinWait } from './pin.js'

/** The proxy's intercept table: the commands the cluster answers. Everything else goes to Kubo. */
export function clusterIntercepts (cluster: Cluster, init: PinHandlersInit): InterceptTable {
  return new Map(Object.entries({ ...pinHandlers(cluster, init), ...repoHandlers(cluster), ...uploadHandlers(cluster, init) }))
}
