export type { Cluster, ClusterPeer, ClusterIdentity, PinRequest, GlobalPinInfo, GlobalPinPage, ClusterRepoStat, UploadRequest, PinLsType, ListedPin, AdoptRequest, AdoptResult } from './types.js'
export { PinsetCluster, MAX_STATUS_BATCH, type ClusterComponents, type ClusterInit } from './cluster.js'
export { electedPeer } from './election.js'
export { pinOptionsFromQuery } from './pin-options.js'
